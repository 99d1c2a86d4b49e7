"""DeepStream nvinfer config files (INI, or YAML) → :class:`~visionflow.infer.config.InferConfig`.

This reproduces nvinfer's own parsers (``gstnvinfer_property_parser.cpp`` for INI, read with GLib
``GKeyFile``; ``gstnvinfer_yaml_parser.cpp`` for ``.yml``/``.yaml`` paths, read with yaml-cpp):

* every ``[property]`` key with its value rules and range checks, in file order; a duplicate key
  is read with its last value (INI) or each value in turn (YAML);
* INI legacy aliases ``is-classifier`` (only without ``network-type``), ``enable-dbscan`` (only
  without ``cluster-mode``), ``input-dims``/``uff-input-dims`` (only without ``infer-dims``) and
  ``threshold``; the YAML reader does not know them;
* per-class groups, read only for detectors and instance segmentation: defaults →
  ``[class-attrs-all]`` → ``[class-attrs-N]`` (N < ``num-detected-classes``);
* file paths relative to the config's folder (``custom-network-config`` excepted) and the labels
  file (blank lines skipped, ``;`` between tokens), which may be missing at this point.

Next to the config comes a :class:`~visionflow.compat.deepstream.report.ConfigReport`: each key
of the file (``group.key``) is either honoured or ignored with a reason, and what DeepStream warns
about (deprecated, unknown or duplicate keys, a missing labels file) is listed with its line.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import yaml
from pydantic import ValidationError

from visionflow.compat.deepstream import yamlcpp
from visionflow.compat.deepstream.gkeyfile import BadValueError, KeyFile, strtol
from visionflow.compat.deepstream.keys import Entry, YamlDocument, is_null
from visionflow.compat.deepstream.report import ConfigReport
from visionflow.errors import ConfigError, did_you_mean
from visionflow.infer.cluster import ClusterMode
from visionflow.infer.config import (
    BoxGeometry,
    ClassAttributes,
    InferConfig,
    NetworkType,
    Precision,
    ProcessMode,
    TensorOrder,
    input_channels,
    read_label_file,
    resolve_config_path,
)
from visionflow.infer.preprocess import ColorFormat, ScalingFilter

T = TypeVar("T")

_PROPERTY = "property"
_CLASS_ATTRS_PREFIX = "class-attrs-"
_CLASS_ATTRS_ALL = "class-attrs-all"


def read_nvinfer(path: str | Path) -> tuple[InferConfig, ConfigReport]:
    """Read an nvinfer config file: YAML if the path ends in ``.yml``/``.yaml``, else INI.

    Returns:
        The config and the report of what became of each key (kind ``nvinfer``).

    Raises:
        ConfigError: where nvinfer would fail to load the file; the error names file, line,
            group, key, value and what is allowed.
    """
    path = Path(path)
    document: _Document = (
        _YamlDocument(path) if path.suffix in (".yml", ".yaml") else _IniDocument(path)
    )
    return _Reader(document, path).read()


# --- how values are read ------------------------------------------------------------------------


class _Kind(NamedTuple):
    """How nvinfer reads a key: the GKeyFile getter (INI) and the yaml-cpp conversion (YAML)."""

    ini: str
    yaml: str


_INT = _Kind("integer", "int")
_UINT = _Kind("integer", "uint")
_STOI = _Kind("integer", "stoi")
_DOUBLE = _Kind("double", "double")
_BOOL = _Kind("boolean", "int_bool")
_STOI_BOOL = _Kind("boolean", "stoi_bool")
_STRING = _Kind("string", "string")
_INT_LIST = _Kind("integer_list", "stoi_list")
_DOUBLE_LIST = _Kind("double_list", "stod_list")
_STRING_LIST = _Kind("string_list", "split")
_INT_OR_DOUBLE = _Kind("integer", "double")  # max-gpu-mem-per


def _same(value: Any) -> Any:
    return value


def _choice(table: Mapping[int, T], allowed: str) -> Callable[[int], T]:
    def check(value: int) -> T:
        if value not in table:
            raise BadValueError("invalid value", allowed)
        return table[value]

    return check


def _range(low: float, high: float | None = None, allowed: str = "") -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not (value >= low and (high is None or value <= high)):  # NaN fails too
            raise BadValueError("out of range", allowed)
        return value

    return check


_NON_NEGATIVE_INT = _range(0, allowed="an integer ≥ 0")
_NON_NEGATIVE = _range(0, allowed="a number ≥ 0")


def _class_ids(values: list[int]) -> tuple[int, ...]:
    if any(v < 0 for v in values):
        raise BadValueError("negative class id", "class ids ≥ 0 separated by ';'")
    return tuple(values)


def _infer_dims(values: list[int]) -> tuple[int, ...]:
    if len(values) != 3 or min(values) < 1:
        raise BadValueError(f"{len(values)} values", "3 positive integers c;h;w")
    return tuple(values)


def _legacy_dims(values: list[int]) -> tuple[tuple[int, ...], TensorOrder]:
    allowed = "c;h;w;order with positive c, h, w and order 0 (NCHW), 1 (NHWC) or 2 (NC)"
    if len(values) != 4 or min(values[:3]) < 1 or values[3] not in _UFF_ORDERS:
        raise BadValueError("invalid value", allowed)
    return tuple(values[:3]), _UFF_ORDERS[values[3]]


def _offsets(values: list[float]) -> tuple[float, ...]:
    if len(values) > 4:
        raise BadValueError(f"{len(values)} values", "at most 4 numbers separated by ';'")
    return tuple(values)


def _color(values: list[float]) -> tuple[float, ...]:
    if len(values) != 4:
        raise BadValueError(f"{len(values)} values", "4 numbers r;g;b;a between 0 and 1")
    return tuple(values)


_NCHW_NHWC = {0: TensorOrder.NCHW, 1: TensorOrder.NHWC}
_UFF_ORDERS = {**_NCHW_NHWC, 2: TensorOrder.NC}


@dataclass(frozen=True)
class _Spec:
    """A key: how it is read and checked, the field it sets, and why it has no effect (if so)."""

    kind: _Kind
    field: str | None = None
    check: Callable[[Any], Any] = _same
    path: bool = False
    ignore: str | None = None


def _path(field: str) -> _Spec:
    return _Spec(_STRING, field, path=True)


_TRT_BUILD = "TensorRT builder setting; no TensorRT here"
_BUFFER_POOL = "sizes nvinfer's GPU output buffer pool; visionflow allocates outputs per batch"
_CUSTOM_BUILDER = (
    "input of a custom TensorRT engine builder; visionflow builds its engines from onnx-file "
    "(or a model-file it can import)"
)
_DEBUG = "nvinfer debugging aid (tensor dump/injection); not available here"

_PROPERTY_KEYS: dict[str, _Spec] = {
    # model source
    "onnx-file": _path("onnx_file"),
    "model-engine-file": _path("model_engine_file"),
    "int8-calib-file": _path("int8_calib_file"),
    "tlt-encoded-model": _path("tlt_encoded_model"),
    "tlt-model-key": _Spec(_STRING, "tlt_model_key"),
    "model-file": _path("model_file"),
    "proto-file": _path("proto_file"),
    "uff-file": _path("uff_file"),
    "uff-input-blob-name": _Spec(_STRING, "uff_input_blob_name"),
    "uff-input-order": _Spec(
        _INT, "uff_input_order", _choice(_UFF_ORDERS, "0 (NCHW), 1 (NHWC) or 2 (NC)")
    ),
    "labelfile-path": _path("labelfile_path"),
    "custom-lib-path": _path("custom_lib_path"),
    "custom-network-config": _Spec(_STRING, "custom_network_config", ignore=_CUSTOM_BUILDER),
    "engine-create-func-name": _Spec(_STRING, "engine_create_func_name", ignore=_CUSTOM_BUILDER),
    "parse-bbox-func-name": _Spec(_STRING, "parse_bbox_func_name"),
    "parse-bbox-instance-mask-func-name": _Spec(_STRING, "parse_bbox_instance_mask_func_name"),
    "parse-classifier-func-name": _Spec(_STRING, "parse_classifier_func_name"),
    "parse-segmentation-func-name": _Spec(_STRING, "parse_segmentation_func_name"),
    "output-blob-names": _Spec(_STRING_LIST, "output_blob_names", tuple),
    "output-io-formats": _Spec(_STRING_LIST, ignore=_TRT_BUILD),
    "layer-device-precision": _Spec(_STRING_LIST, ignore=_TRT_BUILD),
    "workspace-size": _Spec(_UINT, ignore=_TRT_BUILD),
    "force-implicit-batch-dim": _Spec(
        _BOOL,
        ignore="TensorRT implicit-batch engines only; models here have an explicit batch dimension",
    ),
    # network and runtime
    "network-type": _Spec(
        _UINT,
        "network_type",
        _choice(
            {
                0: NetworkType.DETECTOR,
                1: NetworkType.CLASSIFIER,
                2: NetworkType.SEGMENTATION,
                3: NetworkType.INSTANCE_SEGMENTATION,
                100: NetworkType.OTHER,
            },
            "0 (detector), 1 (classifier), 2 (segmentation), 3 (instance segmentation) "
            "or 100 (other)",
        ),
    ),
    "network-mode": _Spec(
        _UINT,
        "precision",
        _choice(
            {0: Precision.FP32, 1: Precision.INT8, 2: Precision.FP16, 3: Precision.BEST},
            "0 (FP32), 1 (INT8), 2 (FP16) or 3 (best)",
        ),
    ),
    "batch-size": _Spec(_UINT, "batch_size", _range(1, 1024, "an integer from 1 to 1024")),
    "gpu-id": _Spec(_UINT, "gpu_id", _NON_NEGATIVE_INT),
    "enable-dla": _Spec(_BOOL, "enable_dla"),
    "use-dla-core": _Spec(_INT, "use_dla_core", _NON_NEGATIVE_INT),
    "infer-dims": _Spec(_INT_LIST, "infer_dims", _infer_dims),
    "network-input-order": _Spec(
        _INT, "network_input_order", _choice(_NCHW_NHWC, "0 (NCHW) or 1 (NHWC)")
    ),
    "num-detected-classes": _Spec(_UINT, "num_detected_classes", _NON_NEGATIVE_INT),
    "cluster-mode": _Spec(
        _UINT,
        "cluster_mode",
        _choice(
            {
                0: ClusterMode.GROUP_RECTANGLES,
                1: ClusterMode.DBSCAN,
                2: ClusterMode.NMS,
                3: ClusterMode.HYBRID,
                4: ClusterMode.NONE,
            },
            "0 (groupRectangles), 1 (DBSCAN), 2 (NMS), 3 (DBSCAN+NMS hybrid) or 4 (none)",
        ),
    ),
    "interval": _Spec(_STOI, "interval", _NON_NEGATIVE_INT),
    "gie-unique-id": _Spec(_UINT, "gie_unique_id", _range(1, allowed="an integer > 0")),
    "process-mode": _Spec(
        _STOI,
        "process_mode",
        _choice({1: ProcessMode.PRIMARY, 2: ProcessMode.SECONDARY}, "1 (primary) or 2 (secondary)"),
    ),
    "operate-on-gie-id": _Spec(_STOI, "operate_on_gie_id"),
    "operate-on-class-ids": _Spec(_INT_LIST, "operate_on_class_ids", _class_ids),
    "filter-out-class-ids": _Spec(
        _INT_LIST, "filter_out_class_ids", lambda ids: tuple(sorted(set(ids)))
    ),
    "secondary-reinfer-interval": _Spec(_STOI, "secondary_reinfer_interval"),
    "input-object-min-width": _Spec(_STOI, "input_object_min_width", _NON_NEGATIVE_INT),
    "input-object-min-height": _Spec(_STOI, "input_object_min_height", _NON_NEGATIVE_INT),
    "input-object-max-width": _Spec(_STOI, "input_object_max_width", _NON_NEGATIVE_INT),
    "input-object-max-height": _Spec(_STOI, "input_object_max_height", _NON_NEGATIVE_INT),
    "classifier-threshold": _Spec(_DOUBLE, "classifier_threshold", _NON_NEGATIVE),
    "classifier-type": _Spec(_STRING, "classifier_type"),
    "classifier-async-mode": _Spec(_STOI_BOOL, "classifier_async_mode"),
    "segmentation-threshold": _Spec(_DOUBLE, "segmentation_threshold", _NON_NEGATIVE),
    "segmentation-output-order": _Spec(
        _INT, "segmentation_output_order", _choice(_NCHW_NHWC, "0 (NCHW) or 1 (NHWC)")
    ),
    "output-tensor-meta": _Spec(_STOI_BOOL, "output_tensor_meta"),
    "output-instance-mask": _Spec(_STOI_BOOL, "output_instance_mask"),
    "input-tensor-from-meta": _Spec(_BOOL, "input_tensor_from_meta"),
    "crop-objects-to-roi-boundary": _Spec(_STOI_BOOL, "crop_objects_to_roi_boundary"),
    "tensor-meta-pool-size": _Spec(_UINT, ignore=_BUFFER_POOL),
    "auto-inc-mem": _Spec(_INT, ignore=_BUFFER_POOL),
    "max-gpu-mem-per": _Spec(_INT_OR_DOUBLE, ignore=_BUFFER_POOL),
    "disable-output-host-copy": _Spec(
        _UINT, ignore="keeps outputs on the GPU for custom CUDA post-processing; not available here"
    ),
    "raw-output-file-write": _Spec(
        _BOOL, ignore="dumps raw outputs to files; use output-tensor-meta and a probe instead"
    ),
    "dump-input-tensor": _Spec(_INT, ignore=_DEBUG),
    "dump-output-tensor": _Spec(_INT, ignore=_DEBUG),
    "overwrite-input-tensor": _Spec(_INT, ignore=_DEBUG),
    "overwrite-output-tensor": _Spec(_INT, ignore=_DEBUG),
    "ip-tensor-file": _Spec(_STRING, ignore=_DEBUG),
    "op-tensor-files": _Spec(_STRING_LIST, ignore=_DEBUG),
    # preprocessing
    "net-scale-factor": _Spec(_DOUBLE, "net_scale_factor"),
    "offsets": _Spec(_DOUBLE_LIST, "offsets", _offsets),
    "model-color-format": _Spec(
        _UINT,
        "model_color_format",
        _choice({int(c): c for c in ColorFormat}, "0 (RGB), 1 (BGR) or 2 (GRAY)"),
    ),
    "maintain-aspect-ratio": _Spec(_STOI_BOOL, "maintain_aspect_ratio"),
    "symmetric-padding": _Spec(_STOI_BOOL, "symmetric_padding"),
    "mean-file": _path("mean_file"),
    "scaling-filter": _Spec(
        _STOI,
        "scaling_filter",
        _choice(
            {int(f): f for f in ScalingFilter},
            "0 (nearest), 1 (bilinear), 2 (algo1), 3 (algo2), 4 (algo3), 5 (algo4) or 6 (default)",
        ),
    ),
    "scaling-compute-hw": _Spec(
        _STOI,
        check=_choice({0: 0, 1: 1, 2: 2}, "0 (default), 1 (GPU) or 2 (VIC, Jetson only)"),
        ignore="chooses NVIDIA scaling hardware (GPU or Jetson VIC); visionflow scales by itself",
    ),
}

_CLASS_KEYS: dict[str, _Spec] = {
    "pre-cluster-threshold": _Spec(_DOUBLE, "pre_cluster_threshold", _NON_NEGATIVE),
    "post-cluster-threshold": _Spec(_DOUBLE, "post_cluster_threshold", _NON_NEGATIVE),
    "nms-iou-threshold": _Spec(_DOUBLE, "nms_iou_threshold", _range(0, 1, "a number from 0 to 1")),
    # DeepStream documents topk as "≥ 0, -1 to disable": -1 keeps every box (the default).
    "topk": _Spec(_INT, "topk", _range(-1, allowed="an integer ≥ 0, or -1 for no limit")),
    "eps": _Spec(_DOUBLE, "eps", _NON_NEGATIVE),
    "minBoxes": _Spec(_INT, "min_boxes", _NON_NEGATIVE_INT),
    "dbscan-min-score": _Spec(_DOUBLE, "dbscan_min_score", _NON_NEGATIVE),
    "group-threshold": _Spec(_INT, "group_threshold", _NON_NEGATIVE_INT),
    "roi-top-offset": _Spec(_INT, "roi_top_offset", _NON_NEGATIVE_INT),
    "roi-bottom-offset": _Spec(_INT, "roi_bottom_offset", _NON_NEGATIVE_INT),
    "detected-min-w": _Spec(_INT, "detected_min_w", _NON_NEGATIVE_INT),
    "detected-min-h": _Spec(_INT, "detected_min_h", _NON_NEGATIVE_INT),
    "detected-max-w": _Spec(_INT, "detected_max_w", _NON_NEGATIVE_INT),
    "detected-max-h": _Spec(_INT, "detected_max_h", _NON_NEGATIVE_INT),
    "border-color": _Spec(_DOUBLE_LIST, "border_color", _color),
    "bg-color": _Spec(_DOUBLE_LIST, "bg_color", _color),
}

#: Keys nvinfer recognises only in INI files (the YAML reader treats them as unknown).
_INI_ONLY = {"is-classifier", "enable-dbscan", "input-dims", "uff-input-dims", "threshold"}
_NEVER_READ = {"parse-func": "legacy key that nvinfer declares but never reads"}


def _unknown(key: str, known: Mapping[str, _Spec]) -> str:
    hint = did_you_mean(key, known)
    return f"unknown key; ignored; {hint}" if hint else "unknown key; ignored"


# --- the two file syntaxes ----------------------------------------------------------------------


class _Document(ABC):
    """A config file as nvinfer's reader for its syntax sees it."""

    file: str
    legacy_keys: bool  # whether nvinfer knows is-classifier, enable-dbscan, input-dims, threshold

    @abstractmethod
    def groups(self) -> tuple[str, ...]:
        """Group names in file order."""

    @abstractmethod
    def group_line(self, group: str) -> int:
        """Line of the group's header."""

    @abstractmethod
    def items(self, group: str) -> list[Entry]:
        """Every key occurrence of the group, in file order."""

    @abstractmethod
    def raw(self, item: Entry) -> str:
        """The value text, for messages."""

    @abstractmethod
    def read(self, item: Entry, kind: _Kind) -> Any:
        """The value nvinfer reads for ``item``; ConfigError if it cannot."""

    def stray(self) -> list[Entry]:
        """Top-level entries that are not groups (YAML scalars)."""
        return []

    def has_key(self, group: str, key: str) -> bool:
        return any(item.key == key for item in self.items(group))

    def value_line(self, item: Entry) -> int:
        """The line the value read for ``item`` comes from."""
        return item.line


