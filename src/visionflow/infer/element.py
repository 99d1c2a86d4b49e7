"""The inference element (DeepStream ``nvinfer``): preprocess → backend → parse → cluster → meta.

Primary mode runs on whole frames; secondary mode runs on crops of the objects that upstream
elements produced (filtered by ``operate_on_gie_id``, ``operate_on_class_ids`` and object size).
In secondary mode tracked objects (a tracker upstream set ``tracker_id``) are inferred once and
again only as ``secondary-reinfer-interval`` says, a classifier's result being cached per track
and attached on every frame the track is seen (:mod:`visionflow.infer.track_cache`); with
``classifier-async-mode`` only tracked objects are classified and a new result attaches from the
track's next frame on, as in DeepStream.
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

from visionflow.config.infer_loader import load_infer_config
from visionflow.core.batch import Batch
from visionflow.core.element import Element
from visionflow.core.geometry import Letterbox
from visionflow.core.meta import (
    KEYPOINTS,
    UNTRACKED,
    ClassifierLabel,
    Detections,
    FrameMeta,
    SegmentationMap,
    TensorMeta,
)
from visionflow.errors import (
    BackendError,
    ConfigError,
    DeviceUnavailableError,
    ModelNotFoundError,
    ParserError,
)
from visionflow.infer.attach import DetectorAttach
from visionflow.infer.backends import Backend, load_backend
from visionflow.infer.backends.auto import AUTO, resolve_backend
from visionflow.infer.config import (
    DEFAULT_REINFER_INTERVAL,
    InferConfig,
    NetworkType,
    ObjectCrop,
    ProcessMode,
    TensorOrder,
)
from visionflow.infer.crop import POLYGON, map_polygons, object_crop, rotation_of
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
from visionflow.infer.preprocess import Preprocessor, even_crop
from visionflow.infer.track_cache import TrackCache, TrackHistory

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Item:
    """One network input: a frame (object −1) or an object of a frame, and the region cut;
    ``history``: the tracked object's history, which a classifier result replaces."""

    frame: int
    object: int
    roi: tuple[int, int, int, int]
    history: TrackHistory | None = None


