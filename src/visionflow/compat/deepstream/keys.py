"""Table-driven reading of DeepStream's ``group → key = value`` files, in INI or YAML form.

DeepStream components read their config files with one of three parsers, and a compatible reader
must convert values exactly as each does:

* INI files through GLib ``GKeyFile`` (:class:`~visionflow.compat.deepstream.gkeyfile.KeyFile`):
  a duplicated key is read with its last value; integers, doubles, booleans and ``;`` lists
  follow GLib's rules.
* YAML files (chosen by a ``.yml``/``.yaml`` suffix) through yaml-cpp
  (:mod:`~visionflow.compat.deepstream.yamlcpp`): every value is a scalar,
  numbers are C++ stream conversions of the text, a "boolean" is an integer (``true`` fails),
  and lists are ``;``-separated strings converted item by item with ``std::stoi``/``std::stod``.
* CSV rows (deepstream-app YAML sources) through ``std::stoi``: a leading integer.

A component is described by tables of :class:`Spec` (how a key is read and checked, and whether
visionflow honours it); :func:`read_group` validates a group against its table and
:func:`record_group` writes what became of every key into a
:class:`~visionflow.compat.deepstream.report.ConfigReport`.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from visionflow.compat.deepstream import yamlcpp
from visionflow.compat.deepstream.gkeyfile import BadValueError, KeyFile, decimal
from visionflow.compat.deepstream.report import ConfigReport
from visionflow.config.text import read_config_text
from visionflow.config.yamlio import compose
from visionflow.errors import ConfigError, did_you_mean


class Kind(enum.Enum):
    """How a value is read (the GKeyFile getter; the yaml-cpp / CSV conversion)."""

    INT = "integer"
    UINT64 = "uint64"
    BOOLEAN = "boolean"
    DOUBLE = "double"
    STRING = "string"
    INT_LIST = "integer list"
    DOUBLE_LIST = "double list"
    STRING_LIST = "string list"


@dataclass(frozen=True)
class Spec:
    """One key: how it is read, how it is checked, and — if visionflow does not act on it —
    why (``ignore``). A table key ending in ``*`` matches every key with that prefix."""

    kind: Kind
    check: Callable[[Any], Any] | None = None
    ignore: str | None = None


Table = Mapping[str, Spec]

UNKNOWN_KEY = "unknown key (DeepStream warns and ignores it)"


def spec_for(table: Table, key: str) -> Spec | None:
    """The spec of ``key``: an exact entry, else the longest matching ``prefix*`` entry."""
    if key in table:
        return table[key]
    prefixes = [name for name in table if name.endswith("*") and key.startswith(name[:-1])]
    return table[max(prefixes, key=len)] if prefixes else None


# --- checks -------------------------------------------------------------------------------------


def describe(values: Mapping[int, str]) -> str:
    """``0 (off), 1 (on) or 2 (auto)``: the accepted integers and their meanings."""
    names = [f"{value} ({name})" for value, name in values.items()]
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]


def choice(values: Mapping[int, str]) -> Callable[[int], int]:
    """Accept only the listed integers; ``values`` maps each to its meaning for the message."""
    allowed = describe(values)

    def check(value: int) -> int:
        if value not in values:
            raise BadValueError("invalid value", allowed)
        return value

    return check


def at_least(low: float) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not value >= low:  # NaN fails too
            raise BadValueError("out of range", f"a number ≥ {_number(low)}")
        return value

    return check


def between(low: float, high: float) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not low <= value <= high:
            raise BadValueError("out of range", f"a number from {_number(low)} to {_number(high)}")
        return value

    return check


def items(count: int, what: str) -> Callable[[list[Any]], list[Any]]:
    """A list of exactly ``count`` items (``what`` describes them for the message)."""

    def check(values: list[Any]) -> list[Any]:
        if len(values) != count:
            raise BadValueError(f"{len(values)} values", what)
        return values

    return check


COLOR = items(4, "4 numbers r;g;b;a between 0 and 1")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# --- documents ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One ``key = value`` of a group; ``node`` is the YAML value node (None for INI and CSV)."""

    group: str
    key: str
    line: int
    node: yaml.Node | None = None