class _IniDocument(_Document):
    legacy_keys = True

    def __init__(self, path: Path) -> None:
        self.keyfile = KeyFile.load(path)
        self.file = self.keyfile.file

    def groups(self) -> tuple[str, ...]:
        return self.keyfile.groups

    def group_line(self, group: str) -> int:
        return self.keyfile.group_line(group)

    def items(self, group: str) -> list[Entry]:
        return [Entry(e.group, e.key, e.line) for e in self.keyfile.entries(group)]

    def has_key(self, group: str, key: str) -> bool:
        return self.keyfile.has_key(group, key)

    def raw(self, item: Entry) -> str:
        return self.keyfile.entry(item.group, item.key).value

    def value_line(self, item: Entry) -> int:
        return self.keyfile.entry(item.group, item.key).line  # GLib reads the last occurrence

    def read(self, item: Entry, kind: _Kind) -> Any:
        getter: Callable[[str, str], Any] = getattr(self.keyfile, f"get_{kind.ini}")
        return getter(item.group, item.key)


class _YamlDocument(_Document):
    legacy_keys = False

    def __init__(self, path: Path) -> None:
        # nvinfer's yaml-cpp reader rejects OpenCV's "%YAML:1.0"; property must be a mapping.
        self.yaml = YamlDocument(path, opencv=False, strict=(_PROPERTY,))
        self.file = self.yaml.file

    def groups(self) -> tuple[str, ...]:
        return self.yaml.groups()

    def group_line(self, group: str) -> int:
        return self.yaml.group_line(group)

    def items(self, group: str) -> list[Entry]:
        return list(self.yaml.entries(group))

    def stray(self) -> list[Entry]:
        return list(self.yaml.stray())

    def raw(self, item: Entry) -> str:
        return self.yaml.raw(item)

    def read(self, item: Entry, kind: _Kind) -> Any:
        node = item.node
        if node is None or is_null(node):
            raise self._error(item, "missing value")
        if not isinstance(node, yaml.ScalarNode):
            raise self._error(item, "expected a single value, not a list or mapping")
        text = str(node.value)
        try:
            return _YAML_READERS[kind.yaml](text)
        except BadValueError as exc:
            raise self._error(item, exc.reason, text, exc.allowed) from None

    def _error(
        self, item: Entry, reason: str, value: str | None = None, allowed: str | None = None
    ) -> ConfigError:
        return ConfigError(
            reason,
            file=self.file,
            line=item.line,
            group=item.group,
            key=item.key,
            value=value,
            allowed=allowed,
        )