class Infer(Element):
    """Runs a model configured by an :class:`InferConfig` (or a config file path).

    Args:
        config: the config, or a path to a visionflow YAML / DeepStream nvinfer file.
        name: the element name.
        device: ``cpu``, ``cuda``, ``cuda:N`` … (plain ``cuda`` takes the config's ``gpu_id``).
        backend: the inference backend; ``auto`` (the default) is the fastest installed for
            the device (:func:`~visionflow.infer.backends.auto.resolve_backend`).
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
        backend: str = "auto",
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
        self.backend_name = resolve_backend(backend, self.device)
        self._auto_backend = backend == AUTO
        self.allow_fallback = allow_fallback
        self.threads = threads
        self.parser: Parser | None = None
        if config.network_type is not NetworkType.OTHER:
            self.parser = resolve_output_parser(config)
        self.backend: Backend | None = None
        self._device_path: Any = None  # infer.gpu_path.DevicePath on CUDA with torch
        self._gpu_preprocessor: Any = None  # infer.gpu_preprocess.GpuPreprocessor there
        self._on_device = False  # the batch in process() is preprocessed on the GPU
        self._batches = 0
        self.track_cache: TrackCache | None = None
        if config.process_mode is ProcessMode.SECONDARY and config.network_type in (
            NetworkType.CLASSIFIER,
            NetworkType.DETECTOR,
        ):
            self.track_cache = TrackCache(
                config.secondary_reinfer_interval,
                classifier=config.network_type is NetworkType.CLASSIFIER,
                default_interval=DEFAULT_REINFER_INTERVAL,
            )
        self.backend_calls = 0
        """Backend runs since :meth:`start`."""
        self.inputs_inferred = 0
        """Frames and object crops sent to the backend since :meth:`start`."""
        self._warned_untracked = False

    # -- set-up ------------------------------------------------------------------------------
    def start(self) -> None:
        cfg = self.config
        self.backend_calls = self.inputs_inferred = 0
        self._warned_untracked = False
        if self.track_cache is not None:
            self.track_cache.clear()
        try:
            self.backend = self._load_backend()
        except (ModelNotFoundError, DeviceUnavailableError):
            raise
        except BackendError as exc:  # the runtime could not load or compile the model
            if not self._auto_backend or self.backend_name == "onnxruntime":
                raise
            log.warning(
                "%s: backend auto: %s cannot run the model (%s); running ONNX Runtime",
                self.name,
                self.backend_name,
                str(exc).splitlines()[0],
            )
            self.backend_name = "onnxruntime"
            self.backend = self._load_backend()
        spec = self.backend.inputs[0]
        self.input_name = spec.name
        self.preprocess_spec = preprocess_spec(cfg, spec.shape, spec.dtype)
        self._preprocessor = Preprocessor(self.preprocess_spec)  # keeps its batch buffers
        p = self.preprocess_spec
        self.attach = DetectorAttach.from_config(cfg)
        self.context = ParseContext(
            network=NetworkInfo(p.width, p.height, p.channels),
            num_classes=cfg.num_detected_classes,
            pre_cluster_threshold=self.attach.pre_cluster_threshold,
            classifier_threshold=cfg.classifier_threshold,
            segmentation_threshold=cfg.segmentation_threshold,
            output_names=tuple(o.name for o in self.backend.outputs),
            labels=cfg.labels,
            segmentation_output_order=0 if cfg.segmentation_output_order is TensorOrder.NCHW else 1,
            options=cfg.parser_options,
        )
        from visionflow.infer.gpu_path import DevicePath  # the torch backend on CUDA only

        self._device_path = DevicePath.for_backend(
            self.backend,
            self.parser,
            self.attach,
            self.context,
            host_outputs=cfg.output_tensor_meta,
        )
        self._gpu_preprocessor = None
        if self._device_path is not None:  # frames decoded on the GPU are preprocessed there
            from visionflow.infer.gpu_preprocess import GpuPreprocessor

            self._gpu_preprocessor = GpuPreprocessor(
                self.preprocess_spec, getattr(self.backend, "torch_device", None)
            )
        log.info(
            "%s: %s, input %s %s",
            self.name,
            self.backend,
            spec.name,
            (p.channels, p.height, p.width),
        )

    def _load_backend(self) -> Backend:
        from visionflow.convert.accelerator import offload_device

        cfg, fallback = self.config, self.allow_fallback
        device = offload_device(cfg, self.backend_name, self.device, allow_fallback=fallback)
        return load_backend(
            model_path(cfg, self.backend_name, device, allow_fallback=fallback),
            self.backend_name,
            device=device,
            allow_fallback=fallback,
            threads=self.threads,
        )

    # -- running -----------------------------------------------------------------------------
    def process(self, batch: Batch) -> Batch:
        index = self._batches
        self._batches += 1
        if self.config.process_mode is ProcessMode.PRIMARY and index % (self.config.interval + 1):
            return batch
        # GPU path, whole frames already on the GPU: preprocessed there (only their sizes here)
        self._on_device = (
            self._gpu_preprocessor is not None
            and self.config.process_mode is ProcessMode.PRIMARY
            and all(frame.device != "cpu" for frame in batch.frames)
        )
        images = [
            np.empty((f.height, f.width, 0), np.uint8) if self._on_device else f.to_numpy()
            for f in batch.frames
        ]
        cached: dict[int, dict[int, list[ClassifierLabel]]] = {}
        items = self._items(batch, images, cached)
        step = self.config.batch_size
        for start in range(0, len(items), step):
            self._infer_chunk(batch, images, items[start : start + step])
        for frame, by_object in cached.items():
            self._attach_labels(batch.meta.frames[frame], by_object)
        if self.track_cache is not None:
            self.track_cache.end_batch()
        uid = self.config.gie_unique_id
        for meta in batch.meta.frames:
            meta.inferred.add(uid)
        return batch

    def _items(
        self,
        batch: Batch,
        images: Sequence[np.ndarray],
        cached: dict[int, dict[int, list[ClassifierLabel]]],
    ) -> list[_Item]:
        """The inputs to infer; tracked objects that are not get their cached labels in
        ``cached`` (frame → object → labels)."""
        if self.config.process_mode is ProcessMode.PRIMARY:
            # the whole frame, rounded down to even width and height as nvinfer cuts it; a frame
            # narrower or lower than 2 pixels has nothing left to scale and is not inferred
            whole = [
                (i, even_crop(np.array([[0, 0, w, h]]), w, h)[0])
                for i, (h, w) in enumerate(img.shape[:2] for img in images)
            ]
            return [_Item(i, -1, _rect(rect)) for i, rect in whole if rect[2] > 0 and rect[3] > 0]
        items = []
        for i, meta in enumerate(batch.meta.frames):
            dets = meta.detections
            chosen = np.flatnonzero(self._eligible(dets))
            crops = even_crop(dets.xyxy[chosen], meta.width, meta.height)
            rects = {
                int(obj): _rect(crop)
                for obj, crop in zip(chosen, crops, strict=True)
                if crop[2] > 0 and crop[3] > 0
            }
            if self.track_cache is None:
                items += [_Item(i, obj, rect) for obj, rect in rects.items()]
                continue
            items += self._tracked_items(i, meta, rects, cached.setdefault(i, {}))
        return items

    def _tracked_items(
        self,
        index: int,
        meta: FrameMeta,
        rects: Mapping[int, tuple[int, int, int, int]],
        cached: dict[int, list[ClassifierLabel]],
    ) -> list[_Item]:
        """nvinfer's ``gst_nvinfer_process_objects`` for one frame: which objects are inferred,
        which get their track's cached classification."""
        cache = self.track_cache
        assert cache is not None
        asynchronous = self.config.classifier_async_mode
        classifier = self.config.network_type is NetworkType.CLASSIFIER
        source, frame_num = meta.source_id, meta.frame_num
        cache.saw_frame(source, frame_num)
        dets = meta.detections
        wh = dets.xyxy[:, 2:] - dets.xyxy[:, :2]
        items = []
        for obj, track in enumerate(dets.tracker_id.tolist()):
            if track == UNTRACKED:
                if asynchronous:
                    self._warn_untracked()
                elif obj in rects:
                    items.append(_Item(index, obj, rects[obj]))
                continue
            history = cache.get(source, track)
            area = float(wh[obj, 0] * wh[obj, 1])
            needed = obj in rects and (
                history is None or cache.needs_inference(history, frame_num, area)
            )
            # the track's latest result: on every frame it is not inferred (synchronous mode),
            # on every frame before its new result (asynchronous mode)
            if history is not None and classifier and (asynchronous or not needed):
                history.last_accessed_frame = frame_num
                if history.labels:
                    cached[obj] = list(history.labels)
            if needed:
                history = cache.inferred(source, track, frame_num, area)
                items.append(_Item(index, obj, rects[obj], history))
        return items

    def _warn_untracked(self) -> None:
        if not self._warned_untracked:
            log.warning(
                "%s: untracked objects in metadata; classifier-async-mode infers tracked "
                "objects only (put a tracker before this element)",
                self.name,
            )
            self._warned_untracked = True

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
        if self._on_device:
            tensor, transforms = self._gpu_preprocessor(
                [batch.frames[it.frame] for it in items], [it.roi for it in items]
            )
        else:
            sources, rois = self._sources(batch, images, items)
            tensor, transforms = self._preprocessor(sources, rois)
        parsed: list | None = None
        if self._device_path is not None:  # GPU: parsed and clustered there
            host, parsed = self._device_path.run(tensor, len(items))
            outputs = host or {}
        else:
            outputs = backend.infer({self.input_name: tensor})
        self.backend_calls += 1
        self.inputs_inferred += len(items)
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
            # the GPU path parsed (and clustered) the batch already
            result = parsed[k] if parsed is not None else self._parse(self.parser, per_item, meta)
            if isinstance(result, DetectionCandidates):
                detections.setdefault(item.frame, []).append(
                    self._objects(result, transform, meta, item.object, parsed is not None)
                )
            elif isinstance(result, ClassificationResult):
                # as nvinfer: nothing attaches without attributes and a description
                found = self._labels(result) if result.attaches else []
                if item.history is not None:  # the track's result is the latest one
                    item.history.labels = tuple(found)
                    if self.config.classifier_async_mode:
                        continue  # attached from the track's next frame on
                if found:
                    labels.setdefault(item.frame, {}).setdefault(item.object, []).extend(found)
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
            meta.detections = _with_children(meta.detections, parts)
        for frame, by_object in labels.items():
            self._attach_labels(batch.meta.frames[frame], by_object)

    def _sources(
        self, batch: Batch, images: Sequence[np.ndarray], items: Sequence[_Item]
    ) -> tuple[list[np.ndarray], list[tuple[int, int, int, int]]]:
        """Per item the image and region the preprocessor scales: the frame and the item's
        region, or — with ``object_crop: perspective`` or ``object_crop_rotations`` — the
        object's own crop (:mod:`visionflow.infer.crop`)."""
        cfg = self.config
        perspective = cfg.object_crop is ObjectCrop.PERSPECTIVE
        if not perspective and not cfg.object_crop_rotations:
            return [images[it.frame] for it in items], [it.roi for it in items]
        sources, rois = [], []
        for it in items:
            dets = batch.meta.frames[it.frame].detections
            polygons = dets.extra.get(POLYGON) if perspective else None
            crop = object_crop(
                images[it.frame],
                it.roi,
                None if polygons is None else polygons[it.object],
                rotation_of(dets.classifications[it.object], cfg.object_crop_rotations),
            )
            if crop.size == 0:  # nothing to scale: fall back to the box
                crop = object_crop(images[it.frame], it.roi, None, 0)
            sources.append(crop)
            rois.append((0, 0, crop.shape[1], crop.shape[0]))
        return sources, rois

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
        self,
        found: DetectionCandidates,
        transform: Letterbox,
        meta: FrameMeta,
        parent: int,
        clustered: bool = False,
    ) -> Detections:
        """Cluster candidates, map them onto the frame and apply nvinfer's object filters.

        ``parent`` is the index of the object the candidates were found in (−1: the frame); the
        returned objects carry it as their parent. ``clustered``: the GPU path clustered them.
        """
        cfg = self.config
        kept = found if clustered else self.attach.cluster(found)
        origin = None
        if parent >= 0:
            x1, y1 = meta.detections.xyxy[parent, :2]
            origin = (float(x1), float(y1))
        xyxy, rows = self.attach.place(
            kept.xyxy, kept.class_id, transform, (meta.width, meta.height), origin
        )
        class_id = kept.class_id[rows]
        names = cfg.class_labels
        # DeepStream attaches instance masks only with output-instance-mask=1
        masks = kept.masks[rows] if kept.masks is not None and cfg.output_instance_mask else None
        extra = {}
        if kept.polygons is not None:
            extra[POLYGON] = map_polygons(kept.polygons[rows], transform, (meta.width, meta.height))
        if kept.keypoints is not None:
            frame_size = (meta.width, meta.height)
            extra[KEYPOINTS] = map_polygons(kept.keypoints[rows], transform, frame_size)
        return Detections(
            xyxy=xyxy,
            confidence=kept.confidence[rows],
            class_id=class_id,
            component_id=np.full(len(class_id), cfg.gie_unique_id, np.int32),
            parent=np.full(len(class_id), parent, np.int32),
            labels=tuple(names[c] if c < len(names) else str(c) for c in class_id),
            masks=masks,
            mask_threshold=cfg.segmentation_threshold,
            extra=extra,
        )

    def _labels(self, result: ClassificationResult) -> list[ClassifierLabel]:
        cfg = self.config
        out = []
        for attr in result.attributes:  # a label the parser left out stays empty, as in nvinfer
            out.append(
                ClassifierLabel(
                    component_id=cfg.gie_unique_id,
                    attribute=attr.index,
                    class_id=attr.class_id,
                    confidence=attr.confidence,
                    label=attr.label or "",
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


def _rect(values: np.ndarray) -> tuple[int, int, int, int]:
    left, top, width, height = (int(v) for v in values)
    return left, top, width, height


def _with_children(objects: Detections, children: Sequence[Detections]) -> Detections:
    """``objects`` followed by ``children``, whose ``parent`` column holds indices into
    ``objects`` (−1 for none); :meth:`Detections.concat` would shift those indices."""
    orphans = [child.replace(parent=np.full(len(child), -1)) for child in children]
    merged = Detections.concat([objects, *orphans])
    if len(merged) == len(objects):
        return objects
    parent = np.concatenate([merged.parent[: len(objects)], *(c.parent for c in children)])
    return merged.replace(parent=parent)


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
