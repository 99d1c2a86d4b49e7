from __future__ import annotations

import math

import pytest

from visionflow.compat.deepstream import yamlcpp
from visionflow.compat.deepstream.gkeyfile import BadValueError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42", 42),
        ("+7", 7),
        ("0", 0),
        ("010", 8),  # a leading 0 makes the stream read octal
        ("0x1F", 31),
        ("-0x10", -16),
        ("5 ", 5),  # trailing blanks are skipped
        ("2147483647", 2147483647),
        ("-2147483648", -2147483648),
    ],
)
def test_as_int_reads_what_a_cpp_stream_reads(text: str, expected: int) -> None:
    assert yamlcpp.as_int(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (" 5", "not an integer"),  # no leading blanks (std::noskipws)
        ("08", "not an integer"),
        ("0x", "not an integer"),
        ("1.5", "not an integer"),
        ("5x", "not an integer"),
        ("true", "not an integer"),
        ("2147483648", "integer out of range"),
    ],
)
def test_as_int_rejects(text: str, reason: str) -> None:
    with pytest.raises(BadValueError) as info:
        yamlcpp.as_int(text)
    assert info.value.reason == reason


def test_as_unsigned_int_takes_32_bits_and_no_sign() -> None:
    assert yamlcpp.as_int("4294967295", unsigned=True) == 4294967295
    with pytest.raises(BadValueError) as info:
        yamlcpp.as_int("-1", unsigned=True)
    assert (info.value.reason, info.value.allowed) == ("not an integer", "an integer ≥ 0")
    with pytest.raises(BadValueError) as info:
        yamlcpp.as_int("4294967296", unsigned=True)
    assert info.value.allowed == "an integer from 0 to 4294967295"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.5", 0.5),
        ("1e-3", 0.001),
        ("5.", 5.0),
        (".5", 0.5),
        ("-2", -2.0),
        ("1 ", 1.0),
        (".inf", math.inf),
        ("+.INF", math.inf),
        ("-.Inf", -math.inf),
    ],
)
def test_as_double_reads_numbers_and_yaml_infinities(text: str, expected: float) -> None:
    assert yamlcpp.as_double(text) == expected


@pytest.mark.parametrize("text", [".nan", ".NaN", ".NAN"])
def test_as_double_reads_yaml_nan(text: str) -> None:
    assert math.isnan(yamlcpp.as_double(text))


@pytest.mark.parametrize("text", ["inf", "nan", ".iNf", "+.nan", "0x10", "1e", " 1", ""])
def test_as_double_rejects(text: str) -> None:
    with pytest.raises(BadValueError) as info:
        yamlcpp.as_double(text)
    assert (info.value.reason, info.value.allowed) == (
        "not a number",
        "a number such as 0.5 or 1e-3",
    )


def test_stoi_reads_a_leading_integer() -> None:
    assert yamlcpp.stoi(" 12abc") == 12
    assert yamlcpp.stoi("-3.9") == -3
    with pytest.raises(BadValueError) as info:
        yamlcpp.stoi("x1")
    assert info.value.reason == "not an integer"
    with pytest.raises(BadValueError) as info:
        yamlcpp.stoi("2147483648")
    assert info.value.reason == "integer out of range"


def test_stod_reads_a_leading_number() -> None:
    assert yamlcpp.stod(" 0.25 # note") == 0.25
    assert yamlcpp.stod("-inf") == -math.inf  # C strtod knows inf
    with pytest.raises(BadValueError) as info:
        yamlcpp.stod("x")
    assert info.value.reason == "not a number"


def test_lists_split_at_every_semicolon() -> None:
    assert yamlcpp.stoi_list("1; 2;-3") == [1, 2, -3]
    assert yamlcpp.stod_list("0.5;1e1") == [0.5, 10.0]
    with pytest.raises(BadValueError) as info:
        yamlcpp.stoi_list("1;2;")
    assert str(info.value) == "item 3 ('') is not an integer"
    assert info.value.allowed == "integers separated by ';' (no ';' at the end)"
    with pytest.raises(BadValueError) as info:
        yamlcpp.stod_list("0.5;x")
    assert str(info.value) == "item 2 ('x') is not a number"


@pytest.mark.parametrize("read", [yamlcpp.as_int, yamlcpp.stoi])
def test_integers_of_thousands_of_digits_are_out_of_range(read: object) -> None:
    with pytest.raises(BadValueError, match="integer out of range"):
        read("9" * 5000)  # type: ignore[operator]
