"""DeepStream files visionflow recognises but does not run: each key is reported ignored, why.

* nvinferserver (Triton) configs: protobuf text format (``infer_config { … }``); keys are
  reported as dotted field paths (``infer_config.backend.triton.model_name``).
* Gst-nvdspostprocess configs: nvinfer-like ``[property]`` files without a model.
* Sample-application YAML (``source-list: list:``, ``primary-gie: config-file-path:`` …): each
  NVIDIA sample app reads these groups with its own code, not deepstream-app's parser.
* Labels files: one class per line (``;`` separates a classifier's values); no keys.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

from visionflow.compat.deepstream.keys import ignore_group, load_document, parse_yaml
from visionflow.compat.deepstream.report import ConfigReport
from visionflow.config.text import read_config_text
from visionflow.config.yamlio import MAX_DEPTH
from visionflow.errors import ConfigError

NVINFERSERVER = (
    "nvinferserver (Triton Inference Server) is not supported; convert the model to ONNX "
    "(visionflow convert) and write an nvinfer config"
)
POSTPROCESS = "Gst-nvdspostprocess is not implemented in visionflow yet"
SAMPLE_APP = (
    "read by a DeepStream sample application's own code, not by deepstream-app; visionflow "
    "cannot run it: write a deepstream-app config or a visionflow pipeline"
)

_TOKEN = re.compile(
    r"""(?P<skip>[ \t\r]+|\#[^\n]*)
      | (?P<newline>\n)
      | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
      | (?P<word>[A-Za-z0-9_.+\-]+)
      | (?P<punct>[{}\[\]:,;<>])""",
    re.VERBOSE,
)
_CLOSE = {"{": "}", "<": ">"}


def read_nvinferserver(path: str | os.PathLike[str]) -> ConfigReport:
    """Account for the fields of an nvinferserver protobuf-text config (all ignored).

    Raises:
        ConfigError: the text is not well-formed (unbalanced braces, stray characters).
    """
    file = os.fspath(path)
    report = ConfigReport(file, "nvinferserver")
    for name, _line in _ProtoText(_read_text(Path(path)), file).parse():
        report.ignore(name, NVINFERSERVER)
    if report.ignored:
        report.warnings.append(f"{file}: {NVINFERSERVER}")
    return report


class _ProtoText:
    """A recursive-descent reader of protobuf text format that lists the fields it meets."""

    def __init__(self, text: str, file: str) -> None:
        self.file = file
        self.tokens: list[tuple[str, str, int]] = []  # (kind, text, line)
        line, position = 1, 0
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None:
                raise ConfigError(f"unexpected character {text[position]!r}", file=file, line=line)
            kind = match.lastgroup or ""
            if kind == "newline":
                line += 1
            elif kind != "skip":
                self.tokens.append((kind, match.group(), line))
            position = match.end()
        self.last_line = line
        self.depth = 0
        self.fields: list[tuple[str, int]] = []

    def parse(self) -> list[tuple[str, int]]:
        end = self._message(0, "", None)
        if end != len(self.tokens):
            raise self._error(end, "unexpected closing bracket")
        return list(dict.fromkeys(self.fields))

    def _message(self, i: int, prefix: str, close: str | None) -> int:
        while i < len(self.tokens) and self.tokens[i][1] != close:
            kind, name, line = self.tokens[i]
            if kind != "word":
                if close is None and name in "}>]":
                    return i
                raise self._error(i, f"expected a field name, found {name!r}")
            self.fields.append((prefix + name, line))
            i += 1
            if self._at(i, ":"):
                i += 1
            i = self._value(i, prefix + name)
            if self._at(i, ",") or self._at(i, ";"):
                i += 1
        if close is not None and i == len(self.tokens):
            raise ConfigError(
                f"missing {close!r} at the end of the file",
                file=self.file,
                line=self.last_line,
                allowed="every '{' and '<' closed",
            )
        return i + 1 if close is not None else i

    def _value(self, i: int, name: str) -> int:
        if i == len(self.tokens):
            raise ConfigError(
                f"{name} has no value at the end of the file", file=self.file, line=self.last_line
            )
        kind, token, _ = self.tokens[i]
        if token in _CLOSE or token == "[":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise ConfigError(
                    f"{name}: messages and lists nested more than {MAX_DEPTH} levels deep",
                    file=self.file,
                    line=self.tokens[i][2],
                    allowed=f"at most {MAX_DEPTH} levels",
                )
            i = self._nested(i, name)
            self.depth -= 1
            return i
        if kind not in ("word", "string"):
            raise self._error(i, f"{name} has no value")
        i += 1
        while i < len(self.tokens) and self.tokens[i][0] == "string":  # "a" "b" concatenates
            i += 1
        return i

    def _nested(self, i: int, name: str) -> int:
        token = self.tokens[i][1]
        if token in _CLOSE:
            return self._message(i + 1, name + ".", _CLOSE[token])
        i += 1
        while not self._at(i, "]"):
            i = self._value(i, name)
            if self._at(i, ","):
                i += 1
        return i + 1

    def _at(self, i: int, token: str) -> bool:
        return i < len(self.tokens) and self.tokens[i][1] == token

    def _error(self, i: int, message: str) -> ConfigError:
        return ConfigError(message, file=self.file, line=self.tokens[i][2])


def read_postprocess(path: str | os.PathLike[str]) -> ConfigReport:
    """Account for the keys of a Gst-nvdspostprocess config (all ignored)."""
    doc = load_document(path)
    report = ConfigReport(doc.file, "nvdspostprocess")
    for group in doc.groups():
        ignore_group(doc, group, report, POSTPROCESS)
    report.warnings.append(f"{doc.file}: {POSTPROCESS}")
    return report


def read_sample_app(path: str | os.PathLike[str]) -> ConfigReport:
    """Account for the keys of a DeepStream sample application's YAML (all ignored)."""
    file = os.fspath(path)
    root = parse_yaml(Path(path))
    report = ConfigReport(file, "deepstream-sample-app")
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError("expected a mapping of groups", file=file)
    for key_node, value_node in root.value:
        group = str(key_node.value)
        if isinstance(value_node, yaml.MappingNode):
            for item, _ in value_node.value:
                report.ignore(f"{group}.{item.value}", SAMPLE_APP)
        else:
            report.ignore(group, SAMPLE_APP)
    report.warnings.append(f"{file}: {SAMPLE_APP}")
    return report


def read_labels(path: str | os.PathLike[str]) -> ConfigReport:
    """A labels file has no keys; it is valid when it is readable text."""
    _read_text(Path(path))
    return ConfigReport(os.fspath(path), "labels")


def _read_text(path: Path) -> str:
    return read_config_text(path)
