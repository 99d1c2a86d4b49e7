"""Writing frame metadata as JSON Lines: one object per frame, schema ``visionflow.frame/1``.

The schema is documented in ``docs/metadata-schema.md``. Masks are binarised at the detections'
``mask_threshold`` and stored as COCO compressed RLE strings (column-major runs, starting with
background), which ``pycocotools.mask.decode({"size": [h, w], "counts": rle})`` and
:func:`visionflow.core.masks.rle_decode` read, or — on request — as polygons in frame pixels.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import IO, Any, BinaryIO

import numpy as np

from visionflow.analytics.records import frame_analytics, object_analytics
from visionflow.core.batch import Batch
from visionflow.core.element import Sink
from visionflow.core.masks import mask_polygons, rle_encode
from visionflow.core.meta import (
    KEYPOINTS,
    TRACK_AGE,
    TRACKER_CONFIDENCE,
    UNTRACKED,
    Detections,
    FrameMeta,
    SegmentationMap,
    TensorMeta,
)
from visionflow.errors import SinkError

log = logging.getLogger(__name__)

SCHEMA = "visionflow.frame/1"
"""The ``schema`` field of every line; the number changes only when a field changes meaning or
disappears (new fields may appear within a version)."""


def mask_to_rle(mask: np.ndarray) -> str:
    """COCO compressed RLE of an (H, W) bool mask (:func:`visionflow.core.masks.rle_encode`)."""
    return rle_encode(mask)


MASK_FORMATS = ("rle", "polygons", "both")
"""How instance masks are written: COCO RLE, polygons in frame pixels, or both."""


def _json_value(value: Any) -> Any:
    """``json.dumps`` hook: NumPy scalars and arrays become numbers and lists."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _column(dets: Detections, name: str, decimals: int | None = None) -> list[Any]:
    """One extra column as JSON values: None for objects without it (NaN / negative)."""
    values = dets.extra.get(name)
    if values is None:
        return [None] * len(dets)
    out: list[Any] = []
    for v in np.asarray(values).tolist():
        missing = v is None or v != v or (isinstance(v, int) and v < 0)
        out.append(None if missing else round(v, decimals) if decimals is not None else v)
    return out


def _polygons(dets: Detections) -> list[Any]:
    """Per object its outline ``[[x, y], …]`` in frame pixels (the ``polygon`` column a text
    detector writes: 4 corners of a rotated box, clockwise from the top-left), or None."""
    values = dets.extra.get("polygon")
    if values is None:
        return [None] * len(dets)
    return [
        p.astype(np.float64).round(2).tolist() if np.isfinite(p).all() else None
        for p in np.asarray(values)
    ]


def _keypoints(dets: Detections) -> list[Any]:
    """Per object its keypoints ``[[x, y], …]`` in frame pixels (the ``keypoints`` column a
    keypoint-decoding parser fills), or None."""
    values = dets.extra.get(KEYPOINTS)
    if values is None:
        return [None] * len(dets)
    return [
        p.astype(np.float64).round(2).tolist() if np.isfinite(p).all() else None
        for p in np.asarray(values)
    ]


def _outline(mask: np.ndarray, box: list[float]) -> list[list[float]]:
    """Polygons of a box-relative mask in frame pixels: cell centres stretched onto the box."""
    left, top, width, height = box
    mh, mw = mask.shape
    scale = np.array([width / mw, height / mh])
    return [
        ((p + 0.5) * scale + [left, top]).round(2).ravel().tolist() for p in mask_polygons(mask)
    ]


def _mask(dets: Detections, masks: np.ndarray, i: int, box: list[float], fmt: str) -> dict:
    mh, mw = masks.shape[1:]
    mask: dict[str, Any] = {"width": mw, "height": mh, "threshold": dets.mask_threshold}
    mask["rle"] = mask_to_rle(masks[i]) if fmt != "polygons" else None
    if fmt != "rle":
        mask["polygons"] = _outline(masks[i], box)
    return mask


