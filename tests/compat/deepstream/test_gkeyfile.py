"""GKeyFile value and syntax rules (spec §0.2).

Expected values are GLib 2.74's behaviour as the spec states it; the rows marked "GLib" pin
details the spec leaves implicit, each checked against libglib-2.0 2.74 through ctypes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from visionflow.compat.deepstream.gkeyfile import KeyFile
from visionflow.errors import ConfigError


def value_file(value: str) -> KeyFile:
    return KeyFile.parse(f"[g]\nk={value}\n", file="t.txt")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", 3),
        ("-12", -12),
        ("+7", 7),
        ("07", 7),
        ("3 ## comment", 3),  # an integer followed by whitespace and anything is accepted
        ("3\tx", 3),
        ("-2147483648", -2147483648),
        ("2147483647", 2147483647),
    ],
)
def test_integer(value: str, expected: int) -> None:
    assert value_file(value).get_integer("g", "k") == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1.5", "not an integer"),
        ("0x10", "not an integer"),
        ("5;", "not an integer"),
        ("3# comment", "not an integer"),
        ("", "not an integer"),
        ("abc", "not an integer"),
        ("2147483648", "integer out of range"),  # GLib: int32
    ],
)
def test_integer_errors(value: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        value_file(value).get_integer("g", "k")
    assert info.value.reason == reason
    assert (info.value.file, info.value.line, info.value.group, info.value.key) == (
        "t.txt",
        2,
        "g",
        "k",
    )
    assert info.value.value == value


def test_integer_error_message() -> None:
    with pytest.raises(ConfigError) as info:
        value_file("1.5").get_integer("g", "k")
    assert str(info.value) == (
        "t.txt:2: [g] k = 1.5: not an integer; "
        "expected a decimal integer (text after it must be separated by whitespace)"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1e-3", 0.001),
        ("-0.5", -0.5),
        ("1", 1.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("+1", 1.0),
        ("0x10", 16.0),  # GLib: C strtod reads hexadecimal
        ("inf", float("inf")),
    ],
)
def test_double(value: str, expected: float) -> None:
    assert value_file(value).get_double("g", "k") == expected


@pytest.mark.parametrize("value", ["0.5 # comment", "0.5 ", "1e", "", "0.5;", "1,5"])
def test_double_errors_on_anything_after_the_number(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        value_file(value).get_double("g", "k")
    assert info.value.reason == "not a number"
    assert info.value.allowed is not None
    assert "nothing after it" in info.value.allowed


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("false", False), ("1", True), ("0", False), ("1 ", True), ("true  ", True)],
)
def test_boolean(value: str, expected: bool) -> None:
    assert value_file(value).get_boolean("g", "k") is expected


@pytest.mark.parametrize("value", ["True", "yes", "2", "1 # x", "", "on", "tru"])
def test_boolean_errors(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        value_file(value).get_boolean("g", "k")
    assert (
        str(info.value) == f"t.txt:2: [g] k = {value}: not a boolean; expected true, false, 1 or 0"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1;2;3", [1, 2, 3]),
        ("0;", [0]),  # trailing ';' allowed
        ("1;2;", [1, 2]),
        ("1 ;2", [1, 2]),
        ("1; 2 ", [1, 2]),
        ("", []),
        ("1; x;2", [1, 0, 2]),  # GLib: a blank-led item without digits reads as 0
    ],
)
def test_integer_list(value: str, expected: list[int]) -> None:
    assert value_file(value).get_integer_list("g", "k") == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1;;2", "item 2 ('') is not an integer"),
        (";", "item 1 ('') is not an integer"),
        ("1;2.5", "item 2 ('2.5') is not an integer"),
        ("1;x", "item 2 ('x') is not an integer"),
    ],
)
def test_integer_list_errors(value: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        value_file(value).get_integer_list("g", "k")
    assert info.value.reason == reason
    assert info.value.allowed == "decimal integers separated by ';'"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1;1;1;1;", [1.0, 1.0, 1.0, 1.0]),  # text-color=1;1;1;1;
        ("123.675;116.28;103.53", [123.675, 116.28, 103.53]),
        ("1.0; 2.0", [1.0, 2.0]),  # leading blanks of an item are skipped
    ],
)
def test_double_list(value: str, expected: list[float]) -> None:
    assert value_file(value).get_double_list("g", "k") == expected


def test_double_list_item_with_trailing_blank_is_an_error() -> None:
    # GLib: strtod must end the item, so "1.0 " fails (only integer items tolerate trailing text).
    with pytest.raises(ConfigError, match=r"item 1 \('1.0 '\) is not a number"):
        value_file("1.0 ;2").get_double_list("g", "k")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"x"', '"x"'),  # quotes are kept
        ('"x" ', '"x" '),  # trailing whitespace is kept
        ("a\\sb", "a b"),
        ("a\\tb\\\\", "a\tb\\"),
        ("/opt/models/m.onnx", "/opt/models/m.onnx"),
    ],
)
def test_string(value: str, expected: str) -> None:
    assert value_file(value).get_string("g", "k") == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("a\\qb", "invalid escape sequence \\q"),
        ("a\\;b", "invalid escape sequence \\;"),  # only lists know \;
        ("a\\", "escape character at the end of the value"),
    ],
)
def test_string_errors(value: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        value_file(value).get_string("g", "k")
    assert info.value.reason == reason


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a;b;", ["a", "b"]),
        ("a; b ", ["a", " b "]),  # string items are not trimmed
        ("a;;b", ["a", "", "b"]),
        ("a\\;b;c", ["a;b", "c"]),
        (";", [""]),
        ("", []),
    ],
)
def test_string_list(value: str, expected: list[str]) -> None:
    assert value_file(value).get_string_list("g", "k") == expected


def test_structure_and_line_numbers() -> None:
    text = (
        "# leading comment\n"
        "[property]\n"
        "  gpu-id = 0\n"
        "process-mode=2\n"
        "  # indented comment\n"
        "net-scale-factor=1 # not a comment\n"
        "Process-Mode=1\n"
        "process-mode=1\n"
        "\n"
        "[class-attrs-all]\n"
        "topk=20\n"
        "[property] \t\n"
        "batch-size=4\n"
    )
    kf = KeyFile.parse(text, file="pgie.txt")
    assert kf.groups == ("property", "class-attrs-all")  # a repeated group is merged
    assert kf.keys("property") == (
        "gpu-id",
        "process-mode",
        "net-scale-factor",
        "Process-Mode",
        "process-mode",
        "batch-size",
    )  # duplicates listed twice, as g_key_file_get_keys does
    assert kf.get_integer("property", "process-mode") == 1  # last value wins
    assert kf.entry("property", "process-mode").line == 8
    assert [e.line for e in kf.entries("property") if e.key == "process-mode"] == [4, 8]
    assert kf.get_integer("property", "Process-Mode") == 1  # case-sensitive: another key
    assert kf.get_string("property", "gpu-id") == "0"
    assert kf.get_string("property", "net-scale-factor") == "1 # not a comment"
    assert kf.get_integer("property", "batch-size") == 4
    assert kf.group_line("class-attrs-all") == 10


def test_crlf_line_ends() -> None:
    kf = KeyFile.parse("[g]\r\nk=1\r\n")
    assert kf.get_string("g", "k") == "1"


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("k=1\n[g]\n", 1, "key outside any group; the file must start with a [group] line"),
        ("[g]\nfoo\n", 2, "line 'foo' is not a key=value pair, a [group] header or a # comment"),
        ("[g]\n=v\n", 2, "line '=v' is not a key=value pair, a [group] header or a # comment"),
        (
            "[g] # c\nk=1\n",
            1,
            "line '[g] # c' is not a key=value pair, a [group] header or a # comment",
        ),
        ("[]\n", 1, "invalid group name []"),
        ("[g]\nk]=1\n", 2, "invalid key name 'k]'"),
    ],
)
def test_syntax_errors(text: str, line: int, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        KeyFile.parse(text, file="bad.txt")
    assert (info.value.file, info.value.line, info.value.reason) == ("bad.txt", line, reason)


def test_missing_key_and_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[g\] other: key not found"):
        value_file("1").get_string("g", "other")
    with pytest.raises(ConfigError, match=r"missing\.txt: file not found"):
        KeyFile.load(tmp_path / "missing.txt")


def test_load_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "pgie.txt"
    path.write_text("[property]\nnetwork-mode=x\n")
    with pytest.raises(ConfigError) as info:
        KeyFile.load(path).get_integer("property", "network-mode")
    assert str(info.value).startswith(f"{path}:2: [property] network-mode = x: not an integer")


def test_huge_values_read_as_c_reads_them() -> None:
    """strtol clamps a huge integer (GLib then refuses it as out of range); strtod overflows a
    hexadecimal float to infinity, which GLib does not check — neither is a traceback."""
    kf = KeyFile.parse(
        "[g]\nbig=" + "9" * 5000 + "\nzeros=" + "0" * 5000 + "7\nhex=0x1p99999\nneg=-0x1p99999\n",
        file="huge.txt",
    )

    with pytest.raises(ConfigError, match=r"huge.txt:2: \[g\] big = 9+: integer out of range"):
        kf.get_integer("g", "big")
    assert kf.get_integer("g", "zeros") == 7
    assert kf.get_double("g", "hex") == float("inf")
    assert kf.get_double("g", "neg") == float("-inf")
