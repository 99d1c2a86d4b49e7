"""The metadata tree: batch → frames → objects → classifier results.

It mirrors DeepStream's ``NvDsBatchMeta → NvDsFrameMeta → NvDsObjectMeta → NvDsClassifierMeta``
so its users feel at home, but stores objects column-wise: per frame, all objects are one
immutable :class:`Detections` of NumPy columns. Stages never edit it in place; they build a new
one (``dets[keep]``, ``dets.replace(tracker_id=...)``, ``Detections.concat(...)``) and assign it to
``frame_meta.detections``. :meth:`Detections.objects` gives an object-by-object view.

Coordinates: boxes are ``xyxy`` float32 in absolute pixels of the frame as it travels through the
pipeline (after the stream muxer's optional scaling), whose size is ``FrameMeta.width/height``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

UNTRACKED = -1
"""``tracker_id`` of an object no tracker has claimed (DeepStream: 0xFFFFFFFFFFFFFFFF)."""


@dataclass(frozen=True)
class ClassifierLabel:
    """One attribute a classifier assigned to an object (DeepStream ``NvDsLabelInfo``).

    Attributes:
        component_id: ``gie-unique-id`` of the classifier.
        attribute: index of the output layer / attribute (``label_id``).
        class_id: the winning class of that attribute (``result_class_id``).
        confidence: its probability (``result_prob``).
        label: its label text (``result_label``); empty when no label is known.
        classifier_type: the classifier's ``classifier-type`` string, if any.
    """

    component_id: int
    attribute: int
    class_id: int
    confidence: float
    label: str = ""
    classifier_type: str = ""


def _column(value: Any, dtype: Any, n: int, name: str, fill: Any) -> np.ndarray:
    if value is None:
        return np.full(n, fill, dtype=dtype)
    arr = np.asarray(value, dtype=dtype)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
    return arr


def _freeze(arr: np.ndarray) -> np.ndarray:
    if arr.flags.writeable:
        arr = arr.copy() if arr.base is not None else arr
        arr.flags.writeable = False
    return arr


@dataclass(frozen=True, eq=False)
class Detections:
    """All objects of one frame, as immutable NumPy columns of length N.

    Attributes:
        xyxy: (N, 4) float32 boxes, absolute pixels ``x1, y1, x2, y2`` on the frame canvas.
        confidence: (N,) float32 detector confidence (−0.1 when unknown, as in DeepStream).
        class_id: (N,) int32 class index (−1 for a whole-frame object of a primary classifier).
        tracker_id: (N,) int64 tracking id, :data:`UNTRACKED` (−1) when untracked.
        component_id: (N,) int32 ``gie-unique-id`` of the element that produced the object.
        parent: (N,) int32 index of the parent object in the same container, −1 for none.
        labels: N label strings (the detector label, as ``obj_label``).
        masks: optional (N, mh, mw) float32 instance masks covering each object's box (stretched
            onto it when drawn), or None.
        mask_threshold: pixels of ``masks`` above this value belong to the object.
        classifications: per object, the classifier results attached to it.
        extra: further named (N, ...) columns (e.g. tracker confidence, analytics status).
    """

    xyxy: np.ndarray
    confidence: np.ndarray = None  # type: ignore[assignment]
    class_id: np.ndarray = None  # type: ignore[assignment]
    tracker_id: np.ndarray = None  # type: ignore[assignment]
    component_id: np.ndarray = None  # type: ignore[assignment]
    parent: np.ndarray = None  # type: ignore[assignment]
    labels: tuple[str, ...] = ()
    masks: np.ndarray | None = None
    mask_threshold: float = 0.5
    classifications: tuple[tuple[ClassifierLabel, ...], ...] = ()
    extra: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32)
        if xyxy.size == 0:
            xyxy = xyxy.reshape(0, 4)
        if xyxy.ndim != 2 or xyxy.shape[1] != 4:
            raise ValueError(f"xyxy must have shape (N, 4), got {xyxy.shape}")
        n = len(xyxy)
        set_ = object.__setattr__
        set_(self, "xyxy", _freeze(xyxy))
        set_(
            self, "confidence", _freeze(_column(self.confidence, np.float32, n, "confidence", -0.1))
        )
        set_(self, "class_id", _freeze(_column(self.class_id, np.int32, n, "class_id", 0)))
        set_(
            self,
            "tracker_id",
            _freeze(_column(self.tracker_id, np.int64, n, "tracker_id", UNTRACKED)),
        )
        set_(
            self,
            "component_id",
            _freeze(_column(self.component_id, np.int32, n, "component_id", 0)),
        )
        set_(self, "parent", _freeze(_column(self.parent, np.int32, n, "parent", -1)))
        labels = tuple(self.labels) if self.labels else ("",) * n
        if len(labels) != n:
            raise ValueError(f"labels must have {n} entries, got {len(labels)}")
        set_(self, "labels", labels)
        classes = (
            tuple(tuple(c) for c in self.classifications) if self.classifications else ((),) * n
        )
        if len(classes) != n:
            raise ValueError(f"classifications must have {n} entries, got {len(classes)}")
        set_(self, "classifications", classes)
        if self.masks is not None:
            masks = np.asarray(self.masks, dtype=np.float32)
            if masks.ndim != 3 or len(masks) != n:
                raise ValueError(f"masks must have shape ({n}, mh, mw), got {masks.shape}")
            set_(self, "masks", _freeze(masks))
        extra = {}
        for name, column in self.extra.items():
            column = np.asarray(column)
            if len(column) != n:
                raise ValueError(f"extra column '{name}' must have {n} rows, got {len(column)}")
            extra[name] = _freeze(column)
        set_(self, "extra", extra)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32))

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: int | slice | Sequence[int] | np.ndarray) -> Detections:
        """Select objects by integer, slice, index array or boolean mask (a new container).

        ``parent`` indices are remapped to the selection; parents that are not selected become −1.
        """
        if isinstance(index, int | np.integer):
            index = [int(index)]
        rows = np.arange(len(self))[index]
        remap = np.full(len(self) + 1, -1, np.int32)
        remap[rows] = np.arange(len(rows), dtype=np.int32)
        return Detections(
            xyxy=self.xyxy[rows],
            confidence=self.confidence[rows],
            class_id=self.class_id[rows],
            tracker_id=self.tracker_id[rows],
            component_id=self.component_id[rows],
            parent=remap[self.parent[rows]],
            labels=tuple(self.labels[i] for i in rows),
            masks=None if self.masks is None else self.masks[rows],
            mask_threshold=self.mask_threshold,
            classifications=tuple(self.classifications[i] for i in rows),
            extra={k: v[rows] for k, v in self.extra.items()},
        )

    def replace(self, **changes: Any) -> Detections:
        """A new container with some columns replaced (validated like the constructor)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def concat(cls, parts: Sequence[Detections]) -> Detections:
        """Join containers, keeping every column any non-empty part has.

        ``parent`` indices are shifted to stay valid. Where some parts have instance masks and
        others do not, the others get all-zero masks (no pixel belongs to the object); masks of
        different sizes are resized (bilinear) to the largest height and width — they are
        stretched onto their boxes anyway. ``mask_threshold`` is the first masked part's. An
        extra column missing from a part is filled with :func:`missing_value` of the column's
        dtype (NaN for floats, −1 for signed integers, the maximum for unsigned ones, False,
        ``""`` or None); the column keeps the dtype its parts share (NumPy's common type when
        they differ).

        Raises:
            ValueError: parts of one extra column differ in their trailing shape.
        """
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        offsets = np.cumsum([0] + [len(p) for p in parts[:-1]])
        parents = [
            np.where(p.parent >= 0, p.parent + o, -1) for p, o in zip(parts, offsets, strict=True)
        ]
        masked = [p for p in parts if p.masks is not None]
        return cls(
            xyxy=np.concatenate([p.xyxy for p in parts]),
            confidence=np.concatenate([p.confidence for p in parts]),
            class_id=np.concatenate([p.class_id for p in parts]),
            tracker_id=np.concatenate([p.tracker_id for p in parts]),
            component_id=np.concatenate([p.component_id for p in parts]),
            parent=np.concatenate(parents).astype(np.int32),
            labels=sum((p.labels for p in parts), ()),
            masks=_concat_masks(parts) if masked else None,
            mask_threshold=(masked[0] if masked else parts[0]).mask_threshold,
            classifications=sum((p.classifications for p in parts), ()),
            extra=_concat_extra(parts),
        )

    def with_classifications(self, added: Mapping[int, Sequence[ClassifierLabel]]) -> Detections:
        """A new container where object ``i`` gains the labels ``added[i]``."""
        merged = tuple(self.classifications[i] + tuple(added.get(i, ())) for i in range(len(self)))
        return self.replace(classifications=merged)

    @property
    def area(self) -> np.ndarray:
        """(N,) float32 box areas in pixels²."""
        wh = np.clip(self.xyxy[:, 2:] - self.xyxy[:, :2], 0, None)
        return wh[:, 0] * wh[:, 1]

    def objects(self) -> Iterator[ObjectView]:
        """Iterate the objects one by one (read-only views)."""
        for i in range(len(self)):
            yield ObjectView(self, i)

    def __repr__(self) -> str:
        return f"<Detections n={len(self)}>"