def _objects(dets: Detections, mask_format: str = "rle") -> list[dict[str, Any]]:
    ltwh = np.concatenate([dets.xyxy[:, :2], dets.xyxy[:, 2:] - dets.xyxy[:, :2]], axis=1)
    boxes = ltwh.astype(np.float64).round(2).tolist()
    confidence = dets.confidence.astype(np.float64).round(4).tolist()
    tracker = dets.tracker_id.tolist()
    parent = dets.parent.tolist()
    masks = None if dets.masks is None else dets.masks > dets.mask_threshold
    analytics = object_analytics(dets)
    tracker_conf = _column(dets, TRACKER_CONFIDENCE, 4)
    track_age = _column(dets, TRACK_AGE)
    polygons = _polygons(dets)
    keypoints = _keypoints(dets)
    objects = []
    for i, (left, top, width, height) in enumerate(boxes):
        mask = None
        if masks is not None:
            mask = _mask(dets, masks, i, boxes[i], mask_format)
        objects.append(
            {
                "index": i,
                "class_id": int(dets.class_id[i]),
                "label": dets.labels[i],
                "confidence": confidence[i],
                "bbox": {"left": left, "top": top, "width": width, "height": height},
                "tracker_id": None if tracker[i] == UNTRACKED else tracker[i],
                "tracker_confidence": tracker_conf[i],
                "track_age": track_age[i],
                "component_id": int(dets.component_id[i]),
                "parent": None if parent[i] < 0 else parent[i],
                "classifications": [
                    {
                        "component_id": c.component_id,
                        "attribute": c.attribute,
                        "class_id": c.class_id,
                        "label": c.label,
                        "confidence": round(float(c.confidence), 4),
                        "classifier_type": c.classifier_type,
                    }
                    for c in dets.classifications[i]
                ],
                "mask": mask,
                "polygon": polygons[i],
                "keypoints": keypoints[i],
                "analytics": analytics[i],
            }
        )
    return objects


def _segmentation(seg: SegmentationMap, masks: str | None = None) -> dict[str, Any]:
    classes, counts = np.unique(seg.class_map[seg.class_map >= 0], return_counts=True)
    height, width = seg.class_map.shape
    record: dict[str, Any] = {
        "component_id": seg.component_id,
        "object_index": None if seg.object_index < 0 else seg.object_index,
        "width": width,
        "height": height,
        "classes_present": classes.tolist(),
        "class_counts": {str(c): n for c, n in zip(classes.tolist(), counts.tolist(), strict=True)},
    }
    if masks is not None:
        record["masks"] = {
            str(c): {
                "rle": rle_encode(seg.class_map == c) if masks != "polygons" else None,
                **({"polygons": _map_outline(seg, c)} if masks != "rle" else {}),
            }
            for c in classes.tolist()
        }
    return record


def _map_outline(seg: SegmentationMap, class_id: int) -> list[list[float]]:
    """Polygons of one class of a class map, in frame pixels when the map's network geometry is
    known (cell centres scaled to the network input, then mapped onto the frame), else in cells
    of the map."""
    height, width = seg.class_map.shape
    outlines = []
    for points in mask_polygons(seg.class_map == class_id):
        if seg.transform is not None:
            net = (points + 0.5) * [
                seg.transform.net_width / width,
                seg.transform.net_height / height,
            ]
            points = seg.transform.to_frame(np.concatenate([net, net], axis=1))[:, :2]
        outlines.append(np.asarray(points, np.float64).round(2).ravel().tolist())
    return outlines


def _tensors(meta: TensorMeta) -> dict[str, Any]:
    return {
        "component_id": meta.component_id,
        "object_index": None if meta.object_index < 0 else meta.object_index,
        "network_size": list(meta.network_size),
        "outputs": {
            name: {"dtype": str(array.dtype), "shape": list(array.shape), "data": array.tolist()}
            for name, array in meta.tensors.items()
        },
    }


def frame_record(
    meta: FrameMeta,
    *,
    include_tensors: bool = False,
    masks: str = "rle",
    segmentation_masks: bool = False,
) -> dict[str, Any]:
    """The ``visionflow.frame/1`` object of one frame, user metadata not included.

    Args:
        meta: the frame's metadata.
        include_tensors: add the raw output tensors.
        masks: instance masks as ``"rle"``, ``"polygons"`` or ``"both"`` (:data:`MASK_FORMATS`).
        segmentation_masks: add each semantic map's classes as masks, in the ``masks`` format.
    """
    if masks not in MASK_FORMATS:
        raise ValueError(f"masks must be one of {', '.join(MASK_FORMATS)}, got {masks!r}")
    record: dict[str, Any] = {
        "schema": SCHEMA,
        "source_id": meta.source_id,
        "frame_num": meta.frame_num,
        "pts": meta.pts,
        "time": meta.time,
        "uri": meta.uri,
        "width": meta.width,
        "height": meta.height,
        "source_width": meta.source_width,
        "source_height": meta.source_height,
        "objects": _objects(meta.detections, masks),
        "segmentation": [
            _segmentation(s, masks if segmentation_masks else None) for s in meta.segmentation
        ],
        "analytics": [frame_analytics(a) for a in meta.analytics],
    }
    if include_tensors:
        record["tensors"] = [_tensors(t) for t in meta.tensors]
    return record