class Document:
    """A config file as a DeepStream parser sees it: groups of key/value entries."""

    file: str
    path: Path

    def groups(self) -> tuple[str, ...]:
        raise NotImplementedError

    def group_line(self, group: str) -> int:
        raise NotImplementedError

    def entries(self, group: str) -> tuple[Entry, ...]:
        """Every entry of the group in file order, duplicates included."""
        raise NotImplementedError

    def lookups(self, group: str) -> tuple[Entry, ...]:
        """The entries whose values a DeepStream reader converts (all, unless overridden)."""
        return self.entries(group)

    def raw(self, entry: Entry) -> str:
        """The value text, for messages."""
        raise NotImplementedError

    def read(self, entry: Entry, kind: Kind) -> Any:
        """The value converted as DeepStream converts it; ConfigError when it cannot be."""
        raise NotImplementedError

    def error(self, entry: Entry, reason: str, allowed: str | None = None) -> ConfigError:
        return ConfigError(
            reason,
            file=self.file,
            line=entry.line,
            group=entry.group or None,
            key=entry.key,
            value=self.raw(entry),
            allowed=allowed,
        )

    def warning(self, entry: Entry, message: str) -> str:
        return f"{self.file}:{entry.line}: [{entry.group}] {entry.key}: {message}"


class IniDocument(Document):
    """An INI file read with GLib's rules (lookups see a duplicated key's last value)."""

    def __init__(self, path: Path, keyfile: KeyFile | None = None) -> None:
        self.path = path
        self.keyfile = keyfile or KeyFile.load(path)
        self.file = self.keyfile.file

    def groups(self) -> tuple[str, ...]:
        return self.keyfile.groups

    def group_line(self, group: str) -> int:
        return self.keyfile.group_line(group)

    def entries(self, group: str) -> tuple[Entry, ...]:
        return tuple(Entry(e.group, e.key, e.line) for e in self.keyfile.entries(group))

    def lookups(self, group: str) -> tuple[Entry, ...]:
        """GLib lookups see a duplicated key's last occurrence only."""
        last = {e.key: e.line for e in self.keyfile.entries(group)}
        return tuple(e for e in self.entries(group) if e.line == last[e.key])

    def raw(self, entry: Entry) -> str:
        return self.keyfile.entry(entry.group, entry.key).value

    def read(self, entry: Entry, kind: Kind) -> Any:
        if kind is Kind.UINT64:
            return _located(self, entry, _uint64, self.raw(entry))
        getter: Callable[[str, str], Any] = getattr(self.keyfile, _INI_GETTERS[kind])
        return getter(entry.group, entry.key)


_INI_GETTERS = {
    Kind.INT: "get_integer",
    Kind.BOOLEAN: "get_boolean",
    Kind.DOUBLE: "get_double",
    Kind.STRING: "get_string",
    Kind.INT_LIST: "get_integer_list",
    Kind.DOUBLE_LIST: "get_double_list",
    Kind.STRING_LIST: "get_string_list",
}

_NULL_TAG = "tag:yaml.org,2002:null"
# OpenCV FileStorage writes "%YAML:1.0", which is not a YAML 1.1 directive.
_OPENCV_DIRECTIVE = re.compile(r"\A(\ufeff?)%YAML:1\.")


def opencv_to_yaml(text: str) -> str:
    """Turn OpenCV FileStorage's ``%YAML:1.0`` first line into a comment (OpenCV needs no
    ``---`` after it; YAML would). Line numbers are kept."""
    return _OPENCV_DIRECTIVE.sub(r"\1#YAML:1.", text, count=1)


def parse_yaml(path: Path, *, opencv: bool = True) -> yaml.Node | None:
    """Compose a YAML file into nodes (with line numbers), accepting OpenCV's ``%YAML:1.0``
    unless ``opencv`` is False."""
    text = read_config_text(path)
    if opencv:
        text = opencv_to_yaml(text)
    return compose(text, str(path))


def is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG and node.style is None


