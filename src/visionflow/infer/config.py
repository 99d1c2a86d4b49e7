"""The inference element's configuration: one typed model for every front-end.

:class:`InferConfig` holds everything that decides how a model runs and how its outputs become
metadata. Its fields are DeepStream's nvinfer ``[property]`` keys in snake_case (with typed
values instead of DeepStream's numbers), so a visionflow YAML file reads like an nvinfer file::

    onnx_file: yolov8n.onnx
    labelfile_path: labels.txt
    parser: yolov8
    precision: fp16
    net_scale_factor: 0.0039215697906911373
    maintain_aspect_ratio: true
    symmetric_padding: true
    num_detected_classes: 80
    cluster_mode: nms
    class_attrs_all: {pre_cluster_threshold: 0.25, nms_iou_threshold: 0.45, topk: 300}
    class_attrs:
      0: {pre_cluster_threshold: 0.4}     # layered on top of class_attrs_all

:func:`visionflow.config.infer_loader.load_infer_config` reads such a file, or a DeepStream
nvinfer file (INI, or YAML with a top-level ``property:`` mapping) through
:mod:`visionflow.compat.deepstream.nvinfer`: the front ends sit above this module, which imports
none of them.
"""

from __future__ import annotations

import enum
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from visionflow.errors import ConfigError
from visionflow.infer.cluster import ClusterMode
from visionflow.infer.preprocess import ColorFormat, ScalingFilter

#: nvinfer builds without OpenCV (every stock build) replace ``cluster-mode=0`` (groupRectangles)
#: by NMS and overwrite ``topk`` and ``nms-iou-threshold`` of every class with these.
GROUP_RECTANGLES_FALLBACK_TOPK = 20
GROUP_RECTANGLES_FALLBACK_IOU = 0.5

#: ``secondary-reinfer-interval`` default: INT_MAX (a tracked object is never re-inferred for age).
DEFAULT_REINFER_INTERVAL = 2**31 - 1


class NetworkType(str, enum.Enum):
    """What the network outputs (``network-type`` 0, 1, 2, 3, 100)."""

    DETECTOR = "detector"
    CLASSIFIER = "classifier"
    SEGMENTATION = "segmentation"
    INSTANCE_SEGMENTATION = "instance_segmentation"
    OTHER = "other"


class Precision(str, enum.Enum):
    """Arithmetic precision (``network-mode``: 0 FP32, 1 INT8, 2 FP16, 3 best).

    visionflow adds ``bf16`` (OpenVINO on CPUs with AVX512-BF16 or AMX) and ``auto``, the
    default of visionflow's own YAML when ``precision`` is not given: FP32, or BF16 where the
    backend runs it natively on the device (:func:`visionflow.convert.precision.choose_precision`);
    never INT8, which needs calibration. A DeepStream file without ``network-mode`` is FP32, as
    in DeepStream.
    """

    FP32 = "fp32"
    INT8 = "int8"
    FP16 = "fp16"
    BEST = "best"
    BF16 = "bf16"
    AUTO = "auto"


class ProcessMode(str, enum.Enum):
    """Whole frames or objects (``process-mode``: 1 primary, 2 secondary)."""

    PRIMARY = "primary"
    SECONDARY = "secondary"


class BoxGeometry(str, enum.Enum):
    """How detector boxes are mapped back onto the frame (see :mod:`visionflow.infer.attach`).

    ``deepstream``: as nvinfer's ``attach_metadata_detector`` (the default for nvinfer files);
    ``clipped``: clipped to the frame on all four sides (the default for visionflow YAML).
    """

    DEEPSTREAM = "deepstream"
    CLIPPED = "clipped"


class ObjectCrop(str, enum.Enum):
    """How a secondary element cuts an object from the frame (visionflow's ``object_crop``).

    ``box``: the object's upright box, rounded as nvinfer cuts it (DeepStream's only way);
    ``perspective``: an object with a 4-point ``polygon`` (a rotated text box) is warped
    upright (see :mod:`visionflow.infer.crop`); objects without one are cut as ``box``.
    """

    BOX = "box"
    PERSPECTIVE = "perspective"


