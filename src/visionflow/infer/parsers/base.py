"""The output-parser contract: what a parser reads, what it returns, and how one is found.

A parser turns the raw outputs of ONE frame (or object) — batch dimension already removed, in
engine binding order — into detection candidates, classifier attributes or a class map. It is the
Python counterpart of DeepStream's custom parser C interface (``nvdsinfer_custom_impl.h``):

* detectors (``NvDsInferParseCustomFunc``) return :class:`DetectionCandidates` in network-input
  pixels; nvinfer's pre-cluster filter and clustering run afterwards
  (:func:`visionflow.infer.cluster.cluster`). A parser may pre-filter by the per-class
  pre-cluster threshold, as DeepStream's do.
* instance segmentation (``NvDsInferInstanceMaskParseCustomFunc``) adds box-relative masks.
* classifiers (``NvDsInferClassiferParseCustomFunc``) return a :class:`ClassificationResult`.
* semantic segmentation (``NvDsInferSemSegmentationParseCustomFunc``) returns a
  :class:`SegmentationResult`.

Parsers are plain functions registered in :data:`PARSERS` under a visionflow name and the
DeepStream function names they reproduce; :func:`resolve_parser` also accepts a Python reference
``package.module:function``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import reduce
from typing import Any, TypeAlias, TypeVar

import numpy as np

from visionflow.errors import ConfigError, ParserError
from visionflow.registry import Registry, RegistryError

_BUILTIN_MODULES = ("classify", "ctc", "detectnet", "segment", "ssd", "tao", "textdet", "yolo")


def _readonly(arr: np.ndarray) -> np.ndarray:
    view = arr.view()
    view.flags.writeable = False
    return view


@dataclass(frozen=True)
class NetworkInfo:
    """Network input size (DeepStream ``NvDsInferNetworkInfo``)."""

    width: int
    height: int
    channels: int


@dataclass(frozen=True, eq=False)
class ParseContext:
    """Everything a parser may read besides the tensors.

    Attributes:
        network: the network input size; detector boxes are in these pixels.
        num_classes: ``num-detected-classes`` (detectors, segmentation).
        pre_cluster_threshold: (num_classes,) float32 per-class ``pre-cluster-threshold``
            (DeepStream's ``perClassPreclusterThreshold``).
        classifier_threshold: ``classifier-threshold``.
        segmentation_threshold: ``segmentation-threshold``.
        output_names: output tensor names in binding order.
        labels: the labels file, one tuple of ``;``-separated tokens per non-blank line.
        segmentation_output_order: ``segmentation-output-order``, 0 NCHW or 1 NHWC.
        options: the element's ``parser_options`` (a visionflow key), for parsers that take
            options (``ssd``); empty otherwise.
    """

    network: NetworkInfo
    num_classes: int
    pre_cluster_threshold: np.ndarray
    classifier_threshold: float = 0.0
    segmentation_threshold: float = 0.0
    output_names: tuple[str, ...] = ()
    labels: tuple[tuple[str, ...], ...] = ()
    segmentation_output_order: int = 0
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        thresholds = np.asarray(self.pre_cluster_threshold, dtype=np.float32)
        if thresholds.shape != (self.num_classes,):
            raise ValueError(
                f"pre_cluster_threshold must have shape ({self.num_classes},), "
                f"got {thresholds.shape}"
            )
        if self.segmentation_output_order not in (0, 1):
            raise ValueError(
                "segmentation_output_order must be 0 (NCHW) or 1 (NHWC), "
                f"got {self.segmentation_output_order}"
            )
        object.__setattr__(self, "pre_cluster_threshold", _readonly(thresholds))


@dataclass(frozen=True, eq=False)
class DetectionCandidates:
    """Boxes a detector parser found in one frame, before clustering.

    Attributes:
        xyxy: (N, 4) float32 boxes ``x1, y1, x2, y2`` in network-input pixels.
        confidence: (N,) float32 detection confidence.
        class_id: (N,) int32 class index (ids outside ``[0, num-detected-classes)`` are dropped
            by clustering, as nvinfer does).
        masks: optional (N, mh, mw) float32 instance masks, each covering its object's box
            (MaskRCNN-style, e.g. 28×28), stretched onto the box when drawn.
        polygons: optional (N, K, 2) float32 outlines ``x, y`` in network-input pixels, e.g.
            the rotated boxes of a text detector (K = 4, clockwise from the top-left corner);
            the element maps them onto the frame (object column ``polygon``).
        keypoints: optional (N, K, 2) float32 points ``x, y`` in network-input pixels (face
            landmarks of a BlazeFace-style detector); the element maps them onto the frame
            (object column ``keypoints``).
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    masks: np.ndarray | None = None
    polygons: np.ndarray | None = None
    keypoints: np.ndarray | None = None

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32)
        if xyxy.shape == (0,):
            xyxy = xyxy.reshape(0, 4)
        if xyxy.ndim != 2 or xyxy.shape[1] != 4:
            raise ValueError(f"xyxy must have shape (N, 4), got {xyxy.shape}")
        n = len(xyxy)
        columns: dict[str, np.ndarray] = {"xyxy": xyxy}
        for name, dtype in (("confidence", np.float32), ("class_id", np.int32)):
            column = np.asarray(getattr(self, name), dtype=dtype)
            if column.shape != (n,):
                raise ValueError(f"{name} must have shape ({n},), got {column.shape}")
            columns[name] = column
        if self.masks is not None:
            masks = np.asarray(self.masks, dtype=np.float32)
            if masks.ndim != 3 or len(masks) != n:
                raise ValueError(f"masks must have shape ({n}, mh, mw), got {masks.shape}")
            columns["masks"] = masks
        if self.polygons is not None:
            polygons = np.asarray(self.polygons, dtype=np.float32)
            if polygons.ndim != 3 or len(polygons) != n or polygons.shape[2] != 2:
                raise ValueError(f"polygons must have shape ({n}, K, 2), got {polygons.shape}")
            columns["polygons"] = polygons
        if self.keypoints is not None:
            keypoints = np.asarray(self.keypoints, dtype=np.float32)
            if keypoints.ndim != 3 or len(keypoints) != n or keypoints.shape[2] != 2:
                raise ValueError(f"keypoints must have shape ({n}, K, 2), got {keypoints.shape}")
            columns["keypoints"] = keypoints
        for name, column in columns.items():
            object.__setattr__(self, name, _readonly(column))

    @classmethod
    def empty(cls, mask_size: tuple[int, int] | None = None) -> DetectionCandidates:
        """No candidates; with ``mask_size=(mh, mw)`` an empty (0, mh, mw) mask column."""
        masks = None if mask_size is None else np.zeros((0, *mask_size), np.float32)
        return cls(
            np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32), masks
        )

    def __len__(self) -> int:
        return len(self.xyxy)

    def select(self, index: np.ndarray) -> DetectionCandidates:
        """The candidates at ``index`` (an integer array or a boolean mask), in that order."""
        return DetectionCandidates(
            self.xyxy[index],
            self.confidence[index],
            self.class_id[index],
            None if self.masks is None else self.masks[index],
            None if self.polygons is None else self.polygons[index],
            None if self.keypoints is None else self.keypoints[index],
        )

    def __repr__(self) -> str:
        masks = "" if self.masks is None else f" masks {self.masks.shape[1]}x{self.masks.shape[2]}"
        return f"<DetectionCandidates {len(self)} boxes{masks}>"