def missing_value(dtype: np.dtype) -> Any:
    """The value an extra column takes for objects that lack it: NaN (floats, complex), −1
    (signed integers), the maximum (unsigned integers, as DeepStream's unset ids), False (bool),
    NaT (dates and durations), ``""`` (strings and bytes), None (objects)."""
    kind = dtype.kind
    if kind in "fc":
        return np.nan
    if kind == "i":
        return -1
    if kind == "u":
        return np.iinfo(dtype).max
    if kind == "b":
        return False
    if kind in "mM":
        return np.array("NaT", dtype)
    if kind in "US":
        return ""
    return None


def _concat_masks(parts: Sequence[Detections]) -> np.ndarray:
    """(N, mh, mw) float32 masks of all parts: zeros where a part has none, resized to the largest
    mask size where sizes differ."""
    import cv2  # only here: the metadata types are imported where OpenCV is not needed

    shapes = [p.masks.shape[1:] for p in parts if p.masks is not None]
    size = (max(h for h, _ in shapes), max(w for _, w in shapes))
    joined = []
    for part in parts:
        masks = part.masks
        if masks is None:
            joined.append(np.zeros((len(part), *size), np.float32))
        elif masks.shape[1:] != size:
            joined.append(
                np.stack([cv2.resize(m, size[::-1], interpolation=cv2.INTER_LINEAR) for m in masks])
            )
        else:
            joined.append(masks)
    return np.concatenate(joined)