def _yaml_flag(read: Callable[[str], int]) -> Callable[[str], bool]:
    def flag(text: str) -> bool:
        try:
            return read(text) != 0
        except BadValueError:
            raise BadValueError(
                "not an integer", "0 or 1 (DeepStream's YAML reader takes no true/false)"
            ) from None

    return flag


_YAML_READERS: dict[str, Callable[[str], Any]] = {
    "int": yamlcpp.as_int,
    "uint": partial(yamlcpp.as_int, unsigned=True),
    "stoi": yamlcpp.stoi,
    "double": yamlcpp.as_double,
    "int_bool": _yaml_flag(yamlcpp.as_int),
    "stoi_bool": _yaml_flag(yamlcpp.stoi),
    "string": str,
    "stoi_list": yamlcpp.stoi_list,
    "stod_list": yamlcpp.stod_list,
    "split": lambda text: text.split(";"),
}


# --- the reader ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Outcome:
    honoured: bool
    note: str = ""


class _Reader:
    """Interprets a document as nvinfer does and collects the report."""

    def __init__(self, document: _Document, path: Path) -> None:
        self.doc = document
        self.path = path
        self.fields: dict[str, Any] = {}
        self.origin: dict[str, Entry] = {}
        self.report = ConfigReport(document.file, "nvinfer")

    def read(self) -> tuple[InferConfig, ConfigReport]:
        if _PROPERTY not in self.doc.groups():
            raise ConfigError("no [property] group; nvinfer requires one", file=self.doc.file)
        self._group(_PROPERTY, self._property_key)
        network_type = self.fields.get("network_type", NetworkType.DETECTOR)
        detector = network_type in (NetworkType.DETECTOR, NetworkType.INSTANCE_SEGMENTATION)
        for group in self.doc.groups():
            if group == _PROPERTY or (detector and group.startswith(_CLASS_ATTRS_PREFIX)):
                continue
            reason = (
                "class attributes apply only to network-type 0 (detector) and 3 "
                "(instance segmentation)"
                if group.startswith(_CLASS_ATTRS_PREFIX)
                else f"nvinfer does not read group [{group}]"
            )
            for item in self.doc.items(group):
                self._record(item, _Outcome(False, reason))
        for item in self.doc.stray():
            self._record(
                item, _Outcome(False, "not a group; nvinfer reads only property and class-attrs-*")
            )
        if detector:
            self._class_attributes()
        self._check_combinations(network_type)
        self._read_labels()
        return self._build(), self.report

    # per key

    def _group(self, group: str, handle: Callable[[Entry], _Outcome]) -> None:
        """Handle every occurrence in order, as nvinfer does; the last one is reported."""
        items = self.doc.items(group)
        last = {item.key: item.line for item in items}
        for item in items:
            outcome = handle(item)
            if item.line == last[item.key]:
                self._record(item, outcome)
            else:
                self._warn(item, f"duplicate key; the one on line {last[item.key]} is used")

    def _property_key(self, item: Entry) -> _Outcome:
        key = item.key
        if key in _INI_ONLY and self.doc.legacy_keys:
            return self._legacy_property(item)
        if key in _INI_ONLY:
            self._warn(item, "legacy key that DeepStream reads only from INI files; ignored")
            return _Outcome(False, "legacy key; DeepStream's YAML reader does not know it")
        if key in _NEVER_READ:
            self._warn(item, "unknown or legacy key; ignored")
            return _Outcome(False, _NEVER_READ[key])
        spec = _PROPERTY_KEYS.get(key)
        if spec is None:
            self._warn(item, _unknown(key, _PROPERTY_KEYS))
            return _Outcome(False, "unknown key (DeepStream warns and ignores it)")
        value = self._value(item, spec)
        if spec.field is None:
            return _Outcome(False, spec.ignore or "")
        if spec.ignore is not None:  # kept in the config (verbatim), but without effect here
            self._set(spec.field, value, item)
            return _Outcome(False, spec.ignore)
        if spec.path:
            if not value:
                self._warn(item, "empty path; ignored")
                return _Outcome(False, "empty path")
            value = resolve_config_path(value, self.path)
        self._set(spec.field, value, item)
        return _Outcome(True)

    def _legacy_property(self, item: Entry) -> _Outcome:
        key = item.key
        if key == "is-classifier":
            if self.doc.has_key(_PROPERTY, "network-type"):
                self._warn(item, "legacy key ignored because network-type is set")
                return _Outcome(False, "legacy alias of network-type, which is set")
            classifier = self.doc.read(item, _BOOL)
            self._set(
                "network_type", NetworkType.CLASSIFIER if classifier else NetworkType.DETECTOR, item
            )
            self._warn(item, f"deprecated; use network-type={int(classifier)}")
            return _Outcome(True, "deprecated alias of network-type")
        if key == "enable-dbscan":
            self._warn(item, "deprecated; use cluster-mode=1")
            if self.doc.has_key(_PROPERTY, "cluster-mode"):
                return _Outcome(False, "deprecated alias of cluster-mode=1; cluster-mode is set")
            if self.doc.read(item, _BOOL):
                self._set("cluster_mode", ClusterMode.DBSCAN, item)
            return _Outcome(True, "deprecated alias of cluster-mode=1")
        if key in ("input-dims", "uff-input-dims"):
            if self.doc.has_key(_PROPERTY, "infer-dims"):
                self._warn(item, "deprecated key ignored because infer-dims is set")
                return _Outcome(False, "deprecated form of infer-dims, which is set")
            self._warn(item, "deprecated; use infer-dims=c;h;w")
            dims, order = self._value(item, _Spec(_INT_LIST, check=_legacy_dims))
            self._set("infer_dims", dims, item)
            self._set("uff_input_order", order, item)
            return _Outcome(True, "deprecated form of infer-dims")
        self._warn(item, "unknown key; ignored")  # "threshold" belongs to class attributes
        return _Outcome(False, "unknown key (DeepStream warns and ignores it)")

    def _class_key(self, item: Entry, values: dict[str, Any]) -> _Outcome:
        key = item.key
        note = ""
        if key == "threshold" and self.doc.legacy_keys:
            self._warn(item, "deprecated; use pre-cluster-threshold")
            key, note = "pre-cluster-threshold", "deprecated alias of pre-cluster-threshold"
        spec = _CLASS_KEYS.get(key)
        if spec is None or spec.field is None:
            self._warn(item, _unknown(key, _CLASS_KEYS))
            return _Outcome(False, "unknown key (DeepStream warns and ignores it)")
        values[spec.field] = self._value(item, spec)
        return _Outcome(True, note)

    def _value(self, item: Entry, spec: _Spec) -> Any:
        value = self.doc.read(item, spec.kind)
        try:
            return spec.check(value)
        except BadValueError as exc:
            raise self._error(item, exc.reason, exc.allowed) from None

    # class attributes

    def _class_attributes(self) -> None:
        shared: dict[str, Any] = {}
        if _CLASS_ATTRS_ALL in self.doc.groups():
            self._group(_CLASS_ATTRS_ALL, lambda item: self._class_key(item, shared))
        per_class: dict[int, dict[str, Any]] = {}
        for group in self.doc.groups():
            if group.startswith(_CLASS_ATTRS_PREFIX) and group != _CLASS_ATTRS_ALL:
                values = per_class.setdefault(self._class_id(group), {})
                self._group(group, partial(self._class_key, values=values))
        self.fields["class_attrs_all"] = ClassAttributes(**shared)
        self.fields["class_attrs"] = {
            class_id: ClassAttributes(**{**shared, **values})
            for class_id, values in sorted(per_class.items())
        }

    def _class_id(self, group: str) -> int:
        suffix = group.removeprefix(_CLASS_ATTRS_PREFIX)
        class_id, end = strtol(suffix)
        line = self.doc.group_line(group)
        classes = self.fields.get("num_detected_classes", 0)
        if end == 0:
            raise ConfigError(
                f"[{group}] is not a class-attributes group",
                file=self.doc.file,
                line=line,
                allowed="[class-attrs-all] or [class-attrs-<class id>]",
            )
        if not 0 <= class_id < classes:
            raise ConfigError(
                f"[{group}] sets class {class_id} but num-detected-classes is {classes}",
                file=self.doc.file,
                line=line,
                allowed=f"class ids from 0 to {classes - 1}" if classes else "no class groups",
            )
        if end < len(suffix):
            self.report.warnings.append(
                f"{self.doc.file}:{line}: [{group}]: text after the class id is ignored"
            )
        return class_id

    # whole-file rules

    def _check_combinations(self, network_type: NetworkType) -> None:
        cluster_mode = self.fields.get("cluster_mode", ClusterMode.GROUP_RECTANGLES)
        if (
            network_type is NetworkType.INSTANCE_SEGMENTATION
            and cluster_mode is not ClusterMode.NONE
        ):
            item = self.origin.get("cluster_mode") or self.origin["network_type"]
            reason = "instance segmentation (network-type=3) needs cluster-mode=4"
            raise self._error(item, reason, "4 (none)")
        if not self.fields.get("input_tensor_from_meta"):
            self._check_channels()
        detector = network_type in (NetworkType.DETECTOR, NetworkType.INSTANCE_SEGMENTATION)
        if detector and not self.fields.get("num_detected_classes"):
            self.report.warnings.append(
                f"{self.doc.file}: [property] num-detected-classes is 0: "
                "the detector keeps no detections"
            )
        secondary_classifier = (
            network_type is NetworkType.CLASSIFIER
            and self.fields.get("process_mode") is ProcessMode.SECONDARY
        )
        if self.fields.get("classifier_async_mode") and not secondary_classifier:
            self._warn(
                self.origin["classifier_async_mode"],
                "applies to secondary classifiers only; DeepStream turns it off",
            )
            self.fields["classifier_async_mode"] = False
        reinfer = self.origin.get("secondary_reinfer_interval")
        if reinfer is not None and self.fields.get("process_mode") is not ProcessMode.SECONDARY:
            self._warn(
                reinfer,
                "applies to secondary elements only (objects with a tracking id); "
                "a primary element infers whole frames at its interval",
            )

    def _check_channels(self) -> None:
        """nvinfer's preparePreprocess: RGB/BGR need 3 input channels, GRAY 1; with a
        net-scale-factor > 0, offsets must give one value per channel — else it does not start
        ("Preprocessor set scale and offsets failed")."""
        color = self.fields.get("model_color_format", ColorFormat.RGB)
        channels = input_channels(color)
        dims = self.fields.get("infer_dims")
        if dims is not None and dims[0] != channels:
            raise self._error(
                self.origin["infer_dims"],
                f"{dims[0]} channels, but model-color-format={int(color)} ({color.name}) needs "
                f"{channels}; nvinfer refuses to start",
                f"{channels};<h>;<w>",
            )
        offsets = self.fields.get("offsets", ())
        if offsets and self.fields.get("net_scale_factor", 1.0) > 0 and len(offsets) != channels:
            raise self._error(
                self.origin["offsets"],
                f"{len(offsets)} values for a {color.name} network input of {channels} "
                "channel(s); nvinfer refuses to start (Preprocessor set scale and offsets failed)",
                f"{channels} value(s) separated by ';', one per channel"
                if channels > 1
                else "1 value",
            )

    def _read_labels(self) -> None:
        path = self.fields.get("labelfile_path")
        if path is None:
            return
        if os.path.isfile(path):
            self.fields["labels"] = read_label_file(path)
        else:
            self._warn(
                self.origin["labelfile_path"], f"labels file {path} not found; no labels loaded"
            )

    def _build(self) -> InferConfig:
        try:
            # nvinfer's own box rules (attach_metadata_detector); visionflow YAML clips boxes
            return InferConfig(
                **{
                    "box_geometry": BoxGeometry.DEEPSTREAM,
                    "precision": Precision.FP32,  # network-mode's default, 0
                    # network-input-order's default, 0, is a setting: a channels-last model
                    # is refused at start (naming the key), never read as NHWC by itself
                    "network_input_order": TensorOrder.NCHW,
                    **self.fields,
                }
            )
        except ValidationError as exc:
            error = exc.errors()[0]
            item = self.origin.get(str(error["loc"][0])) if error["loc"] else None
            message = error["msg"]
            if item is None:
                raise ConfigError(message, file=self.doc.file) from None
            raise self._error(item, message, None) from None

    # bookkeeping

    def _set(self, field: str, value: Any, item: Entry) -> None:
        self.fields[field] = value
        self.origin[field] = item

    def _record(self, item: Entry, outcome: _Outcome) -> None:
        name = f"{item.group}.{item.key}" if item.group else item.key
        if outcome.honoured:
            self.report.honour(name)
        else:
            self.report.ignore(name, outcome.note)

    def _warn(self, item: Entry, message: str) -> None:
        group = f"[{item.group}] " if item.group else ""
        self.report.warnings.append(f"{self.doc.file}:{item.line}: {group}{item.key}: {message}")

    def _error(self, item: Entry, reason: str, allowed: str | None) -> ConfigError:
        return ConfigError(
            reason,
            file=self.doc.file,
            line=self.doc.value_line(item),
            group=item.group or None,
            key=item.key,
            value=self.doc.raw(item),
            allowed=allowed,
        )