@dataclass(frozen=True)
class Attribute:
    """One classifier attribute (DeepStream ``NvDsInferAttribute``).

    Attributes:
        index: which attribute — the output layer it came from (``attributeIndex``).
        class_id: the winning class of that attribute (``attributeValue``).
        confidence: its probability (``attributeConfidence``).
        label: its label text (``attributeLabel``), None when the labels file has none.
    """

    index: int
    class_id: int
    confidence: float
    label: str | None = None


@dataclass(frozen=True)
class ClassificationResult:
    """What a classifier parser found for one object or frame.

    Attributes:
        attributes: the attributes that passed the classifier threshold.
        description: the label text DeepStream builds (``descString``): each label followed by a
            space, e.g. ``"sedan red "``; empty, the result is not attached (:attr:`attaches`).
    """

    attributes: tuple[Attribute, ...]
    description: str = ""

    @property
    def attaches(self) -> bool:
        """Whether nvinfer attaches this result: only with at least one attribute and a
        non-empty description (``attach_metadata_classifier`` in DeepStream's
        ``gstnvinfer_meta_utils.cpp`` returns early otherwise). So a winning class without a label
        attaches nothing unless another attribute has one, and a parser that leaves the
        description empty — TAO's ``NvDsInferClassiferParseNonSoftmax`` — never attaches."""
        return bool(self.attributes) and bool(self.description)


