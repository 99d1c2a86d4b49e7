"""nvinfer's attach step for detectors: cluster, map boxes back onto the frame, filter objects.

One per-class table (:data:`CLASS_PARAMS`, a NumPy structured array with one row per class)
feeds the parser's pre-cluster thresholds, clustering and the object filters;
:class:`DetectorAttach` holds it with the rules that apply to every class.

With ``box_geometry: deepstream`` (what nvinfer files get) boxes follow ``attach_metadata_detector``
in DeepStream's ``gst-nvinfer/gstnvinfer_meta_utils.cpp`` (DeepStream 7.x), each box taken as
``left, top, width, height``:

1. mapped back: ``left = (l - pad_left) / scale_x + roi_left``, ``width = w / scale_x`` (same for
   y), where ``roi_left`` is 0 except for nvdspreprocess ROIs: a secondary detector's boxes stay
   in crop coordinates;
2. a negative top or left becomes 0 with width and height kept (the box moves, it does not
   shrink); the right and bottom edges are never clipped;
3. classes in ``filter-out-class-ids`` are dropped, then boxes outside ``detected-min/max-w/h``
   (the sizes of step 2, not clipped to the frame);
4. with ``crop-objects-to-roi-boundary``, a top above ``roi-top-offset`` moves down to it (height
   kept), a right edge at or past the frame's width is cut to it, a bottom past
   ``H − roi-bottom-offset`` is cut to it; without it, a top above ``roi-top-offset`` or a bottom
   past ``H − roi-bottom-offset`` drops the box — with offset 0 too, so a box reaching below the
   frame is dropped (DeepStream-Yolo issue #697);
5. in secondary mode the parent object's left and top (as stored, not the even-rounded crop
   origin) are added; steps 2–4 ran in crop coordinates against the frame's width and height.

visionflow drops a box that step 4 leaves with no width or height (DeepStream attaches it).

With ``box_geometry: clipped`` (visionflow YAML's default) boxes are mapped through the
rectangle actually cut from the frame, clipped to the frame on all four sides, and steps 3–4 run
on the clipped box.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from visionflow.core.geometry import Letterbox
from visionflow.infer.cluster import ClusterMode, ClusterParams, cluster
from visionflow.infer.config import BoxGeometry, InferConfig
from visionflow.infer.parsers.base import DetectionCandidates

CLASS_PARAMS = np.dtype(
    [
        ("pre_cluster_threshold", np.float32),
        ("post_cluster_threshold", np.float32),
        ("nms_iou_threshold", np.float32),
        ("topk", np.int32),
        ("eps", np.float32),
        ("min_boxes", np.int32),
        ("dbscan_min_score", np.float32),
        ("group_threshold", np.int32),
        ("detected_min_w", np.float32),
        ("detected_min_h", np.float32),
        ("detected_max_w", np.float32),
        ("detected_max_h", np.float32),
        ("roi_top_offset", np.float32),
        ("roi_bottom_offset", np.float32),
    ]
)
"""One row per class: the effective ``[class-attrs-*]`` values, named as in
:class:`~visionflow.infer.config.ClassAttributes`."""

_CLUSTER_COLUMNS = {
    "pre_cluster": "pre_cluster_threshold",
    "post_cluster": "post_cluster_threshold",
    "nms_iou": "nms_iou_threshold",
    "topk": "topk",
    "eps": "eps",
    "min_boxes": "min_boxes",
    "dbscan_min_score": "dbscan_min_score",
    "group_threshold": "group_threshold",
}


def class_table(config: InferConfig) -> np.ndarray:
    """(C,) :data:`CLASS_PARAMS` rows: the attributes that apply to each class of ``config``
    (``class_attrs_all`` → ``class_attrs[c]``, with stock DeepStream's groupRectangles → NMS
    substitution applied)."""
    rows = [config.class_attributes(c) for c in range(config.num_detected_classes)]
    names = CLASS_PARAMS.names or ()
    values = [tuple(getattr(attrs, name) for name in names) for attrs in rows]
    table = np.array(values, CLASS_PARAMS)
    table.flags.writeable = False
    return table


@dataclass(frozen=True, eq=False)
class DetectorAttach:
    """How a detector's candidates become objects of a frame.

    Attributes:
        table: (C,) :data:`CLASS_PARAMS` per-class attributes, C = ``num-detected-classes``.
        cluster_mode: the clustering that runs (``InferConfig.effective_cluster_mode``).
        class_agnostic_nms: NMS across classes (``InferConfig.class_agnostic_nms``).
        weighted_nms: MediaPipe's weighted NMS (``InferConfig.weighted_nms``).
        filter_out_class_ids: classes never attached.
        crop_objects_to_roi_boundary: cut boxes to the ROI band instead of dropping them.
        geometry: DeepStream's box rules or boxes clipped to the frame (module docstring).
        cluster_params: the clustering columns of ``table`` (derived).
    """

    table: np.ndarray
    cluster_mode: ClusterMode = ClusterMode.NMS
    class_agnostic_nms: bool = False
    weighted_nms: bool = False
    filter_out_class_ids: tuple[int, ...] = ()
    crop_objects_to_roi_boundary: bool = False
    geometry: BoxGeometry = BoxGeometry.DEEPSTREAM
    cluster_params: ClusterParams = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.table.dtype != CLASS_PARAMS or self.table.ndim != 1:
            raise ValueError(
                f"table must be a 1-D CLASS_PARAMS array, got {self.table.dtype} "
                f"with shape {self.table.shape}"
            )
        params = ClusterParams(**{k: self.table[v] for k, v in _CLUSTER_COLUMNS.items()})
        object.__setattr__(self, "cluster_params", params)
        object.__setattr__(self, "cluster_mode", ClusterMode(self.cluster_mode))
        object.__setattr__(self, "geometry", BoxGeometry(self.geometry))

    @classmethod
    def from_config(cls, config: InferConfig) -> DetectorAttach:
        return cls(
            table=class_table(config),
            cluster_mode=config.effective_cluster_mode,
            class_agnostic_nms=config.class_agnostic_nms,
            weighted_nms=config.weighted_nms,
            filter_out_class_ids=tuple(config.filter_out_class_ids),
            crop_objects_to_roi_boundary=config.crop_objects_to_roi_boundary,
            geometry=config.box_geometry,
        )

    @property
    def pre_cluster_threshold(self) -> np.ndarray:
        """(C,) float32 per-class ``pre-cluster-threshold`` (handed to parsers)."""
        return self.table["pre_cluster_threshold"]

    def cluster(self, candidates: DetectionCandidates) -> DetectionCandidates:
        """Pre-cluster filter, clustering and top-K with this detector's mode and attributes."""
        return cluster(
            candidates,
            self.cluster_params,
            self.cluster_mode,
            class_agnostic=self.class_agnostic_nms,
            weighted=self.weighted_nms,
        )

    def place(
        self,
        xyxy: np.ndarray,
        class_id: np.ndarray,
        transform: Letterbox,
        frame_size: tuple[int, int],
        parent_origin: tuple[float, float] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Map boxes onto the frame and apply the object filters.

        Args:
            xyxy: (N, 4) boxes in network-input pixels.
            class_id: (N,) int class ids, each in ``[0, C)``.
            transform: how the network input was cut and scaled from the frame.
            frame_size: the frame's ``(width, height)``.
            parent_origin: secondary mode: the parent object's stored ``(left, top)``, which
                DeepStream adds instead of the crop's even-rounded origin.

        Returns:
            (M, 4) float32 boxes on the frame and (M,) int64 indices of the input boxes kept.
        """
        class_id = np.asarray(class_id, np.int64)
        if not len(class_id):
            return np.zeros((0, 4), np.float32), np.zeros(0, np.int64)
        frame_w, frame_h = frame_size
        if self.geometry is BoxGeometry.CLIPPED:
            boxes = transform.to_frame(xyxy)
            np.clip(boxes[:, 0::2], 0, frame_w, out=boxes[:, 0::2])
            np.clip(boxes[:, 1::2], 0, frame_h, out=boxes[:, 1::2])
            left, top = boxes[:, 0], boxes[:, 1]
            width, height = boxes[:, 2] - left, boxes[:, 3] - top
            origin = (np.float32(0), np.float32(0))
        else:
            left, top, width, height = _deepstream_ltwh(xyxy, transform)
            # "top and left should not be less than 0": moved, width and height kept
            left, top = np.maximum(left, 0), np.maximum(top, 0)
            ox, oy = parent_origin if parent_origin is not None else (0.0, 0.0)
            origin = (np.float32(ox), np.float32(oy))
        top, width, height, keep = self._filter(
            left, top, width, height, class_id, frame_w, frame_h
        )
        if self.geometry is BoxGeometry.CLIPPED or self.crop_objects_to_roi_boundary:
            # visionflow: no empty boxes (DeepStream attaches what cropping leaves empty)
            keep &= (width > 0) & (height > 0)
        left, top = left + origin[0], top + origin[1]
        out = np.stack([left, top, left + width, top + height], axis=1)[keep]
        return out.astype(np.float32), np.flatnonzero(keep)

    def _filter(
        self,
        left: np.ndarray,
        top: np.ndarray,
        width: np.ndarray,
        height: np.ndarray,
        class_id: np.ndarray,
        frame_w: int,
        frame_h: int,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Steps 3–4 of the module docstring: (top, width, height) after ROI cropping and the
        (N,) bool boxes kept."""
        row = self.table[class_id]
        keep = ~np.isin(class_id, self.filter_out_class_ids)
        keep &= width >= row["detected_min_w"]
        keep &= height >= row["detected_min_h"]
        max_w, max_h = row["detected_max_w"], row["detected_max_h"]
        keep &= (max_w <= 0) | (width <= max_w)
        keep &= (max_h <= 0) | (height <= max_h)
        roi_top = row["roi_top_offset"]
        roi_bottom = np.float32(frame_h) - row["roi_bottom_offset"]
        if self.crop_objects_to_roi_boundary:
            top = np.where(top < roi_top, roi_top, top)
            width = np.where(left + width >= frame_w, np.float32(frame_w) - left, width)
            height = np.where(top + height > roi_bottom, roi_bottom - top, height)
        else:
            keep &= top >= roi_top
            keep &= top + height <= roi_bottom
        return top, width, height, keep


def _deepstream_ltwh(
    xyxy: np.ndarray, transform: Letterbox
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Step 1: network pixels → float32 ``left, top, width, height`` relative to the rectangle
    cut (the frame in primary mode, the crop in secondary mode), computed in double as nvinfer
    does (``(l - offset_left) / scale_ratio_x``; ``width /= scale_ratio_x``)."""
    boxes = np.asarray(xyxy, np.float64)
    left = (boxes[:, 0] - transform.pad_left) / transform.scale_x
    top = (boxes[:, 1] - transform.pad_top) / transform.scale_y
    width = (boxes[:, 2] - boxes[:, 0]) / transform.scale_x
    height = (boxes[:, 3] - boxes[:, 1]) / transform.scale_y
    return (
        left.astype(np.float32),
        top.astype(np.float32),
        width.astype(np.float32),
        height.astype(np.float32),
    )
