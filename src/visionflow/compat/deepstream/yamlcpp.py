"""yaml-cpp's scalar conversions, as DeepStream's YAML config readers apply them.

DeepStream's YAML readers take every value as a scalar string and convert it either with
yaml-cpp's ``node.as<T>()`` (a C++ string stream with the base field cleared, then YAML's special
float spellings) or by passing the text to ``std::stoi``/``std::stod``:

* ``as<int>()``/``as<unsigned int>()``: the base comes from the prefix (``0x`` hexadecimal, a
  leading ``0`` octal), no leading blanks, trailing blanks allowed, the value must fit 32 bits;
  an unsigned target refuses a ``-``. ``true`` is not an integer.
* ``as<double>()``: a decimal number (no hexadecimal, no ``inf``/``nan`` words), else exactly one
  of ``.inf .Inf .INF`` (with an optional ``+`` or ``-``) or ``.nan .NaN .NAN``.
* ``std::stoi``/``std::stod``: a leading number after blanks; whatever follows it is dropped.
  ``std::stoi`` fails outside 32 bits.
* ``;`` lists (DeepStream's ``split_string``): cut at every ``;`` with no trimming; an empty
  item is kept, so a number list with a trailing ``;`` fails.

Every failure raises :class:`~visionflow.compat.deepstream.gkeyfile.BadValueError`; the caller
adds file, line, group and key.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from visionflow.compat.deepstream.gkeyfile import BadValueError, strtod, strtol

T = TypeVar("T")

_INT32 = (-(2**31), 2**31 - 1)
_UINT32 = (0, 2**32 - 1)
# A C++ stream with no base set: the prefix picks it (0x hexadecimal, 0 octal).
_CPP_INTEGER = re.compile(r"([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)[ \t\n\v\f\r]*")
_CPP_DOUBLE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[ \t\n\v\f\r]*")
# yaml-cpp's conversion::IsInfinity, IsNegativeInfinity and IsNaN.
_YAML_SPECIAL = {
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), float("inf")),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), float("-inf")),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), float("nan")),
}


def as_int(text: str, *, unsigned: bool = False) -> int:
    """yaml-cpp ``as<int>()`` (``as<unsigned int>()`` when ``unsigned``)."""
    match = _CPP_INTEGER.fullmatch(text)
    if not match or (unsigned and match.group(1) == "-"):
        raise BadValueError("not an integer", "an integer ≥ 0" if unsigned else "an integer")
    digits = match.group(2)
    base = 16 if digits[:2] in ("0x", "0X") else 8 if len(digits) > 1 and digits[0] == "0" else 10
    low, high = _UINT32 if unsigned else _INT32
    if len(digits.lstrip("0xX")) > 40:  # far out of range (int() refuses 4,300 digits)
        raise BadValueError("integer out of range", f"an integer from {low} to {high}")
    value = int(digits, base) * (-1 if match.group(1) == "-" else 1)
    if not low <= value <= high:
        raise BadValueError("integer out of range", f"an integer from {low} to {high}")
    return value


def as_double(text: str) -> float:
    """yaml-cpp ``as<double>()``: a decimal number, or YAML's ``.inf``/``.nan`` spellings."""
    if _CPP_DOUBLE.fullmatch(text):
        return float(text)
    if text in _YAML_SPECIAL:
        return _YAML_SPECIAL[text]
    raise BadValueError("not a number", "a number such as 0.5 or 1e-3")


def stoi(text: str) -> int:
    """``std::stoi``: a leading decimal integer after blanks; what follows it is dropped."""
    value, end = strtol(text)
    if end == 0:
        raise BadValueError("not an integer", "an integer")
    if not _INT32[0] <= value <= _INT32[1]:
        raise BadValueError("integer out of range", f"an integer from {_INT32[0]} to {_INT32[1]}")
    return value


def stod(text: str) -> float:
    """``std::stod``: a leading number after blanks (C ``strtod``); what follows it is dropped."""
    value, end = strtod(text)
    if end == 0:
        raise BadValueError("not a number", "a number")
    return value


def stoi_list(text: str) -> list[int]:
    """A ``;`` list of :func:`stoi` items (``1;2;`` fails: its last item is empty)."""
    return _items(text, stoi, "integers separated by ';' (no ';' at the end)")


def stod_list(text: str) -> list[float]:
    """A ``;`` list of :func:`stod` items (``0.5;1;`` fails: its last item is empty)."""
    return _items(text, stod, "numbers separated by ';' (no ';' at the end)")


def _items(text: str, read: Callable[[str], T], allowed: str) -> list[T]:
    out = []
    for index, item in enumerate(text.split(";"), 1):
        try:
            out.append(read(item))
        except BadValueError as exc:
            raise BadValueError(f"item {index} ({item!r}) is {exc.reason}", allowed) from None
    return out