def _concat_extra(parts: Sequence[Detections]) -> dict[str, np.ndarray]:
    """Every extra column of any part, filled with :func:`missing_value` where a part lacks it."""
    names = list(dict.fromkeys(name for p in parts for name in p.extra))
    joined = {}
    for name in names:
        present = [p.extra[name] for p in parts if name in p.extra]
        trailing = {column.shape[1:] for column in present}
        if len(trailing) > 1:
            shapes = ", ".join(str((None, *t)) for t in sorted(trailing))
            raise ValueError(f"extra column '{name}' has rows of different shapes: {shapes}")
        dtype = np.result_type(*present)
        shape = next(iter(trailing))
        joined[name] = np.concatenate(
            [
                p.extra[name].astype(dtype, copy=False)
                if name in p.extra
                else np.full((len(p), *shape), missing_value(dtype), dtype)
                for p in parts
            ]
        )
    return joined


@dataclass(frozen=True)
class ObjectView:
    """A read-only view of object ``index`` of a :class:`Detections`."""

    detections: Detections
    index: int

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        x1, y1, x2, y2 = (float(v) for v in self.detections.xyxy[self.index])
        return x1, y1, x2, y2

    @property
    def ltwh(self) -> tuple[float, float, float, float]:
        """``left, top, width, height`` as in DeepStream's ``rect_params``."""
        x1, y1, x2, y2 = self.xyxy
        return x1, y1, x2 - x1, y2 - y1

    @property
    def confidence(self) -> float:
        return float(self.detections.confidence[self.index])

    @property
    def class_id(self) -> int:
        return int(self.detections.class_id[self.index])

    @property
    def tracker_id(self) -> int:
        return int(self.detections.tracker_id[self.index])

    @property
    def component_id(self) -> int:
        return int(self.detections.component_id[self.index])

    @property
    def parent(self) -> int:
        return int(self.detections.parent[self.index])

    @property
    def label(self) -> str:
        return self.detections.labels[self.index]

    @property
    def classifications(self) -> tuple[ClassifierLabel, ...]:
        return self.detections.classifications[self.index]

    @property
    def mask(self) -> np.ndarray | None:
        masks = self.detections.masks
        return None if masks is None else masks[self.index]