class TensorOrder(str, enum.Enum):
    """Tensor layout; ``nc`` exists only for the legacy ``uff-input-order``."""

    NCHW = "nchw"
    NHWC = "nhwc"
    NC = "nc"


def _int_enum_by_name(enum_type: type[enum.IntEnum]) -> BeforeValidator:
    """Accept an IntEnum member by its number or (case-insensitively) by its name."""

    def convert(value: Any) -> Any:
        if isinstance(value, str) and not value.strip().isdigit():
            if value.upper() in enum_type.__members__:
                return enum_type.__members__[value.upper()]
            choices = ", ".join(f"{m.name.lower()} ({m.value})" for m in enum_type)
            raise ValueError(f"expected one of {choices}")
        return value

    return BeforeValidator(convert)


def _as_label_lines(value: Any) -> Any:
    """``["car", ["red", "blue"]]`` → ``(("car",), ("red", "blue"))``."""
    if isinstance(value, list | tuple):
        return tuple((item,) if isinstance(item, str) else item for item in value)
    return value


Color = tuple[float, float, float, float]
Dim = Annotated[int, Field(ge=1)]
_PARSER_REF = re.compile(r"[A-Za-z_][\w.-]*|[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())


class ClassAttributes(_Frozen):
    """Detection post-processing for one class (``[class-attrs-all]`` / ``[class-attrs-N]``)."""

    pre_cluster_threshold: float = Field(
        default=0.2,
        ge=0,
        description="Drop candidates whose confidence is below this before clustering (≥ kept).",
    )
    post_cluster_threshold: float = Field(
        default=0.0,
        ge=0,
        description="After clustering: NMS keeps confidence > value, DBSCAN keeps ≥ value.",
    )
    nms_iou_threshold: float = Field(
        default=0.3,
        ge=0,
        le=1,
        description="NMS keeps a box only if its IoU with every kept box is ≤ this.",
    )
    topk: int = Field(
        default=-1,
        ge=-1,
        description="Keep the K most confident boxes per class after clustering; -1 keeps all.",
    )
    eps: float = Field(
        default=0.0, ge=0, description="DBSCAN / groupRectangles neighbourhood epsilon."
    )
    min_boxes: int = Field(
        default=0,
        ge=0,
        description="DBSCAN minimum cluster size (``minBoxes``); DBSCAN runs only if > 0.",
    )
    dbscan_min_score: float = Field(
        default=0.0, ge=0, description="DBSCAN minimum summed confidence of a cluster."
    )
    group_threshold: int = Field(
        default=0, ge=0, description="groupRectangles minimum group size; it runs only if > 0."
    )
    roi_top_offset: int = Field(
        default=0,
        ge=0,
        description=(
            "Drop (or clip, see ``crop_objects_to_roi_boundary``) boxes whose top is above "
            "this frame row."
        ),
    )
    roi_bottom_offset: int = Field(
        default=0,
        ge=0,
        description="Drop (or clip) boxes whose bottom is below frame height minus this.",
    )
    detected_min_w: int = Field(
        default=0, ge=0, description="Drop boxes narrower than this (frame pixels)."
    )
    detected_min_h: int = Field(
        default=0, ge=0, description="Drop boxes lower than this (frame pixels)."
    )
    detected_max_w: int = Field(
        default=0, ge=0, description="Drop boxes wider than this (frame pixels); 0: no limit."
    )
    detected_max_h: int = Field(
        default=0, ge=0, description="Drop boxes taller than this (frame pixels); 0: no limit."
    )
    border_color: Color = Field(
        default=(1.0, 0.0, 0.0, 1.0), description="Box outline colour r, g, b, a in [0, 1]."
    )
    bg_color: Color | None = Field(
        default=None, description="Box fill colour r, g, b, a in [0, 1]; None: no fill."
    )


class InferConfig(_Frozen):
    """How one inference element runs a model and turns its outputs into metadata.

    Paths are used as given; :func:`~visionflow.config.infer_loader.load_infer_config` resolves
    relative ones against the config file's folder.
    """

    # --- model source --------------------------------------------------------------------------
    onnx_file: Path | None = Field(default=None, description="ONNX model (``onnx-file``).")
    model_engine_file: Path | None = Field(
        default=None,
        description="Serialised engine: used if present and compatible, else rebuilt.",
    )
    int8_calib_file: Path | None = Field(
        default=None, description="INT8 calibration cache (``int8-calib-file``)."
    )
    tlt_encoded_model: Path | None = Field(
        default=None,
        description="Encrypted TAO/TLT ``.etlt`` model; kept for conversion.",
    )
    tlt_model_key: str | None = Field(
        default=None, description="Key that decrypts ``tlt_encoded_model``."
    )
    model_file: Path | None = Field(
        default=None,
        description="Caffe ``.caffemodel``; custom engine builders reuse it (Darknet weights).",
    )
    proto_file: Path | None = Field(
        default=None, description="Caffe ``.prototxt`` (``proto-file``); kept for conversion."
    )
    uff_file: Path | None = Field(
        default=None, description="UFF model (``uff-file``); kept for conversion."
    )
    uff_input_blob_name: str | None = Field(
        default=None, description="Input layer name of a UFF model."
    )
    uff_input_order: TensorOrder = Field(
        default=TensorOrder.NCHW, description="Input layout of a UFF model."
    )
    custom_lib_path: Path | None = Field(
        default=None,
        description="DeepStream custom library (or a Python file of parsers); see the names below.",
    )
    custom_network_config: str | None = Field(
        default=None,
        description="File handed to a custom engine builder (Darknet ``.cfg``), kept verbatim.",
    )
    engine_create_func_name: str | None = Field(
        default=None, description="Custom engine builder symbol."
    )
    parse_bbox_func_name: str | None = Field(
        default=None, description="Custom detector parser symbol (``NvDsInferParseCustomFunc``)."
    )
    parse_bbox_instance_mask_func_name: str | None = Field(
        default=None, description="Custom instance-segmentation parser symbol."
    )
    parse_classifier_func_name: str | None = Field(
        default=None, description="Custom classifier parser symbol."
    )
    parse_segmentation_func_name: str | None = Field(
        default=None, description="Custom semantic-segmentation parser symbol."
    )
    parser: str | None = Field(
        default=None,
        description="visionflow output parser: a registered name or ``package.module:function``.",
    )
    parser_options: dict[str, Any] = Field(
        default={},
        description=(
            "visionflow extension: options of a parser that takes them (``ssd``: anchor spec and "
            "box decoding, see docs/parsers.md); checked at load against the parser's options."
        ),
    )
    labelfile_path: Path | None = Field(
        default=None, description="Labels file: one line per class, ``;`` between tokens."
    )
    labels: tuple[tuple[str, ...], ...] = Field(
        default=(),
        description=(
            "Labels, one tuple of tokens per non-empty line of the labels file. A detector's "
            "class c is ``labels[c][0]``; a classifier's output layer l, class v is "
            "``labels[l][v]``."
        ),
    )
    output_blob_names: tuple[str, ...] = Field(
        default=(),
        description="Output layer names; ONNX models bind every output anyway.",
    )

    # --- network and runtime -------------------------------------------------------------------
    network_type: NetworkType = Field(
        default=NetworkType.DETECTOR, description="What the network outputs."
    )
    process_mode: ProcessMode = Field(
        default=ProcessMode.PRIMARY,
        description="Primary: whole frames. Secondary: crops of upstream objects.",
    )
    precision: Precision = Field(
        default=Precision.AUTO,
        description="Arithmetic precision (``network-mode``); auto: FP32, or BF16 where the "
        "backend runs it natively (DeepStream files: FP32 unless network-mode says otherwise).",
    )
    batch_size: int = Field(
        default=1, ge=1, le=1024, description="Maximum frames or objects per inference."
    )
    gpu_id: int = Field(default=0, ge=0, description="CUDA device index.")
    enable_dla: bool = Field(default=False, description="Run on a Jetson DLA core.")
    use_dla_core: int = Field(default=0, ge=0, description="DLA core index.")
    infer_dims: tuple[Dim, Dim, Dim] | None = Field(
        default=None, description="Network input channels, height, width; None: from the model."
    )
    network_input_order: TensorOrder = Field(
        default=TensorOrder.NCHW, description="Input tensor layout: nchw or nhwc."
    )
    num_detected_classes: int = Field(
        default=0,
        ge=0,
        description="Class count of a detector, instance or semantic segmentation network.",
    )
    interval: int = Field(
        default=0, ge=0, description="Batches skipped between two inferences (primary mode)."
    )
    gie_unique_id: int = Field(
        default=15,
        ge=1,
        description="Id stamped on everything this element produces (``unique_component_id``).",
    )
    operate_on_gie_id: int = Field(
        default=-1, description="Secondary: only objects produced by this element id; -1: any."
    )
    operate_on_class_ids: tuple[Annotated[int, Field(ge=0)], ...] = Field(
        default=(), description="Secondary: only objects of these classes; empty: every class."
    )
    filter_out_class_ids: tuple[int, ...] = Field(
        default=(), description="Detector: classes dropped from the output."
    )
    secondary_reinfer_interval: int = Field(
        default=DEFAULT_REINFER_INTERVAL,
        description="Secondary: a tracked object is inferred again once more than this many "
        "frames passed since its last inference (classifiers: or its box grew by >20 %); "
        "its cached classification is attached in between.",
    )
    input_object_min_width: int = Field(
        default=0, ge=0, description="Secondary: skip objects narrower than this."
    )
    input_object_min_height: int = Field(
        default=0, ge=0, description="Secondary: skip objects lower than this."
    )
    input_object_max_width: int = Field(
        default=0, ge=0, description="Secondary: skip objects wider than this; 0: no limit."
    )
    input_object_max_height: int = Field(
        default=0, ge=0, description="Secondary: skip objects taller than this; 0: no limit."
    )
    classifier_threshold: float = Field(
        default=0.0,
        ge=0,
        description="A classifier result is kept only if its probability is > this.",
    )
    classifier_type: str | None = Field(
        default=None, description="Name stored with classifier results (e.g. ``carcolor``)."
    )
    classifier_async_mode: bool = Field(
        default=False,
        description="Secondary classifiers: only tracked objects are classified; a new "
        "result is attached from the track's next frame on.",
    )
    segmentation_threshold: float = Field(
        default=0.0,
        ge=0,
        description="A pixel gets a class only if its probability is > this; the mask cut-off.",
    )
    segmentation_output_order: TensorOrder = Field(
        default=TensorOrder.NCHW, description="Segmentation output layout: nchw or nhwc."
    )
    output_tensor_meta: bool = Field(
        default=False, description="Attach the raw output tensors to the metadata."
    )
    output_instance_mask: bool = Field(
        default=False, description="Attach instance masks to objects."
    )
    crop_objects_to_roi_boundary: bool = Field(
        default=False,
        description="Clip boxes to the roi_top/bottom_offset band instead of dropping them.",
    )
    box_geometry: BoxGeometry = Field(
        default=BoxGeometry.CLIPPED,
        description=(
            "How detector boxes are mapped onto the frame: clipped (to the frame, on all four "
            "sides) or deepstream (nvinfer's rules: top/left moved to 0, right/bottom not "
            "clipped, a bottom past the frame drops the box). nvinfer files read as deepstream."
        ),
    )

    object_crop: ObjectCrop = Field(
        default=ObjectCrop.BOX,
        description=(
            "visionflow extension (DeepStream has none), secondary mode: how objects are cut "
            "from the frame — box (nvinfer's upright crop) or perspective (an object's 4-point "
            "polygon, e.g. a tilted text line, warped upright as PP-OCR crops text; taller than "
            "1.5× its width, it is turned 90°)."
        ),
    )
    object_crop_rotations: dict[str, Literal[0, 90, 180, 270]] = Field(
        default={},
        description=(
            "visionflow extension, secondary mode: classifier labels that turn an object's crop "
            "clockwise by 90, 180 or 270 degrees before scaling, e.g. {'180': 180} after "
            "PP-OCR's text direction classifier."
        ),
    )

    # --- preprocessing -------------------------------------------------------------------------
    input_tensor_from_meta: bool = Field(
        default=False,
        description="Take input tensors prepared upstream instead of preprocessing frames.",
    )
    model_color_format: Annotated[ColorFormat, _int_enum_by_name(ColorFormat)] = Field(
        default=ColorFormat.RGB,
        validate_default=True,
        description=(
            "Channel order the network expects: RGB or BGR (a 3-channel input) or GRAY (1 channel)."
        ),
    )
    net_scale_factor: float = Field(
        default=1.0, description="Pixel normalisation ``y = net_scale_factor * (x - offset_c)``."
    )
    offsets: tuple[float, ...] = Field(
        default=(),
        max_length=4,
        description=(
            "Per-channel means, in the model's channel order: none (0), or exactly one per "
            "channel (3 for RGB/BGR, 1 for GRAY) — nvinfer refuses any other count to start."
        ),
    )
    maintain_aspect_ratio: bool = Field(
        default=False, description="Letterbox (scale to fit, pad black) instead of stretching."
    )
    symmetric_padding: bool = Field(
        default=False,
        description="With letterboxing, centre the image instead of padding right/bottom.",
    )
    fixed_height_scaling: bool = Field(
        default=False,
        description=(
            "visionflow extension (no nvinfer key does this): text-recogniser scaling — scale "
            "to the network height keeping the aspect ratio, width ceil(height·w/h) but at most "
            "the network width, padded on the right with zeros of the network tensor (PP-OCR's "
            "recogniser and direction classifier). Excludes maintain_aspect_ratio."
        ),
    )
    fixed_height_min_width: int = Field(
        default=0,
        ge=0,
        description=(
            "visionflow extension, with fixed_height_scaling and a model of dynamic input "
            "width: each batch is as wide as its widest crop needs (int(height·w/h)), at least "
            "this and at most the infer_dims width — PP-OCR's recogniser batching (320); 0: "
            "always the infer_dims width."
        ),
    )
    scaling_filter: Annotated[ScalingFilter, _int_enum_by_name(ScalingFilter)] = Field(
        default=ScalingFilter.DEFAULT,
        description="Interpolation used for scaling (DeepStream ``scaling-filter`` 0-6).",
    )
    mean_file: Path | None = Field(
        default=None, description="PPM mean image of the network's size; replaces ``offsets``."
    )

    # --- detection post-processing -------------------------------------------------------------
    cluster_mode: Annotated[ClusterMode, _int_enum_by_name(ClusterMode)] = Field(
        default=ClusterMode.GROUP_RECTANGLES,
        validate_default=True,
        description=(
            "Configured clustering (a name in any case, or cluster-mode's number 0-4). A "
            "detector's group_rectangles runs as NMS with topk 20 and "
            "IoU 0.5, as in stock DeepStream: see ``effective_cluster_mode`` and "
            "``class_attributes``."
        ),
    )
    class_agnostic_nms: bool = Field(
        default=False,
        description=(
            "visionflow extension (DeepStream has no such key): NMS across classes — a kept box "
            "suppresses overlapping boxes of every class and keeps its own class. Needs an NMS "
            "clustering (nms, hybrid, or a detector's group_rectangles, which runs as NMS)."
        ),
    )
    weighted_nms: bool = Field(
        default=False,
        description=(
            "visionflow extension (DeepStream has none): MediaPipe's weighted NMS — the NMS keeps "
            "the same boxes but moves each to the confidence-weighted mean of itself and the "
            "boxes it suppressed (BlazeFace-style detectors). Needs an NMS clustering, as "
            "class_agnostic_nms does."
        ),
    )
    class_attrs_all: ClassAttributes = Field(
        default=ClassAttributes(),
        description="Per-class attributes shared by every class (``[class-attrs-all]``).",
    )
    class_attrs: dict[int, ClassAttributes] = Field(
        default={},
        description=(
            "Per-class overrides (``[class-attrs-N]``). In YAML an entry may give only some "
            "attributes; the rest come from ``class_attrs_all``."
        ),
    )

    @field_validator("labels", mode="before")
    @classmethod
    def _label_lines(cls, value: Any) -> Any:
        return _as_label_lines(value)

    @field_validator("parser")
    @classmethod
    def _parser_reference(cls, value: str | None) -> str | None:
        if value is not None and not _PARSER_REF.fullmatch(value):
            raise ValueError(
                "must be a registered parser name or a package.module:function reference"
            )
        return value

    @field_validator("fixed_height_scaling")
    @classmethod
    def _one_scaling(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("maintain_aspect_ratio"):
            raise ValueError(
                "fixed_height_scaling and maintain_aspect_ratio exclude each other; keep one"
            )
        return value

    @field_validator("fixed_height_min_width")
    @classmethod
    def _with_fixed_height(cls, value: int, info: ValidationInfo) -> int:
        if value and not info.data.get("fixed_height_scaling"):
            raise ValueError("needs fixed_height_scaling: true")
        return value

    @field_validator("object_crop", "object_crop_rotations")
    @classmethod
    def _secondary_only(cls, value: Any, info: ValidationInfo) -> Any:
        default = ObjectCrop.BOX if info.field_name == "object_crop" else {}
        if value != default and info.data.get("process_mode") is not ProcessMode.SECONDARY:
            raise ValueError("applies to secondary elements only (process_mode: secondary)")
        network = info.data.get("network_type")
        if value is ObjectCrop.PERSPECTIVE and network not in (
            NetworkType.CLASSIFIER,
            NetworkType.OTHER,
        ):
            raise ValueError(
                "perspective crops are for classifiers and recognisers (network_type "
                "classifier or other): a detector's boxes could not be mapped back to the frame"
            )
        return value

    @field_validator("offsets")
    @classmethod
    def _one_offset_per_channel(
        cls, value: tuple[float, ...], info: ValidationInfo
    ) -> tuple[float, ...]:
        color = info.data.get("model_color_format", ColorFormat.RGB)
        preprocessed = info.data.get("input_tensor_from_meta", False)  # nvinfer skips it all
        if value and info.data.get("net_scale_factor", 1.0) > 0 and not preprocessed:
            channels = input_channels(color)
            if len(value) != channels:
                raise ValueError(
                    f"{len(value)} values for the {channels} channel(s) of a "
                    f"{color.name} network input; one value per channel"
                )
        return value

    @field_validator("model_color_format")
    @classmethod
    def _channels_of_the_format(cls, value: ColorFormat, info: ValidationInfo) -> ColorFormat:
        dims = info.data.get("infer_dims")
        preprocessed = info.data.get("input_tensor_from_meta", False)
        if dims is not None and dims[0] != input_channels(value) and not preprocessed:
            raise ValueError(
                f"{value.name} needs a network input of {input_channels(value)} channel(s); "
                f"infer_dims gives {dims[0]}"
            )
        return value

    @field_validator("network_input_order", "segmentation_output_order")
    @classmethod
    def _four_dimensional(cls, value: TensorOrder) -> TensorOrder:
        if value is TensorOrder.NC:
            raise ValueError("must be nchw or nhwc")
        return value

    @field_validator("cluster_mode")
    @classmethod
    def _instance_masks_unclustered(cls, value: ClusterMode, info: ValidationInfo) -> ClusterMode:
        if (
            info.data.get("network_type") is NetworkType.INSTANCE_SEGMENTATION
            and value is not ClusterMode.NONE
        ):
            raise ValueError(
                "instance segmentation needs cluster_mode none (DeepStream cluster-mode=4)"
            )
        return value

    @field_validator("parser_options")
    @classmethod
    def _parser_takes_options(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        parser = info.data.get("parser")
        library = info.data.get("custom_lib_path")
        if parser is None and library is not None and library.suffix == ".py":
            parser = f"{library.stem}:(custom-lib-path)"  # a Python file: any options
        model = _options_model(parser) if parser else None
        if model is not None:
            try:
                model.model_validate(value)
            except ValidationError as err:
                problems = "; ".join(
                    f"{'.'.join(map(str, e['loc'])) or 'options'}: "
                    + ("unknown option" if e["type"] == "extra_forbidden" else e["msg"])
                    for e in err.errors()
                )
                known = ", ".join(model.model_fields)
                raise ValueError(f"{problems} (options of parser {parser}: {known})") from None
        elif value:
            raise ValueError(
                f"parser {parser or '(none)'} takes no options; parser_options is for parsers "
                "that do (ssd)"
            )
        return value

    @field_validator("class_agnostic_nms", "weighted_nms")
    @classmethod
    def _needs_nms(cls, value: bool, info: ValidationInfo) -> bool:
        mode = info.data.get("cluster_mode")
        network = info.data.get("network_type")
        runs_nms = mode in (ClusterMode.NMS, ClusterMode.HYBRID) or (
            mode is ClusterMode.GROUP_RECTANGLES and network is NetworkType.DETECTOR
        )
        if value and mode is not None and not runs_nms:
            raise ValueError(
                f"needs an NMS clustering (cluster_mode nms or hybrid), not {mode.name.lower()}"
            )
        return value

    @field_validator("class_attrs_all")
    @classmethod
    def _detectors_only(cls, value: ClassAttributes, info: ValidationInfo) -> ClassAttributes:
        if value != ClassAttributes():
            _check_detector(info)
        return value

    @field_validator("class_attrs", mode="before")
    @classmethod
    def _layer_on_all(cls, value: Any, info: ValidationInfo) -> Any:
        """Complete partial per-class entries with ``class_attrs_all``."""
        base = info.data.get("class_attrs_all", ClassAttributes())
        if not isinstance(value, dict):
            return value
        return {
            class_id: {**base.model_dump(), **attrs} if isinstance(attrs, dict) else attrs
            for class_id, attrs in value.items()
        }

    @field_validator("class_attrs")
    @classmethod
    def _known_classes(
        cls, value: dict[int, ClassAttributes], info: ValidationInfo
    ) -> dict[int, ClassAttributes]:
        if value:
            _check_detector(info)
        classes = info.data.get("num_detected_classes", 0)
        for class_id in value:
            if not 0 <= class_id < classes:
                raise ValueError(
                    f"class {class_id} is outside 0..{classes - 1} (num_detected_classes={classes})"
                )
        return value

    @field_validator("classifier_async_mode")
    @classmethod
    def _secondary_classifier(cls, value: bool, info: ValidationInfo) -> bool:
        secondary_classifier = (
            info.data.get("network_type") is NetworkType.CLASSIFIER
            and info.data.get("process_mode") is ProcessMode.SECONDARY
        )
        if value and not secondary_classifier:
            raise ValueError(
                "asynchronous mode needs network_type classifier and process_mode secondary"
            )
        return value

    @property
    def effective_cluster_mode(self) -> ClusterMode:
        """The clustering that runs: a detector's group_rectangles becomes NMS, as in DeepStream."""
        if self._group_rectangles_fallback:
            return ClusterMode.NMS
        return self.cluster_mode

    @property
    def class_labels(self) -> tuple[str, ...]:
        """Detector / segmentation label of each class: token 0 of each labels line."""
        return tuple(line[0] for line in self.labels)

    def class_attributes(self, class_id: int) -> ClassAttributes:
        """The attributes that apply to ``class_id``: defaults → class_attrs_all → class_attrs[c].

        When ``effective_cluster_mode`` replaced group_rectangles by NMS, ``topk`` is 20 and
        ``nms_iou_threshold`` 0.5 for every class, whatever the configuration says (DeepStream).
        """
        if not 0 <= class_id < self.num_detected_classes:
            raise IndexError(
                f"class {class_id} is outside 0..{self.num_detected_classes - 1} "
                f"(num_detected_classes={self.num_detected_classes})"
            )
        attrs = self.class_attrs.get(class_id, self.class_attrs_all)
        if self._group_rectangles_fallback:
            return attrs.model_copy(
                update={
                    "topk": GROUP_RECTANGLES_FALLBACK_TOPK,
                    "nms_iou_threshold": GROUP_RECTANGLES_FALLBACK_IOU,
                }
            )
        return attrs

    @property
    def _group_rectangles_fallback(self) -> bool:
        return (
            self.cluster_mode is ClusterMode.GROUP_RECTANGLES
            and self.network_type is NetworkType.DETECTOR
        )


def _options_model(parser: str) -> type[BaseModel] | None:
    """The options model of a registered parser that takes ``parser_options``, else None
    (custom ``module:function`` parsers read ``ctx.options`` as they like)."""
    from visionflow.infer.parsers.base import resolve_parser

    if ":" in parser:
        return _ANY_OPTIONS
    try:
        function = resolve_parser(parser)
    except ConfigError:
        return None
    model = getattr(function, "options_model", None)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


class _AnyOptions(BaseModel):
    model_config = ConfigDict(extra="allow")


_ANY_OPTIONS = _AnyOptions


def input_channels(color: ColorFormat) -> int:
    """The channel count nvinfer requires of a network input of this colour format (it refuses
    to start otherwise): 3 for RGB and BGR, 1 for GRAY."""
    return 1 if color is ColorFormat.GRAY else 3


def _check_detector(info: ValidationInfo) -> None:
    network_type = info.data.get("network_type")
    if network_type not in (None, NetworkType.DETECTOR, NetworkType.INSTANCE_SEGMENTATION):
        raise ValueError(
            "class attributes apply to detector and instance_segmentation networks, "
            f"not {network_type.value}"
        )


def resolve_config_path(value: str | os.PathLike[str], config_file: str | os.PathLike[str]) -> Path:
    """Resolve a path written in a config file, as nvinfer does.

    An absolute path is kept; a relative one is joined to the real folder of ``config_file``.
    The result is canonical (``realpath``) when the file exists, else the joined path unchanged.
    """
    text = os.fspath(value)
    joined = (
        text
        if text.startswith("/")
        else os.path.dirname(os.path.realpath(config_file)) + "/" + text
    )
    try:
        return Path(os.path.realpath(joined, strict=True))
    except OSError:
        return Path(joined)


def read_label_file(path: str | os.PathLike[str]) -> tuple[tuple[str, ...], ...]:
    """Read a labels file the way nvinfer does.

    Each non-empty line is split on ``;`` into tokens, kept verbatim (no trimming). Empty lines
    are skipped, so they shift the class ids of the lines after them. A CR before the line end is
    dropped from the last token (the line still counts), so CRLF files give clean labels with the
    same class ids as DeepStream.
    """
    try:
        with open(path, encoding="utf-8", newline="") as stream:
            text = stream.read()
    except FileNotFoundError:
        raise ConfigError("labels file not found", file=os.fspath(path)) from None
    except UnicodeDecodeError:
        raise ConfigError("labels file is not UTF-8 text", file=os.fspath(path)) from None
    return tuple(
        tuple((line[:-1] if line.endswith("\r") else line).split(";"))
        for line in text.split("\n")
        if line
    )