@dataclass(frozen=True, eq=False)
class SegmentationResult:
    """A semantic segmentation result at the output tensor's resolution.

    Attributes:
        class_map: (H, W) int32 class per pixel, −1 where no class passed the threshold.
        probabilities: (C, H, W) float32 class probabilities, or None when the model emits only
            a class map (DeepStream leaves ``class_probabilities_map`` NULL then).
    """

    class_map: np.ndarray
    probabilities: np.ndarray | None = None

    def __post_init__(self) -> None:
        class_map = np.asarray(self.class_map, dtype=np.int32)
        if class_map.ndim != 2:
            raise ValueError(f"class_map must have shape (H, W), got {class_map.shape}")
        object.__setattr__(self, "class_map", _readonly(class_map))
        if self.probabilities is not None:
            probabilities = np.asarray(self.probabilities, dtype=np.float32)
            if probabilities.ndim != 3 or probabilities.shape[1:] != class_map.shape:
                height, width = class_map.shape
                raise ValueError(
                    f"probabilities must have shape (C, {height}, {width}), "
                    f"got {probabilities.shape}"
                )
            object.__setattr__(self, "probabilities", _readonly(probabilities))


ParseResult: TypeAlias = DetectionCandidates | ClassificationResult | SegmentationResult
Parser: TypeAlias = Callable[[Mapping[str, np.ndarray], ParseContext], ParseResult]

PARSERS: Registry[Parser] = Registry("parser")
"""Output parsers by visionflow name and by the DeepStream function names they reproduce."""

ParserT = TypeVar("ParserT", bound=Parser)


def register_parser(name: str, *aliases: str) -> Callable[[ParserT], ParserT]:
    """Decorator registering a parser in :data:`PARSERS` under ``name`` and ``aliases``; the
    function keeps its own (narrower) type."""

    def decorate(parser: ParserT) -> ParserT:
        PARSERS.register(name, *aliases)(parser)
        return parser

    return decorate


def describe_outputs(outputs: Mapping[str, np.ndarray]) -> str:
    """``"output0 (84, 8400) float32, …"`` — for error messages."""
    if not outputs:
        return "no outputs"
    return ", ".join(
        f"{name} {tuple(np.shape(a))} {np.asarray(a).dtype}" for name, a in outputs.items()
    )


def parser_error(parser: str, expected: str, outputs: Mapping[str, np.ndarray]) -> ParserError:
    """A :class:`ParserError` naming the parser, what it expected and the outputs it got."""
    return ParserError(f"parser '{parser}': expected {expected}, got {describe_outputs(outputs)}")


def output_named(parser: str, outputs: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    """The output called ``name`` (or ``name:0``, as TensorFlow exports spell it)."""
    for candidate in (name, f"{name}:0"):
        if candidate in outputs:
            return np.asarray(outputs[candidate])
    raise parser_error(parser, f"an output named '{name}'", outputs)


def resolve_parser(name_or_ref: str) -> Parser:
    """The parser for a registered name, a DeepStream function name, or ``package.module:function``.

    Raises:
        ConfigError: the name is not registered, or the reference cannot be imported.
    """
    if ":" in name_or_ref:
        return _import_parser(name_or_ref)
    for module in _BUILTIN_MODULES:
        importlib.import_module(f"{__package__}.{module}")
    try:
        return PARSERS.get(name_or_ref)
    except RegistryError as err:
        raise ConfigError(
            f"{err}; a custom parser is given as a Python reference 'package.module:function'"
        ) from None


def _import_parser(ref: str) -> Parser:
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"parser reference '{ref}' must look like 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"cannot import module '{module_name}' of parser '{ref}': {err}") from err
    try:
        obj: Any = reduce(getattr, attr.split("."), module)
    except AttributeError:
        raise ConfigError(
            f"module '{module_name}' has no attribute '{attr}' (parser '{ref}')"
        ) from None
    if not callable(obj):
        raise ConfigError(f"parser '{ref}' is not callable: it is a {type(obj).__name__}")
    return obj