@dataclass(frozen=True, eq=False)
class SegmentationMap:
    """A semantic segmentation result (DeepStream ``NvDsInferSegmentationMeta``).

    Attributes:
        component_id: ``gie-unique-id`` of the producing element.
        class_map: (H, W) int32 class per pixel at network resolution, −1 where no class passed
            the threshold.
        probabilities: optional (C, H, W) float32 class probabilities.
        transform: how the network input was cut from the frame, to map the map back onto it.
        object_index: for a secondary model, the index of the object it belongs to; −1 for frames.
    """

    component_id: int
    class_map: np.ndarray
    probabilities: np.ndarray | None = None
    transform: Any = None
    object_index: int = -1

    @property
    def num_classes(self) -> int:
        if self.probabilities is not None:
            return int(self.probabilities.shape[0])
        return int(self.class_map.max()) + 1 if self.class_map.size else 0


@dataclass(frozen=True, eq=False)
class TensorMeta:
    """Raw output tensors of one model for one frame or object (``output-tensor-meta``).

    Attributes:
        component_id: ``gie-unique-id`` of the producing element.
        tensors: output name → array for this frame (no batch dimension), in binding order.
        network_size: (width, height) of the network input.
        transform: the preprocessing geometry, so a consumer can undo scaling and letterboxing.
        object_index: for a secondary model, the index of the object; −1 for frames.
    """

    component_id: int
    tensors: Mapping[str, np.ndarray]
    network_size: tuple[int, int]
    transform: Any = None
    object_index: int = -1


TRACKER_CONFIDENCE = "tracker_confidence"
"""Extra column set by a tracker: (N,) float32 tracker confidence of each reported object."""
TRACK_AGE = "track_age"
"""Extra column set by a tracker: (N,) int32 frames since the object's target was started."""
KEYPOINTS = "keypoints"
"""Extra column set by a detector whose parser decodes keypoints (``ssd`` with
``num_keypoints``): (N, K, 2) float32 ``x, y`` in frame pixels."""

ANALYTICS_ROI = "analytics_roi"
"""Extra column (object dtype): per object, the tuple of ROI labels it is in (DeepStream
``NvDsAnalyticsObjInfo.roiStatus``)."""
ANALYTICS_OVERCROWDING = "analytics_overcrowding"
"""Extra column (object dtype): per object, the tuple of overcrowding zones it is in
(``ocStatus``)."""
ANALYTICS_LINES = "analytics_lines"
"""Extra column (object dtype): per object, the tuple of lines it crossed on this frame
(``lcStatus``)."""
ANALYTICS_DIRECTION = "analytics_direction"
"""Extra column (object dtype): per object, the label of the direction it moves along, or None
(``dirStatus``)."""


@dataclass(frozen=True, eq=False)
class AnalyticsShape:
    """Something the analytics element asks the OSD to draw (DeepStream display meta).

    Attributes:
        kind: ``roi``, ``overcrowding`` (closed polygons), ``line`` (a counting line),
            ``line_direction`` or ``direction`` (an arrow from the first point to the second).
        label: the rule's label.
        points: (K, 2) float32 points in frame pixels.
    """

    kind: str
    label: str
    points: np.ndarray