class YamlDocument(Document):
    """A YAML file whose top-level mappings are the groups (as yaml-cpp readers iterate it).

    Top-level entries that are not mappings are not groups; :meth:`stray` lists them, except
    that one named in ``strict`` whose value is neither a mapping nor null is an error.
    ``opencv`` is as for :func:`parse_yaml`.
    """

    def __init__(self, path: Path, *, opencv: bool = True, strict: Collection[str] = ()) -> None:
        self.path = path
        self.file = str(path)
        root = parse_yaml(path, opencv=opencv)
        if root is not None and not isinstance(root, yaml.MappingNode):
            raise ConfigError(
                "expected a mapping of groups", file=self.file, line=root.start_mark.line + 1
            )
        self._entries: dict[str, list[Entry]] = {}
        self._lines: dict[str, int] = {}
        self._stray: list[Entry] = []
        for key_node, value_node in root.value if root is not None else ():
            name, line = self._key(key_node), key_node.start_mark.line + 1
            if isinstance(value_node, yaml.MappingNode):
                self._lines.setdefault(name, line)
                self._entries.setdefault(name, []).extend(
                    Entry(name, self._key(k), k.start_mark.line + 1, v) for k, v in value_node.value
                )
            elif is_null(value_node):
                self._lines.setdefault(name, line)
                self._entries.setdefault(name, [])
            elif name in strict:
                raise ConfigError(f"{name} must be a mapping of keys", file=self.file, line=line)
            else:
                self._stray.append(Entry("", name, line, value_node))

    def _key(self, node: yaml.Node) -> str:
        if not isinstance(node, yaml.ScalarNode):
            raise ConfigError(
                "keys must be plain text", file=self.file, line=node.start_mark.line + 1
            )
        return str(node.value)

    def groups(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def group_line(self, group: str) -> int:
        return self._lines[group]

    def entries(self, group: str) -> tuple[Entry, ...]:
        return tuple(self._entries.get(group, ()))

    def stray(self) -> tuple[Entry, ...]:
        """Top-level entries whose value is not a mapping."""
        return tuple(self._stray)

    def raw(self, entry: Entry) -> str:
        node = entry.node
        return str(node.value) if isinstance(node, yaml.ScalarNode) else "…"

    def read(self, entry: Entry, kind: Kind) -> Any:
        node = entry.node
        if node is None or is_null(node):
            raise self.error(entry, "missing value")
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(entry, "expected a single value, not a list or mapping")
        return _located(self, entry, _YAML_READERS[kind], str(node.value))


class CsvDocument(Document):
    """The CSV source table of a deepstream-app YAML file (``source: csv-file-path``).

    The first line names the columns; each further line is one source, exposed as a group
    ``row<N>`` (N counts from 1). Cells are split on ``,`` without quoting rules, as
    deepstream-app does, and numbers are read with ``std::stoi``.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = str(path)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise ConfigError("file not found", file=self.file) from None
        except UnicodeDecodeError:
            raise ConfigError("not UTF-8 text", file=self.file) from None
        header = lines[0].split(",") if lines else []
        self._rows: dict[str, tuple[Entry, ...]] = {}
        self._values: dict[tuple[str, str], str] = {}
        for number, line in enumerate(lines[1:], 2):
            cells = line.split(",")
            if len(cells) < len(header):
                raise ConfigError(
                    f"row has {len(cells)} values but the header names {len(header)} columns",
                    file=self.file,
                    line=number,
                )
            group = f"row{number - 1}"
            self._rows[group] = tuple(Entry(group, key, number) for key in header)
            self._values.update(
                {(group, key): cell for key, cell in zip(header, cells, strict=False)}
            )

    def groups(self) -> tuple[str, ...]:
        return tuple(self._rows)

    def group_line(self, group: str) -> int:
        return self._rows[group][0].line if self._rows[group] else 1

    def entries(self, group: str) -> tuple[Entry, ...]:
        return self._rows.get(group, ())

    def raw(self, entry: Entry) -> str:
        return self._values[(entry.group, entry.key)]

    def read(self, entry: Entry, kind: Kind) -> Any:
        text = self.raw(entry)
        if kind is Kind.STRING:
            return text
        return _located(self, entry, _CSV_READERS.get(kind, yamlcpp.stoi), text)


def load_document(path: str | os.PathLike[str]) -> Document:
    """The file as DeepStream reads it: YAML for a ``.yml``/``.yaml`` suffix, else INI."""
    path = Path(path)
    return YamlDocument(path) if path.suffix in (".yml", ".yaml") else IniDocument(path)


# --- value conversions --------------------------------------------------------------------------


def _located(doc: Document, entry: Entry, convert: Callable[[str], Any], text: str) -> Any:
    try:
        return convert(text)
    except BadValueError as exc:
        raise doc.error(entry, exc.reason, exc.allowed) from None


def _uint64(text: str) -> int:
    """``g_key_file_get_uint64``: decimal digits, nothing after them."""
    if not re.fullmatch(r"[ \t]*\+?[0-9]+", text):
        raise BadValueError("not an unsigned integer", "a decimal integer ≥ 0")
    value = text.strip(" \t+").lstrip("0") or "0"
    if len(value) > 20 or int(value) >= 2**64:
        raise BadValueError("integer out of range", "a decimal integer from 0 to 2^64 - 1")
    return int(value)


_YAML_BOOLEANS = ("true", "false", "yes", "no")
_YAML_BOOL_FORM = "an integer (DeepStream's YAML reader takes 0 or 1 here, not true/false)"


def _yaml_int(text: str) -> int:
    """yaml-cpp ``as<int>()``; a YAML boolean is told that DeepStream's flags are integers."""
    try:
        return yamlcpp.as_int(text)
    except BadValueError as exc:
        if text.lower() in _YAML_BOOLEANS:
            raise BadValueError(exc.reason, _YAML_BOOL_FORM) from None
        raise


_YAML_READERS: dict[Kind, Callable[[str], Any]] = {
    Kind.INT: _yaml_int,
    Kind.UINT64: _uint64,
    Kind.BOOLEAN: lambda text: _yaml_int(text) != 0,
    Kind.DOUBLE: yamlcpp.as_double,
    Kind.STRING: str,
    Kind.INT_LIST: yamlcpp.stoi_list,
    Kind.DOUBLE_LIST: yamlcpp.stod_list,
    Kind.STRING_LIST: lambda text: text.split(";"),
}
_CSV_READERS: dict[Kind, Callable[[str], Any]] = {
    Kind.DOUBLE: yamlcpp.stod,
    Kind.BOOLEAN: lambda text: yamlcpp.stoi(text) != 0,
}


# --- groups -------------------------------------------------------------------------------------


def read_group(doc: Document, group: str, table: Table) -> dict[str, Any]:
    """Convert and check every key of ``group`` that ``table`` knows, as DeepStream does.

    Returns ``{key: value}``. A duplicated key ends with the value DeepStream uses: GLib reads
    the last occurrence every time, yaml-cpp readers go through each occurrence in turn.

    Raises:
        ConfigError: the first value DeepStream would reject, located in the file.
    """
    values: dict[str, Any] = {}
    for entry in doc.lookups(group):
        spec = spec_for(table, entry.key)
        if spec is None:
            continue
        value = doc.read(entry, spec.kind)
        if spec.check is not None:
            try:
                value = spec.check(value)
            except BadValueError as exc:
                raise doc.error(entry, exc.reason, exc.allowed) from None
        values[entry.key] = value
    return values


def record_group(
    doc: Document,
    group: str,
    table: Table,
    report: ConfigReport,
    *,
    ignore: str | None = None,
    reasons: Mapping[str, str] | None = None,
    unknown: str = UNKNOWN_KEY,
) -> None:
    """Write what became of each key of ``group`` into ``report`` (as ``group.key``).

    A key is ignored with ``reasons[key]``, else ``ignore`` (the whole group), else its spec's
    ``ignore``; otherwise it is honoured. Keys the table does not know are ignored with
    ``unknown`` and warned about; duplicated keys are warned about.
    """
    reasons = reasons or {}
    last = {entry.key: entry.line for entry in doc.entries(group)}
    for entry in doc.entries(group):
        name = f"{group}.{entry.key}"
        spec = spec_for(table, entry.key)
        if entry.line != last[entry.key]:
            report.warnings.append(
                doc.warning(entry, f"duplicate key; the value on line {last[entry.key]} is used")
            )
        if spec is None:
            report.ignore(name, unknown)
            if entry.line == last[entry.key]:
                hint = did_you_mean(entry.key, table)
                report.warnings.append(
                    doc.warning(entry, f"{unknown}; {hint}" if hint else unknown)
                )
            continue
        reason = reasons.get(entry.key) or ignore or spec.ignore
        if reason is None:
            report.honour(name)
        else:
            report.ignore(name, reason)


def ignore_group(doc: Document, group: str, report: ConfigReport, reason: str) -> None:
    """Record every key of ``group`` as ignored for ``reason`` (nothing is validated)."""
    for entry in doc.entries(group):
        report.ignore(f"{group}.{entry.key}", reason)


def check_group(
    doc: Document, group: str, table: Table, report: ConfigReport, *, ignore: str | None = None
) -> dict[str, Any]:
    """:func:`read_group` then :func:`record_group`: the common case."""
    values = read_group(doc, group, table)
    record_group(doc, group, table, report, ignore=ignore)
    return values


def require(
    doc: Document, group: str, values: Mapping[str, Any], keys: tuple[str, ...], who: str
) -> None:
    """ConfigError for the first of ``keys`` missing from the group's ``values``."""
    for key in keys:
        if key not in values:
            raise ConfigError(
                f"missing; {who} requires it",
                file=doc.file,
                line=doc.group_line(group),
                group=group,
                key=key,
            )


def numbered(group: str, prefix: str) -> int | None:
    """N of a group named ``<prefix>N`` (decimal digits only), else None."""
    suffix = group[len(prefix) :]
    if not (group.startswith(prefix) and suffix.isascii() and suffix.isdigit()):
        return None
    return decimal(suffix)


def resolve(value: str, config_file: str | os.PathLike[str]) -> Path:
    """DeepStream's ``get_absolute_file_path``: an absolute path as is, else relative to the
    folder of the config file (whose own path is made absolute)."""
    if value.startswith("/"):
        return Path(value)
    return Path(os.path.abspath(config_file)).parent / value