class JsonLinesSink(Sink):
    """Writes one JSON object per frame per line (schema :data:`SCHEMA`) and passes batches on.

    User metadata (``FrameMeta.user``) is written under ``"user"``, key by key, for the values
    JSON can hold (NumPy scalars and arrays included); other values are left out, with a warning
    the first time a key is. Each batch's lines reach the operating system before the batch is
    passed on. A file always holds whole lines: when a write fails (a full disk), the file is cut
    back to the end of the last complete line before :class:`~visionflow.errors.SinkError` is
    raised. A file that no frame reached is removed when the sink stops.

    Args:
        path_or_stream: a file path (created, parent folders too, and closed by :meth:`stop`) or
            an open text stream (written to, never closed).
        include_tensors: also write raw output tensors (``"tensors"``), as nested lists.
        masks: instance masks as COCO RLE (``"rle"``, the default), polygons in frame pixels
            (``"polygons"``) or ``"both"``.
        segmentation_masks: also write each semantic segmentation map's classes as masks (in
            the ``masks`` format); off by default, as a map per frame makes lines large.
        name: the element's name in the pipeline.

    Attributes:
        frames_written: lines written so far (one per frame).
    """

    kind = "jsonlines"

    def __init__(
        self,
        path_or_stream: str | os.PathLike[str] | IO[str],
        *,
        include_tensors: bool = False,
        masks: str = "rle",
        segmentation_masks: bool = False,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        if masks not in MASK_FORMATS:
            raise ValueError(f"masks must be one of {', '.join(MASK_FORMATS)}, got {masks!r}")
        self.target = path_or_stream
        self.include_tensors = include_tensors
        self.masks = masks
        self.segmentation_masks = segmentation_masks
        self.frames_written = 0
        self._stream: IO[str] | None = None
        self._file: BinaryIO | None = None
        self._size = 0
        self._left_out: set[str] = set()

    @property
    def _where(self) -> str:
        return (
            os.fspath(self.target)
            if isinstance(self.target, str | os.PathLike)
            else repr(self.target)
        )

    def start(self) -> None:
        self.frames_written = 0
        if not isinstance(self.target, str | os.PathLike):
            self._stream = self.target
            return
        path = Path(self.target)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("wb", buffering=0)
        except OSError as exc:
            raise SinkError(f"cannot create metadata file '{path}': {exc}") from exc
        self._size = 0

    def process(self, batch: Batch) -> Batch:
        if self._file is None and self._stream is None:
            raise SinkError(f"metadata output {self._where} is not open: start() was not called")
        text = "".join(self._line(meta) for meta in batch.meta.frames)
        try:
            if self._file is not None:
                self._write_whole(self._file, text.encode("utf-8"))
            elif self._stream is not None:
                self._stream.write(text)
                self._stream.flush()
        except OSError as exc:
            raise SinkError(f"cannot write metadata to {self._where}: {exc}") from exc
        self.frames_written += len(batch)
        return batch

    def _write_whole(self, file: BinaryIO, data: bytes) -> None:
        """Write all of ``data`` or, on an error, cut the file back to its last whole line."""
        view = memoryview(data)
        try:
            while view:
                written = file.write(view)
                if not written:
                    raise OSError(f"no byte of the last {len(view)} could be written")
                view = view[written:]
        except OSError:
            try:
                file.truncate(self._size)
                file.seek(self._size)
            except OSError as cut:
                log.debug("%s: cannot cut back to %d bytes: %s", self._where, self._size, cut)
            raise
        self._size += len(data)

    def stop(self) -> None:
        file, self._file, self._stream = self._file, None, None
        if file is None:
            return
        try:
            file.close()
        except OSError as exc:
            raise SinkError(f"cannot close metadata file {self._where}: {exc}") from exc
        if self.frames_written == 0:
            log.warning("%s: no frames to write; no file created", self._where)
            Path(self._where).unlink(missing_ok=True)

    def _line(self, meta: FrameMeta) -> str:
        record = frame_record(
            meta,
            include_tensors=self.include_tensors,
            masks=self.masks,
            segmentation_masks=self.segmentation_masks,
        )
        record["user"] = self._user(meta.user)
        return json.dumps(record, separators=(",", ":"), default=_json_value) + "\n"

    def _user(self, user: dict[str, Any]) -> dict[str, Any]:
        kept = {}
        for key, value in user.items():
            try:
                json.dumps(value, default=_json_value, allow_nan=False)
            except (TypeError, ValueError):
                if key not in self._left_out:
                    self._left_out.add(key)
                    log.warning("user metadata '%s' is not JSON-serialisable; left out", key)
                continue
            kept[str(key)] = value
        return kept