@dataclass(frozen=True, eq=False)
class AnalyticsFrameMeta:
    """Frame-level analytics results (DeepStream ``NvDsAnalyticsFrameMeta``); the per-object
    results are the ``analytics_*`` extra columns of the frame's detections.

    Attributes:
        component_id: the analytics element's unique id.
        objects_in_roi: ROI label → objects in it (``objInROIcnt``).
        overcrowding: zone label → overcrowded (``ocStatus``).
        overcrowding_counts: zone label → objects in it.
        line_crossings: line label → crossings on this frame (``objLCCurrCnt``).
        line_counts: line label → crossings since the start (``objLCCumCnt``).
        line_class_counts: line label → class id → crossings since the start.
        object_counts: class id → objects of the frame (``objCnt``).
        shapes: what to draw (frame pixels); empty when nothing is to be drawn.
        osd_mode: 0 draw nothing, 1 shapes and labels, 2 also counts and object status.
        font_size: text height in pixels.
        show_object_counts: also draw ``object_counts``.
    """

    component_id: int = 0
    objects_in_roi: Mapping[str, int] = field(default_factory=dict)
    overcrowding: Mapping[str, bool] = field(default_factory=dict)
    overcrowding_counts: Mapping[str, int] = field(default_factory=dict)
    line_crossings: Mapping[str, int] = field(default_factory=dict)
    line_counts: Mapping[str, int] = field(default_factory=dict)
    line_class_counts: Mapping[str, Mapping[int, int]] = field(default_factory=dict)
    object_counts: Mapping[int, int] = field(default_factory=dict)
    shapes: tuple[AnalyticsShape, ...] = ()
    osd_mode: int = 2
    font_size: int = 12
    show_object_counts: bool = False

    def moved(self, scale_x: float, scale_y: float, dx: float, dy: float) -> AnalyticsFrameMeta:
        """The same results with the shapes mapped by ``x * scale_x + dx``, ``y * scale_y + dy``
        (e.g. onto a tiler's mosaic)."""
        factor = np.array([scale_x, scale_y], np.float32)
        offset = np.array([dx, dy], np.float32)
        shapes = tuple(
            AnalyticsShape(s.kind, s.label, (s.points * factor + offset).astype(np.float32))
            for s in self.shapes
        )
        return dataclasses.replace(self, shapes=shapes)


@dataclass(eq=False)
class FrameMeta:
    """Metadata of one frame of a batch (DeepStream ``NvDsFrameMeta``).

    Attributes:
        source_id: the source (stream) index.
        frame_num: the frame's index in its stream.
        pts, time_base: presentation timestamp and its unit in seconds.
        width, height: the frame size in the pipeline (after the stream muxer).
        source_width, source_height: the size the source delivered.
        uri: the source location.
        detections: all objects of the frame.
        segmentation: semantic segmentation maps attached to the frame.
        tensors: raw output tensors attached to the frame.
        inferred: ``gie-unique-id`` of every element that ran inference on this frame.
        analytics: results of analytics elements (``nvdsanalytics``), one per element.
        user: free-form user metadata (probes may put anything here).
    """

    source_id: int
    frame_num: int
    width: int
    height: int
    source_width: int
    source_height: int
    pts: int | None = None
    time_base: Fraction | None = None
    uri: str = ""
    detections: Detections = field(default_factory=Detections.empty)
    segmentation: list[SegmentationMap] = field(default_factory=list)
    tensors: list[TensorMeta] = field(default_factory=list)
    inferred: set[int] = field(default_factory=set)
    analytics: list[AnalyticsFrameMeta] = field(default_factory=list)
    user: dict[str, Any] = field(default_factory=dict)

    @property
    def time(self) -> float | None:
        if self.pts is None or self.time_base is None:
            return None
        return float(self.pts * self.time_base)


@dataclass(eq=False)
class BatchMeta:
    """Metadata of one batch: its frames' metadata, plus batch-level user metadata."""

    frames: list[FrameMeta] = field(default_factory=list)
    user: dict[str, Any] = field(default_factory=dict)
