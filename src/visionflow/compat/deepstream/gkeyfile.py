"""A GLib ``GKeyFile`` reader that keeps line numbers, for DeepStream's INI files.

DeepStream reads its INI files with GLib (2.74 in DeepStream 8); this module reproduces what GLib
accepts and rejects, so a file behaves here exactly as it does there:

* ``[group]`` headers (whitespace allowed after ``]``), ``key=value`` lines, comments only on lines
  whose first non-blank character is ``#``: ``k=1 # c`` has the value ``1 # c``.
* Whitespace around the key and before the value is removed; trailing value whitespace is kept.
  Keys and groups are case-sensitive. CRLF line ends are accepted.
* A key given twice: lookups see the last value, but :meth:`KeyFile.keys` lists it twice (as
  ``g_key_file_get_keys`` does) and :meth:`KeyFile.entries` keeps every occurrence with its line.
  A group given twice is one group. A translated key (``name[de]``) is kept as a key of its own
  name, where GLib would drop it unless its locale is the current one: lookups of ``name`` are
  unaffected either way, and a reader can report it instead of losing it silently.
* Typed getters follow GLib's value rules: integers are decimal ``int32`` and may be followed by
  whitespace and anything (``3 ## note`` is 3); doubles (C ``strtod``, so ``1e-3``, ``0x10``,
  ``inf``) must end the value (``0.5 # note`` and ``0.5␠`` fail); booleans are exactly ``true``,
  ``false``, ``1`` or ``0`` plus trailing whitespace; lists split on ``;`` (``\\;`` escapes it, a
  trailing ``;`` adds no item); strings keep quotes and decode ``\\s \\n \\t \\r \\\\``.

Every failure raises :class:`~visionflow.errors.ConfigError` naming file, line, group, key, value
and the accepted form.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from visionflow.config.text import read_config_text
from visionflow.errors import ConfigError

T = TypeVar("T")

# g_ascii_isspace() (no vertical tab) and C isspace(), which strtol/strtod skip.
_GLIB_SPACE = " \t\n\f\r"
_C_SPACE = " \t\n\v\f\r"

_INT_PREFIX = re.compile(r"[ \t\n\v\f\r]*([+-]?[0-9]+)")
_DOUBLE = re.compile(
    r"""[ \t\n\v\f\r]*(?P<number>[+-]?(?:
        (?P<hex>0[xX](?:[0-9a-fA-F]+(?:\.[0-9a-fA-F]*)?|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?)
      | (?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?
      | (?i:inf(?:inity)?|nan(?:\([0-9A-Za-z_]*\))?)
    ))""",
    re.VERBOSE,
)
_INT32 = (-(2**31), 2**31 - 1)
_LONG = (-(2**63), 2**63 - 1)
_ESCAPES = {"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}

INTEGER_FORM = "a decimal integer (text after it must be separated by whitespace)"
DOUBLE_FORM = "a number such as 0.5 or 1e-3 with nothing after it (comments need their own line)"
BOOLEAN_FORM = "true, false, 1 or 0"
STRING_FORM = "text whose backslash escapes are \\s, \\n, \\t, \\r or \\\\"


class BadValueError(ValueError):
    """A value is not one the reader accepts; the caller adds file, line, group and key."""

    def __init__(self, reason: str, allowed: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.allowed = allowed


def strtol(text: str) -> tuple[int, int]:
    """C ``strtol(text, &end, 10)``: the value and the characters consumed (0 when none).

    Leading blanks and a sign are accepted; as in C, a value beyond the 64-bit ``long`` range is
    clamped to it (callers then reject it as out of their range).
    """
    match = _INT_PREFIX.match(text)
    return (decimal(match.group(1)), match.end()) if match else (0, 0)


def decimal(digits: str) -> int:
    """A signed decimal ASCII integer, clamped to the 64-bit ``long`` range as C's ``strtol``
    clamps it (so a value of thousands of digits is an out-of-range number, not an error)."""
    sign = -1 if digits.startswith("-") else 1
    significant = digits.lstrip("+-").lstrip("0") or "0"
    if len(significant) > 19:
        return _LONG[1] if sign > 0 else _LONG[0]
    return max(_LONG[0], min(_LONG[1], sign * int(significant)))


def strtod(text: str) -> tuple[float, int]:
    """C ``strtod``: the value and the characters consumed (0 when none).

    Accepts what glibc accepts: decimal and hexadecimal (``0x1p3``) forms, ``inf``, ``infinity``
    and ``nan(…)`` in any case, after leading blanks.
    """
    match = _DOUBLE.match(text)
    if not match:
        return 0.0, 0
    number = match.group("number")
    if match.group("hex"):
        try:
            return float.fromhex(number), match.end()
        except OverflowError:  # strtod gives ±HUGE_VAL (ERANGE), which GLib does not check
            return math.copysign(math.inf, -1.0 if number.startswith("-") else 1.0), match.end()
    return float(number.partition("(")[0]), match.end()


def parse_integer(value: str) -> int:
    """GLib's integer rule: ``strtol`` base 10, then only whitespace may follow, int32 range.

    As in GLib, a value made of a blank and other text (a list item ``" x"``) reads as 0.
    """
    number, end = strtol(value)
    if not value or (end < len(value) and value[end] not in _GLIB_SPACE):
        raise BadValueError("not an integer", INTEGER_FORM)
    if not _INT32[0] <= number <= _INT32[1]:
        raise BadValueError("integer out of range", f"an integer from {_INT32[0]} to {_INT32[1]}")
    return number


def parse_double(value: str) -> float:
    """GLib's double rule: C ``strtod`` must consume the whole value (no trailing blanks)."""
    number, end = strtod(value)
    if end == 0 or end != len(value):
        raise BadValueError("not a number", DOUBLE_FORM)
    return number


def parse_boolean(value: str) -> bool:
    """GLib's boolean rule: ``true``/``1`` or ``false``/``0``, trailing whitespace allowed."""
    word = value.rstrip(_GLIB_SPACE)
    if word in ("true", "1"):
        return True
    if word in ("false", "0"):
        return False
    raise BadValueError("not a boolean", BOOLEAN_FORM)


def parse_string(value: str) -> str:
    """GLib's string rule: the text verbatim (quotes kept) with backslash escapes decoded."""
    return _unescape(value, split=False)[0]


def parse_string_list(value: str) -> list[str]:
    """GLib's list rule: split on unescaped ``;``; a final empty item is dropped; no trimming."""
    return _unescape(value, split=True)


def parse_integer_list(value: str) -> list[int]:
    """A ``;`` list whose items follow :func:`parse_integer` (leading blanks are skipped)."""
    return _parse_items(value, parse_integer, "decimal integers separated by ';'")


def parse_double_list(value: str) -> list[float]:
    """A ``;`` list whose items follow :func:`parse_double` (only leading blanks are skipped)."""
    return _parse_items(value, parse_double, "numbers separated by ';' (no blanks before a ';')")


def _parse_items(value: str, parse: Callable[[str], T], allowed: str) -> list[T]:
    items = parse_string_list(value)
    out = []
    for index, item in enumerate(items, 1):
        try:
            out.append(parse(item))
        except BadValueError as exc:
            raise BadValueError(f"item {index} ({item!r}) is {exc.reason}", allowed) from None
    return out


def _unescape(value: str, *, split: bool) -> list[str]:
    pieces: list[str] = []
    current: list[str] = []
    chars = iter(value)
    for char in chars:
        if char == "\\":
            escaped = next(chars, None)
            if escaped is None:
                raise BadValueError("escape character at the end of the value", STRING_FORM)
            if escaped in _ESCAPES:
                current.append(_ESCAPES[escaped])
            elif split and escaped == ";":
                current.append(";")
            else:
                raise BadValueError(f"invalid escape sequence \\{escaped}", STRING_FORM)
        elif split and char == ";":
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
    if not split:
        return ["".join(current)]
    if current:
        pieces.append("".join(current))
    return pieces


@dataclass(frozen=True)
class KeyEntry:
    """One ``key=value`` line.

    ``value`` is the raw text after ``=``: leading whitespace removed, trailing kept, escapes not
    decoded. ``line`` is 1-based.
    """

    group: str
    key: str
    value: str
    line: int


class KeyFile:
    """A parsed INI file with GLib semantics. Build it with :meth:`load` or :meth:`parse`."""

    def __init__(self, file: str, entries: dict[str, list[KeyEntry]], group_lines: dict[str, int]):
        self.file = file
        self._entries = entries
        self._group_lines = group_lines
        self._last = {
            group: {entry.key: entry for entry in group_entries}
            for group, group_entries in entries.items()
        }

    @classmethod
    def load(cls, path: str | Path) -> KeyFile:
        """Read and parse a file; ``str(path)`` names it in errors."""
        file = str(path)
        return cls.parse(read_config_text(path), file=file)

    @classmethod
    def parse(cls, text: str, file: str = "<string>") -> KeyFile:
        """Parse INI text as ``g_key_file_load_from_data`` does."""
        entries: dict[str, list[KeyEntry]] = {}
        group_lines: dict[str, int] = {}
        group: str | None = None
        for number, raw in enumerate(text.split("\n"), 1):
            line = raw[:-1] if raw.endswith("\r") else raw
            stripped = line.lstrip(_GLIB_SPACE)
            if not stripped or stripped.startswith("#"):
                continue
            if _is_group_line(stripped):
                group = stripped[1 : stripped.rindex("]")]
                if not group or any(c in "[]" or ord(c) < 32 or ord(c) == 127 for c in group):
                    raise ConfigError(
                        f"invalid group name [{group}]",
                        file=file,
                        line=number,
                        allowed="a name without '[', ']' or control characters",
                    )
                group_lines.setdefault(group, number)
                entries.setdefault(group, [])
                continue
            key, sep, value = stripped.partition("=")
            if not sep or not key:
                raise ConfigError(
                    f"line {stripped!r} is not a key=value pair, a [group] header or a # comment",
                    file=file,
                    line=number,
                    allowed="key=value, [group] or # comment lines",
                )
            if group is None:
                raise ConfigError(
                    "key outside any group; the file must start with a [group] line",
                    file=file,
                    line=number,
                    allowed="a [group] line before the first key=value line",
                )
            key = key.rstrip(_GLIB_SPACE)
            if not _is_key_name(key):
                raise ConfigError(
                    f"invalid key name {key!r}",
                    file=file,
                    line=number,
                    allowed="a name without '=', '[' or ']' (or key[locale])",
                )
            entries[group].append(KeyEntry(group, key, value.lstrip(_GLIB_SPACE), number))
        return cls(file, entries, group_lines)

    @property
    def groups(self) -> tuple[str, ...]:
        """Group names in order of first appearance (repeated groups are merged)."""
        return tuple(self._entries)

    def has_group(self, group: str) -> bool:
        return group in self._entries

    def has_key(self, group: str, key: str) -> bool:
        return key in self._last.get(group, {})

    def group_line(self, group: str) -> int:
        """Line of the group's first header."""
        return self._group_lines[group]

    def entries(self, group: str) -> tuple[KeyEntry, ...]:
        """Every ``key=value`` line of the group in file order, duplicates included."""
        return tuple(self._entries.get(group, ()))

    def keys(self, group: str) -> tuple[str, ...]:
        """The group's keys as ``g_key_file_get_keys`` lists them: in order, duplicates repeated."""
        return tuple(entry.key for entry in self._entries.get(group, ()))

    def entry(self, group: str, key: str) -> KeyEntry:
        """The occurrence lookups use: the last one."""
        try:
            return self._last[group][key]
        except KeyError:
            raise ConfigError("key not found", file=self.file, group=group, key=key) from None

    def get_string(self, group: str, key: str) -> str:
        return self._get(group, key, parse_string)

    def get_integer(self, group: str, key: str) -> int:
        return self._get(group, key, parse_integer)

    def get_double(self, group: str, key: str) -> float:
        return self._get(group, key, parse_double)

    def get_boolean(self, group: str, key: str) -> bool:
        return self._get(group, key, parse_boolean)

    def get_string_list(self, group: str, key: str) -> list[str]:
        return self._get(group, key, parse_string_list)

    def get_integer_list(self, group: str, key: str) -> list[int]:
        return self._get(group, key, parse_integer_list)

    def get_double_list(self, group: str, key: str) -> list[float]:
        return self._get(group, key, parse_double_list)

    def _get(self, group: str, key: str, parse: Callable[[str], T]) -> T:
        entry = self.entry(group, key)
        try:
            return parse(entry.value)
        except BadValueError as exc:
            raise ConfigError(
                exc.reason,
                file=self.file,
                line=entry.line,
                group=group,
                key=key,
                value=entry.value,
                allowed=exc.allowed,
            ) from None

    def __repr__(self) -> str:
        return f"<KeyFile {self.file} groups={list(self.groups)}>"


def _is_group_line(line: str) -> bool:
    """``[name]`` followed only by spaces or tabs (g_key_file_line_is_group)."""
    if not line.startswith("["):
        return False
    close = line.find("]")
    return close > 0 and not line[close + 1 :].strip(" \t")


def _is_key_name(key: str) -> bool:
    """g_key_file_is_key_name: no ``=[]``, no blank at either end; ``key[locale]`` allowed."""
    name, bracket, locale = key.partition("[")
    if not name or name[0] == " " or name[-1] == " " or "]" in name:
        return False
    if not bracket:
        return True
    return re.fullmatch(r"[\w\-.@]*\]", locale) is not None
