"""The inference element (DeepStream ``nvinfer``): preprocess → backend → parse → cluster → meta.

Primary mode runs on whole frames; secondary mode runs on crops of the objects that upstream
elements produced (filtered by ``operate_on_gie_id``, ``operate_on_class_ids`` and object size).
Detector outputs become objects, classifier outputs become labels on objects (or on a whole-frame
object with class −1 for a primary classifier), segmentation outputs become maps; raw outputs are
attached as tensor metadata when ``output_tensor_meta`` is set.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from visionflow.core.batch import Batch
from visionflow.core.element import Element
from visionflow.core.geometry import Letterbox
from visionflow.core.meta import ClassifierLabel, Detections, FrameMeta, SegmentationMap, TensorMeta
from visionflow.errors import ConfigError, ParserError
from visionflow.infer.backends import Backend, load_backend
from visionflow.infer.cluster import ClusterMode as ClusterAlgorithm
from visionflow.infer.cluster import ClusterParams, cluster
from visionflow.config.infer_loader import load_infer_config
from visionflow.infer.config import (
    ClusterMode,
    InferConfig,
    NetworkType,
    ProcessMode,
    TensorOrder,
)
from visionflow.infer.custom import resolve_output_parser
from visionflow.infer.network_input import preprocess_spec
from visionflow.infer.parsers.base import (
    ClassificationResult,
    DetectionCandidates,
    NetworkInfo,
    ParseContext,
    Parser,
    SegmentationResult,
)
from visionflow.infer.preprocess import even_crop, preprocess

log = logging.getLogger(__name__)

_CLUSTER_ALGORITHMS = {
    ClusterMode.GROUP_RECTANGLES: ClusterAlgorithm.GROUP_RECTANGLES,
    ClusterMode.DBSCAN: ClusterAlgorithm.DBSCAN,
    ClusterMode.NMS: ClusterAlgorithm.NMS,
    ClusterMode.HYBRID: ClusterAlgorithm.HYBRID,
    ClusterMode.NONE: ClusterAlgorithm.NONE,
}


@dataclass(frozen=True)
class _Item:
    """One network input: a frame (object −1) or an object of a frame, and the region cut."""

    frame: int
    object: int
    roi: tuple[int, int, int, int]


class Infer(Element):
    """Runs a model configured by an :class:`InferConfig` (or a config file path).

    Args:
        config: the config, or a path to a visionflow YAML / DeepStream nvinfer file.
        name: the element name.
        device: ``cpu``, ``cuda``, ``cuda:N`` … (plain ``cuda`` takes the config's ``gpu_id``).
        backend: the inference backend (``onnxruntime`` by default).
        allow_fallback: run on the CPU with a warning when ``device`` is unavailable.
        threads: backend threads (0: the runtime's default).
        overrides: config fields to override, as deepstream-app's GIE groups do
            (``batch_size``, ``interval``, ``gie_unique_id``, ``operate_on_gie_id``, …).
    """

    kind = "infer"

    def __init__(
        self,
        config: InferConfig | str | Path,
        *,
        name: str | None = None,
        device: str = "cpu",
        backend: str = "onnxruntime",
        allow_fallback: bool = False,
        threads: int = 0,
        overrides: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(name)
        if not isinstance(config, InferConfig):
            config = load_infer_config(config)
        if overrides:
            update = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
            config = InferConfig.model_validate({**config.model_dump(), **update})
        if config.input_tensor_from_meta:
            raise ConfigError(
                "input tensors prepared by nvdspreprocess are not available in visionflow yet; "
                "remove the key to let this element preprocess frames itself",
                key="input-tensor-from-meta",
                value="1",
            )
        self.config = config
        self.device = f"cuda:{config.gpu_id}" if device == "cuda" else device
        self.backend_name = backend
        self.allow_fallback = allow_fallback
        self.threads = threads
        self.parser: Parser | None = None
        if config.network_type is not NetworkType.OTHER:
            self.parser = resolve_output_parser(config)
        self.backend: Backend | None = None
        self._batches = 0

    # -- set-up ------------------------------------------------------------------------------
    def start(self) -> None:
        cfg = self.config
        from visionflow.convert.accelerator import offload_device

        fallback = self.allow_fallback
        device = offload_device(cfg, self.backend_name, self.device, allow_fallback=fallback)
        self.backend = load_backend(
            model_path(cfg, self.backend_name, device, allow_fallback=fallback),
            self.backend_name,
            device=device,
            allow_fallback=self.allow_fallback,
            threads=self.threads,
        )
        spec = self.backend.inputs[0]
        self.input_name = spec.name
        self.preprocess_spec = preprocess_spec(cfg, spec.shape, spec.dtype)
        p = self.preprocess_spec
        self.context = ParseContext(
            network=NetworkInfo(p.width, p.height, p.channels),
            num_classes=cfg.num_detected_classes,
            pre_cluster_threshold=self._class_column("pre_cluster_threshold", np.float32),
            classifier_threshold=cfg.classifier_threshold,
            segmentation_threshold=cfg.segmentation_threshold,
            output_names=tuple(o.name for o in self.backend.outputs),
            labels=cfg.labels,
            segmentation_output_order=0 if cfg.segmentation_output_order is TensorOrder.NCHW else 1,
        )
        self.cluster_params = self._cluster_params()
        filters = ("detected_min_w", "detected_min_h", "detected_max_w", "detected_max_h")
        offsets = ("roi_top_offset", "roi_bottom_offset")
        self._object_filters = np.stack(
            [self._class_column(name, np.float32) for name in (*filters, *offsets)], axis=1
        ).reshape(-1, 6)
        log.info(
            "%s: %s, input %s %s",
            self.name,
            self.backend,
            spec.name,
            (p.channels, p.height, p.width),
        )

    def _class_column(self, name: str, dtype: type | None = None) -> np.ndarray:
        """(C,) the effective class attribute ``name`` of every class."""
        cfg = self.config
        attrs = [cfg.class_attributes(c) for c in range(cfg.num_detected_classes)]
        return np.array([getattr(a, name) for a in attrs], dtype)

    def _cluster_params(self) -> ClusterParams:
        column = self._class_column
        return ClusterParams(
            pre_cluster=column("pre_cluster_threshold"),
            post_cluster=column("post_cluster_threshold"),
            nms_iou=column("nms_iou_threshold"),
            topk=column("topk"),
            eps=column("eps"),
            min_boxes=column("min_boxes"),
            dbscan_min_score=column("dbscan_min_score"),
            group_threshold=column("group_threshold"),
        )

    # -- running -----------------------------------------------------------------------------
    def process(self, batch: Batch) -> Batch:
        index = self._batches
        self._batches += 1
        if self.config.process_mode is ProcessMode.PRIMARY and index % (self.config.interval + 1):
            return batch
        images = [frame.to_numpy() for frame in batch.frames]
        items = self._items(batch, images)
        step = self.config.batch_size
        for start in range(0, len(items), step):
            self._infer_chunk(batch, images, items[start : start + step])
        uid = self.config.gie_unique_id
        for meta in batch.meta.frames:
            meta.inferred.add(uid)
        return batch

    def _items(self, batch: Batch, images: Sequence[np.ndarray]) -> list[_Item]:
        if self.config.process_mode is ProcessMode.PRIMARY:
            return [
                _Item(i, -1, (0, 0, img.shape[1], img.shape[0])) for i, img in enumerate(images)
            ]
        items = []
        for i, meta in enumerate(batch.meta.frames):
            dets = meta.detections
            chosen = np.flatnonzero(self._eligible(dets))
            if not len(chosen):
                continue
            crops = even_crop(dets.xyxy[chosen], meta.width, meta.height)
            for obj, crop in zip(chosen, crops, strict=True):
                if crop[2] > 0 and crop[3] > 0:
                    items.append(_Item(i, int(obj), tuple(int(v) for v in crop)))  # type: ignore[arg-type]
        return items

    def _eligible(self, dets: Detections) -> np.ndarray:
        """(N,) bool: objects a secondary element operates on."""
        cfg = self.config
        keep = np.ones(len(dets), bool)
        if cfg.operate_on_gie_id != -1:
            keep &= dets.component_id == cfg.operate_on_gie_id
        if cfg.operate_on_class_ids:
            keep &= np.isin(dets.class_id, cfg.operate_on_class_ids)
        wh = dets.xyxy[:, 2:] - dets.xyxy[:, :2]
        keep &= (wh[:, 0] >= max(1, cfg.input_object_min_width)) & (
            wh[:, 1] >= max(1, cfg.input_object_min_height)
        )
        if cfg.input_object_max_width:
            keep &= wh[:, 0] <= cfg.input_object_max_width
        if cfg.input_object_max_height:
            keep &= wh[:, 1] <= cfg.input_object_max_height
        return keep

    def _infer_chunk(
        self, batch: Batch, images: Sequence[np.ndarray], items: Sequence[_Item]
    ) -> None:
        if not items:
            return
        backend = self._require_backend()
        tensor, transforms = preprocess(
            [images[it.frame] for it in items], [it.roi for it in items], self.preprocess_spec
        )
        outputs = backend.infer({self.input_name: tensor})
        detections: dict[int, list[Detections]] = {}
        labels: dict[int, dict[int, list[ClassifierLabel]]] = {}
        for k, (item, transform) in enumerate(zip(items, transforms, strict=True)):
            per_item = {name: value[k] for name, value in outputs.items()}
            meta = batch.meta.frames[item.frame]
            if self.config.output_tensor_meta:
                meta.tensors.append(
                    TensorMeta(
                        self.config.gie_unique_id,
                        per_item,
                        self.preprocess_spec.net_size,
                        transform,
                        item.object,
                    )
                )
            if self.parser is None:
                continue
            result = self._parse(self.parser, per_item, meta)
            if isinstance(result, DetectionCandidates):
                detections.setdefault(item.frame, []).append(
                    self._objects(result, transform, meta, item.object)
                )
            elif isinstance(result, ClassificationResult):
                labels.setdefault(item.frame, {}).setdefault(item.object, []).extend(
                    self._labels(result)
                )
            elif isinstance(result, SegmentationResult):
                meta.segmentation.append(
                    SegmentationMap(
                        self.config.gie_unique_id,
                        result.class_map,
                        result.probabilities,
                        transform,
                        item.object,
                    )
                )
        for frame, parts in detections.items():
            meta = batch.meta.frames[frame]
            meta.detections = Detections.concat([meta.detections, *parts])
        for frame, by_object in labels.items():
            self._attach_labels(batch.meta.frames[frame], by_object)

    def _require_backend(self) -> Backend:
        if self.backend is None:
            raise RuntimeError(f"{self.name}: start() must run before process()")
        return self.backend

    def _parse(self, parser: Parser, outputs: Mapping[str, np.ndarray], meta: FrameMeta) -> object:
        try:
            return parser(outputs, self.context)
        except ParserError as exc:
            raise ParserError(
                f"{self.name} on stream {meta.source_id} ({meta.uri}): {exc}"
            ) from exc

    # -- metadata ----------------------------------------------------------------------------
    def _objects(
        self, found: DetectionCandidates, transform: Letterbox, meta: FrameMeta, parent: int
    ) -> Detections:
        """Cluster candidates, map them onto the frame and apply nvinfer's object filters."""
        cfg = self.config
        kept = cluster(found, self.cluster_params, _CLUSTER_ALGORITHMS[cfg.effective_cluster_mode])
        xyxy = transform.to_frame(kept.xyxy)
        xyxy[:, :2] = np.maximum(xyxy[:, :2], 0)
        xyxy[:, 2] = np.minimum(xyxy[:, 2], meta.width)
        xyxy[:, 3] = np.minimum(xyxy[:, 3], meta.height)
        keep = (
            ~np.isin(kept.class_id, cfg.filter_out_class_ids)
            if cfg.filter_out_class_ids
            else np.ones(len(kept), bool)
        )
        keep &= self._size_and_roi_filter(xyxy, kept.class_id, meta.height)
        class_id = kept.class_id[keep]
        names = cfg.class_labels
        return Detections(
            xyxy=xyxy[keep],
            confidence=kept.confidence[keep],
            class_id=class_id,
            component_id=np.full(len(class_id), cfg.gie_unique_id, np.int32),
            parent=np.full(len(class_id), parent, np.int32),
            labels=tuple(names[c] if c < len(names) else str(c) for c in class_id),
            masks=None if kept.masks is None or not self._keep_masks else kept.masks[keep],
            mask_threshold=cfg.segmentation_threshold,
        )

    @property
    def _keep_masks(self) -> bool:
        """Instance masks are attached for instance segmentation or ``output_instance_mask``."""
        cfg = self.config
        return cfg.output_instance_mask or cfg.network_type is NetworkType.INSTANCE_SEGMENTATION

    def _size_and_roi_filter(
        self, xyxy: np.ndarray, class_id: np.ndarray, frame_h: int
    ) -> np.ndarray:
        """(N,) bool: detected-min/max-w/h and roi-top/bottom-offset, per class (clips in place)."""
        cfg = self.config
        if not len(class_id):
            return np.ones(0, bool)
        table = self._object_filters[class_id]
        min_w, min_h, max_w, max_h, top_off, bottom_off = table.T
        if cfg.crop_objects_to_roi_boundary:
            xyxy[:, 1] = np.where(top_off > 0, np.maximum(xyxy[:, 1], top_off), xyxy[:, 1])
            xyxy[:, 3] = np.where(
                bottom_off > 0, np.minimum(xyxy[:, 3], frame_h - bottom_off), xyxy[:, 3]
            )
        w = xyxy[:, 2] - xyxy[:, 0]
        h = xyxy[:, 3] - xyxy[:, 1]
        keep = (w >= min_w) & (h >= min_h) & (w > 0) & (h > 0)
        keep &= (max_w <= 0) | (w <= max_w)
        keep &= (max_h <= 0) | (h <= max_h)
        keep &= (top_off <= 0) | (xyxy[:, 1] >= top_off)
        keep &= (bottom_off <= 0) | (xyxy[:, 3] <= frame_h - bottom_off)
        return keep

    def _labels(self, result: ClassificationResult) -> list[ClassifierLabel]:
        cfg = self.config
        out = []
        for attr in result.attributes:
            label = attr.label
            if (
                label is None
                and attr.index < len(cfg.labels)
                and attr.class_id < len(cfg.labels[attr.index])
            ):
                label = cfg.labels[attr.index][attr.class_id]
            out.append(
                ClassifierLabel(
                    component_id=cfg.gie_unique_id,
                    attribute=attr.index,
                    class_id=attr.class_id,
                    confidence=attr.confidence,
                    label=label or "",
                    classifier_type=cfg.classifier_type or "",
                )
            )
        return out

    def _attach_labels(self, meta: FrameMeta, by_object: dict[int, list[ClassifierLabel]]) -> None:
        whole_frame = by_object.pop(-1, None)
        dets = meta.detections
        if by_object:
            dets = dets.with_classifications(by_object)
        if whole_frame:
            frame_object = Detections(
                xyxy=np.array([[0, 0, meta.width, meta.height]], np.float32),
                class_id=np.array([-1]),
                component_id=np.array([self.config.gie_unique_id]),
                labels=(" ".join(lbl.label for lbl in whole_frame),),
                classifications=(tuple(whole_frame),),
            )
            dets = Detections.concat([dets, frame_object])
        meta.detections = dets


def model_path(
    config: InferConfig,
    backend: str = "onnxruntime",
    device: str = "cpu",
    *,
    allow_fallback: bool = False,
) -> Path:
    """The engine an element loads: built from the ONNX model for this backend, precision, batch
    size and device, or reused from the engine cache (``model-engine-file`` semantics)."""
    from visionflow.convert.engine import resolve_engine

    return resolve_engine(config, backend, device, allow_fallback=allow_fallback)
