"""Which kind of configuration a file is, decided from its content (and its name only to choose
the syntax, as DeepStream does).

Kinds: ``nvinfer``, ``deepstream-app``, ``tracker`` (NvMultiObjectTracker YAML),
``tracker-ini`` (the Python sample apps' ``[tracker]`` file), ``nvdsanalytics``, ``msgconv``,
``msgbroker``, ``preprocess``, ``nvdspostprocess``, ``nvinferserver``,
``deepstream-sample-app`` (YAML read by a sample app's own code), ``labels``,
``visionflow-pipeline``, ``visionflow-infer`` and ``unknown``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import yaml

from visionflow.compat.deepstream.gkeyfile import KeyFile
from visionflow.compat.deepstream.keys import opencv_to_yaml
from visionflow.config.text import read_config_text
from visionflow.config.yamlio import compose, construct
from visionflow.errors import ConfigError, did_you_mean

KINDS = (
    "nvinfer",
    "deepstream-app",
    "tracker",
    "tracker-ini",
    "nvdsanalytics",
    "msgconv",
    "msgbroker",
    "preprocess",
    "nvdspostprocess",
    "nvinferserver",
    "deepstream-sample-app",
    "labels",
    "visionflow-pipeline",
    "visionflow-infer",
    "unknown",
)

_PROTOBUF = re.compile(r"\A(?:\s*(?:#[^\n]*)?\n)*\s*[A-Za-z_]\w*\s*:?\s*\{", re.MULTILINE)
_OPENCV_YAML = re.compile(r"\A\ufeff?%YAML:")
_MODEL_KEYS = frozenset(
    {
        "onnx-file",
        "model-engine-file",
        "tlt-encoded-model",
        "model-file",
        "proto-file",
        "uff-file",
        "custom-network-config",
    }
)
_ANALYTICS_GROUPS = (
    "roi-filtering-stream-",
    "overcrowding-stream-",
    "line-crossing-stream-",
    "direction-detection-stream-",
)
_PREPROCESS_KEYS = frozenset(
    {
        "processing-width",
        "processing-height",
        "network-input-shape",
        "target-unique-ids",
        "tensor-name",
    }
)
_MSGCONV_GROUP = re.compile(r"(sensor|place|analytics)[0-9]")
_TRACKER_SECTIONS = frozenset(
    {
        "BaseConfig",
        "TargetManagement",
        "TrajectoryManagement",
        "DataAssociator",
        "StateEstimator",
        "VisualTracker",
        "ReID",
    }
)
_APP_GROUPS = (
    "application",
    "tiled-display",
    "streammux",
    "primary-gie",
    "secondary-gie",
    "osd",
    "sink",
    "source",
    "tests",
    "message-converter",
    "message-consumer",
    "nvds-analytics",
    "pre-process",
    "img-save",
    "ds-example",
    "segvisual",
    "dewarper",
)
_SAMPLE_APP_GROUPS = frozenset(
    {
        "source-list",
        "eglsink",
        "filesink",
        "fakesink",
        "rtspsink",
        "output",
        "sink",
        "video-template",
        "analytics",
    }
)


def detect_kind(path: str | os.PathLike[str]) -> str:
    """The kind of config ``path`` holds (see :data:`KINDS`).

    Raises:
        ConfigError: the file cannot be read, or is not UTF-8 text.
    """
    path = Path(path)
    text = read_config_text(path)
    if _PROTOBUF.match(text):
        return "nvinferserver"
    yaml_first = path.suffix in (".yml", ".yaml") or _OPENCV_YAML.match(text)
    readers = (_yaml_kind, _ini_kind) if yaml_first else (_ini_kind, _yaml_kind)
    for read in readers:
        kind = read(text)
        if kind is not None:
            return kind
    return "labels" if _looks_like_labels(text) else "unknown"


def _ini_kind(text: str) -> str | None:
    try:
        keyfile = KeyFile.parse(text)
    except ConfigError:
        return None
    groups = {group: set(keyfile.keys(group)) for group in keyfile.groups}
    return _kind(groups) if groups else None


def _yaml_kind(text: str) -> str | None:
    try:
        node = compose(opencv_to_yaml(text), "<text>")
    except ConfigError:
        return None
    data = _shape(node)
    if not isinstance(data, dict) or not data:
        return None
    if "sources" in data:
        return "visionflow-pipeline"
    groups = {str(k): set(map(str, v)) if isinstance(v, dict) else set() for k, v in data.items()}
    if _TRACKER_SECTIONS & set(groups):
        return "tracker"
    if "property" not in groups and _is_sample_app(data):
        return "deepstream-sample-app"
    kind = _kind(groups)
    if kind is None and _is_visionflow_infer(data):
        return "visionflow-infer"
    return kind


def _shape(node: yaml.Node | None) -> Any:
    """The layout of a YAML document (mappings, lists, scalars as text): what decides the kind,
    whether or not each value can be built (the file's reader reports values)."""
    if isinstance(node, yaml.MappingNode):
        return {str(k.value): _shape(v) for k, v in node.value if isinstance(k, yaml.ScalarNode)}
    if isinstance(node, yaml.SequenceNode):
        return [_shape(item) for item in node.value]
    return None if node is None else node.value


def _kind(groups: Mapping[str, Collection[str]]) -> str | None:
    """The kind of a file made of groups of keys (INI, or YAML with the same layout)."""
    names = set(groups)
    if "property" in groups:
        keys = groups["property"]
        if "config-width" in keys or any(g.startswith(_ANALYTICS_GROUPS) for g in names):
            return "nvdsanalytics"
        if _PREPROCESS_KEYS & set(keys) or any(g.startswith("group-") for g in names):
            return "preprocess"
        return "nvinfer" if _MODEL_KEYS & set(keys) else "nvdspostprocess"
    if names & {"message-broker", "nvmsgbroker"}:
        return "msgbroker"
    if names and all(_MSGCONV_GROUP.match(g) for g in names):
        return "msgconv"
    if names == {"tracker"}:
        return "tracker-ini"
    if any(g.startswith(_APP_GROUPS) for g in names):
        return "deepstream-app"
    return None


def _is_sample_app(data: Mapping[str, Any]) -> bool:
    """YAML for a sample app's own parser: ``source-list: list:``, GIEs with
    ``config-file-path``, or sink groups deepstream-app does not have."""
    if _SAMPLE_APP_GROUPS & set(data):
        return True
    gies = [v for k, v in data.items() if "-gie" in str(k)]
    return any(isinstance(g, dict) and "config-file-path" in g for g in gies)


def _is_visionflow_infer(data: Mapping[str, Any]) -> bool:
    from visionflow.infer.config import InferConfig

    # ``model`` (a zoo entry) is read by the YAML loader before the fields are validated
    return set(map(str, data)) <= {*InferConfig.model_fields, "model"}


def _looks_like_labels(text: str) -> bool:
    """One label per line (``;`` between a classifier's values): no ``key=value``, no groups."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return bool(lines) and not any(
        line.startswith(("[", "#", "{")) or "=" in line or ": " in line for line in lines
    )


#: What ``validate`` recognises, for the message about a file it does not.
RECOGNISED = (
    "a DeepStream nvinfer, deepstream-app, tracker, nvdsanalytics, nvmsgconv, broker, "
    "nvdspreprocess or nvinferserver config, or a visionflow YAML"
)
_INI_HEADER = re.compile(r"^[ \t]*\[[^\]\n]*\][ \t]*\r?$", re.MULTILINE)


def unrecognised(path: str | os.PathLike[str]) -> ConfigError:
    """Why ``path`` is of no kind :func:`detect_kind` knows, as precisely as the text allows.

    The syntax error of the file's own syntax (GKeyFile for INI-looking text, YAML for ``.yml``
    or YAML-looking text) names its line and column; a file that parses but whose groups or keys
    are none visionflow knows names the first of them, with the nearest known name.
    """
    file = os.fspath(path)
    text = read_config_text(path)
    if not text.strip():
        return ConfigError("empty file", file=file, allowed=RECOGNISED)
    keyfile: KeyFile | None = None
    ini_error: ConfigError | None = None
    try:
        keyfile = KeyFile.parse(text, file=file)
    except ConfigError as exc:
        ini_error = exc
    node: yaml.Node | None = None
    yaml_error: ConfigError | None = None
    try:
        node = compose(opencv_to_yaml(text), file)
        if node is not None:
            construct(node, file)
    except ConfigError as exc:
        yaml_error = exc
    yaml_first = Path(path).suffix in (".yml", ".yaml") or bool(_OPENCV_YAML.match(text))
    looks_ini = bool(_INI_HEADER.search(text))
    if yaml_error is not None and (yaml_first or not looks_ini):
        return yaml_error
    if ini_error is not None and (looks_ini or not yaml_first):
        return ini_error
    names: list[tuple[str, int]] = []
    if keyfile is not None and keyfile.groups:
        names = [(f"[{g}]", keyfile.group_line(g)) for g in keyfile.groups]
        known = [f"[{g}]" for g in _KNOWN_GROUPS]
    elif isinstance(node, yaml.MappingNode):
        names = [(str(k.value), k.start_mark.line + 1) for k, _ in node.value]
        known = [*_KNOWN_GROUPS, *_visionflow_keys()]
    if names:
        for name, line in names:
            hint = did_you_mean(name, known)
            if hint and name not in known:
                return ConfigError(
                    f"{name} is not a group or key visionflow knows; {hint}",
                    file=file,
                    line=line,
                    allowed=RECOGNISED,
                )
        shown = ", ".join(name for name, _ in names[:5])
        return ConfigError(
            f"none of its groups or keys ({shown}) is one visionflow knows",
            file=file,
            line=names[0][1],
            allowed=RECOGNISED,
        )
    return ConfigError(
        "not a configuration file visionflow recognises", file=file, line=1, allowed=RECOGNISED
    )


_KNOWN_GROUPS = (
    "property",
    "class-attrs-all",
    "user-configs",
    "group-0",
    *_APP_GROUPS,
    *(f"{g}0" for g in ("source", "sink", "secondary-gie")),
    *_TRACKER_SECTIONS,
    *_SAMPLE_APP_GROUPS,
    "message-broker",
    "nvmsgbroker",
    "sensor0",
    "place0",
    "analytics0",
)


def _visionflow_keys() -> list[str]:
    from visionflow.config.pipeline import PipelineConfig
    from visionflow.infer.config import InferConfig

    return [*PipelineConfig.model_fields, *InferConfig.model_fields]
