"""Does a converted model still work? Accuracy before and after, and per-output parity.

* :func:`detection_map` — COCO mAP@0.5 and mAP@0.5:0.95 with pycocotools (the ``eval`` extra).
* :func:`top1` — classification accuracy.
* :func:`detection_agreement` — how far two detectors' results agree (no labels needed).
* :func:`compare_models` — runs the FP32 model and the converted engine through the same
  inference element (so the same preprocessing, parser and clustering), reports accuracy on
  labelled images for both, and the largest difference of every raw output.

Parity tolerances per precision are :data:`visionflow.convert.spec.DEFAULT_TOLERANCES`: an
element passes when ``|fp32 - converted| <= tol * (1 + |converted|)``, with tol 1e-4 for FP32,
1e-2 for FP16 and 1e-1 for INT8. An FP32 or FP16 engine outside its tolerance is an error
(:class:`~visionflow.errors.ParityError`); for INT8 the differences are reported, and accuracy
decides — 8-bit arithmetic moves individual outputs far more than it moves mAP. Without labels,
the converted engine's results are compared with the FP32 model's (``agreement``).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from visionflow.convert.parity import check_parity
from visionflow.convert.spec import DEFAULT_TOLERANCES, ParityReport
from visionflow.core.batch import Batch
from visionflow.core.frame import Frame, PixelFormat
from visionflow.core.geometry import box_iou
from visionflow.errors import MissingDependencyError, ParityError, SourceNotFoundError
from visionflow.infer.backends import Backend
from visionflow.infer.config import InferConfig, NetworkType, Precision
from visionflow.infer.element import Infer
from visionflow.infer.preprocess import preprocess

log = logging.getLogger(__name__)


class Boxes(Protocol):
    """Ground truth of one image: ``xyxy (N, 4) float`` pixels and ``class_id (N,) int``."""

    @property
    def xyxy(self) -> np.ndarray: ...
    @property
    def class_id(self) -> np.ndarray: ...


class ScoredBoxes(Boxes, Protocol):
    """Detections of one image: :class:`Boxes` plus ``confidence (N,) float``."""

    @property
    def confidence(self) -> np.ndarray: ...


# ----------------------------------------------------------------------------- metrics


def detection_map(
    predictions: Sequence[ScoredBoxes], ground_truth: Sequence[Boxes]
) -> dict[str, float]:
    """COCO box mAP of detections against ground truth, one entry of each per image.

    Boxes are absolute ``xyxy`` pixels. Classes are those of the ground truth; every class
    counts equally. pycocotools' 101-point interpolation and 100 detections per image apply.

    Returns:
        ``{"map50": …, "map50_95": …}`` in [0, 1].

    Raises:
        MissingDependencyError: pycocotools is not installed.
        ValueError: the two sequences differ in length.
    """
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError as exc:
        raise MissingDependencyError("pycocotools", "eval", "mAP evaluation") from exc
    if len(predictions) != len(ground_truth):
        raise ValueError(
            f"{len(predictions)} prediction sets for {len(ground_truth)} ground-truth images"
        )
    gt_rows = [_rows(i, t.xyxy, t.class_id, None) for i, t in enumerate(ground_truth)]
    dt_rows = [_rows(i, p.xyxy, p.class_id, p.confidence) for i, p in enumerate(predictions)]
    gt = np.concatenate(gt_rows) if gt_rows else np.zeros((0, 7))
    dt = np.concatenate(dt_rows) if dt_rows else np.zeros((0, 7))
    if not len(gt) or not len(dt):
        return {"map50": 0.0, "map50_95": 0.0}
    classes = np.unique(gt[:, 6]).astype(int)
    dataset = {
        "images": [{"id": i} for i in range(len(ground_truth))],
        "categories": [{"id": int(c)} for c in classes],
        "annotations": [
            {
                "id": n + 1,
                "image_id": int(row[0]),
                "category_id": int(row[6]),
                "bbox": row[1:5].tolist(),
                "area": float(row[3] * row[4]),
                "iscrowd": 0,
            }
            for n, row in enumerate(gt)
        ],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = dataset
        coco.createIndex()
        results = coco.loadRes(dt[np.isin(dt[:, 6], classes)])
        evaluation = COCOeval(coco, results, "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    stats = np.maximum(evaluation.stats[:2], 0.0)  # -1 marks "no ground truth"
    return {"map50": float(stats[1]), "map50_95": float(stats[0])}


def _rows(
    image: int, xyxy: np.ndarray, class_id: np.ndarray, score: np.ndarray | None
) -> np.ndarray:
    """(N, 7) ``image, x, y, w, h, score, class`` rows, as pycocotools' ``loadRes`` takes them."""
    xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
    n = len(xyxy)
    out = np.empty((n, 7))
    out[:, 0] = image
    out[:, 1:3] = xyxy[:, :2]
    out[:, 3:5] = xyxy[:, 2:] - xyxy[:, :2]
    out[:, 5] = 1.0 if score is None else np.asarray(score, np.float64)
    out[:, 6] = np.asarray(class_id)
    return out


def top1(predictions: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of correct top-1 predictions.

    Args:
        predictions: ``(N, C)`` scores (any monotonic scale) or ``(N,)`` predicted class ids.
        labels: ``(N,)`` true class ids.
    """
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    predicted = predictions.argmax(axis=1) if predictions.ndim == 2 else predictions
    if predicted.shape != labels.shape:
        raise ValueError(f"{predicted.shape[0]} predictions for {labels.shape[0]} labels")
    return float(np.mean(predicted == labels)) if len(labels) else 0.0


def detection_agreement(
    reference: Sequence[Boxes], candidate: Sequence[Boxes], iou_threshold: float = 0.5
) -> float:
    """How far two detectors agree, in [0, 1]: ``2 * matched / (N_reference + N_candidate)``.

    Boxes of one image are matched one to one, same class, IoU >= ``iou_threshold``, greedily
    from the highest IoU down. Images where neither detects anything agree fully.
    """
    if len(reference) != len(candidate):
        raise ValueError(f"{len(reference)} reference images for {len(candidate)} candidates")
    matched = total = 0
    for ref, cand in zip(reference, candidate, strict=True):
        total += len(ref.xyxy) + len(cand.xyxy)
        if not len(ref.xyxy) or not len(cand.xyxy):
            continue
        iou = box_iou(ref.xyxy, cand.xyxy)
        iou[np.asarray(ref.class_id)[:, None] != np.asarray(cand.class_id)[None, :]] = 0
        while iou.size and iou.max() >= iou_threshold:
            i, j = np.unravel_index(int(iou.argmax()), iou.shape)
            matched += 1
            iou[i, :] = 0
            iou[:, j] = 0
    return 1.0 if total == 0 else 2 * matched / total


@dataclass(frozen=True)
class LabelledBoxes:
    """Ground-truth boxes of one image: ``xyxy (N, 4) float32`` pixels, ``class_id (N,) int64``."""

    xyxy: np.ndarray
    class_id: np.ndarray


def load_eval_data(
    path: str | os.PathLike[str], labels: Sequence[str] = ()
) -> tuple[list[np.ndarray], list[LabelledBoxes] | np.ndarray]:
    """Labelled images for :func:`compare_models`.

    * a COCO detection JSON (``images[].file_name`` relative to the JSON's folder, ``bbox`` as
      ``x, y, w, h`` pixels): RGB images and their boxes; ``category_id`` is the class id;
    * a folder of class folders (ImageNet style): each folder is named by a class id or by a
      label of ``labels``; RGB images and ``(N,)`` class ids.

    Raises:
        SourceNotFoundError: the path, or an image it lists, does not exist.
    """
    from visionflow.media.images import IMAGE_SUFFIXES, read_image

    path = Path(path)
    if path.suffix.lower() == ".json" and path.is_file():
        dataset = json.loads(path.read_text())
        boxes: dict[int, list[list[float]]] = {}
        for ann in dataset.get("annotations", []):
            x, y, w, h = ann["bbox"]
            boxes.setdefault(ann["image_id"], []).append([x, y, x + w, y + h, ann["category_id"]])
        images, truth = [], []
        for entry in dataset["images"]:
            images.append(_read(path.parent / entry["file_name"], read_image))
            rows = np.array(boxes.get(entry["id"], []), np.float64).reshape(-1, 5)
            truth.append(LabelledBoxes(rows[:, :4].astype(np.float32), rows[:, 4].astype(np.int64)))
        return images, truth
    if not path.is_dir():
        raise SourceNotFoundError(f"evaluation data not found: {path} (a COCO JSON or a folder)")
    images, classes = [], []
    for folder in sorted(p for p in path.iterdir() if p.is_dir()):
        if folder.name in labels:
            class_id = list(labels).index(folder.name)
        elif folder.name.isdigit():
            class_id = int(folder.name)
        else:
            raise SourceNotFoundError(
                f"{folder}: class folders must be named by a class id or a label"
            )
        for file in sorted(folder.iterdir()):
            if file.suffix.lower() in IMAGE_SUFFIXES:
                images.append(_read(file, read_image))
                classes.append(class_id)
    return images, np.array(classes, np.int64)


def _read(file: Path, reader: Any) -> np.ndarray:
    image = reader(file)
    if image is None:
        raise SourceNotFoundError(f"cannot read evaluation image {file}")
    return image


# ----------------------------------------------------------------------------- comparison


@dataclass(frozen=True)
class ComparisonReport:
    """FP32 against a converted engine on the same images.

    Attributes:
        precision: the converted engine's precision.
        accuracy: ``{"before": {metric: value}, "after": {metric: value}}``: the FP32 source
            model and the converted engine; empty without labels.
        parity: the per-output comparison of raw outputs.
        images: how many images were evaluated.
        agreement: without labels, how far the converted engine's results agree with the FP32
            model's on the same images (:func:`detection_agreement` for detectors, the fraction
            of equal top-1 classes for classifiers); None with labels or for other networks.
    """

    precision: str
    accuracy: Mapping[str, Mapping[str, float]] = field(hash=False)
    parity: ParityReport
    images: int
    agreement: float | None = None

    @property
    def accuracy_drop(self) -> dict[str, float]:
        """FP32 minus converted, per metric (positive: accuracy lost)."""
        if not self.accuracy:
            return {}
        before, after = self.accuracy["before"], self.accuracy["after"]
        return {name: before[name] - after[name] for name in before}

    def to_dict(self) -> dict[str, Any]:
        return {
            "precision": self.precision,
            "images": self.images,
            "accuracy": {k: dict(v) for k, v in self.accuracy.items()},
            "accuracy_drop": self.accuracy_drop,
            "agreement": self.agreement,
            "parity": self.parity.to_dict(),
        }

    def render(self) -> str:
        """Accuracy and parity as text tables (rich)."""
        from rich.console import Console
        from rich.table import Table

        console = Console(file=io.StringIO(), width=110, color_system=None)
        if self.accuracy:
            table = Table(title=f"accuracy on {self.images} images")
            table.add_column("metric")
            for column in ("fp32 (before)", f"{self.precision} (after)", "drop"):
                table.add_column(column, justify="right")
            drop = self.accuracy_drop
            for name, before in self.accuracy["before"].items():
                after = self.accuracy["after"][name]
                table.add_row(name, f"{before:.4f}", f"{after:.4f}", f"{drop[name]:+.4f}")
            console.print(table)
        if self.agreement is not None:
            console.print(f"agreement with fp32 on {self.images} images: {self.agreement:.1%}")
        verdict = "passed" if self.parity.passed else "outside tolerance"
        if self.precision == "int8":  # 8-bit arithmetic moves raw outputs; accuracy decides
            verdict = "reported, not judged"
        table = Table(title=f"parity fp32 vs {self.precision}: {verdict}")
        for column in ("output", "shape", "max abs diff", "max rel diff", "tolerance", "result"):
            table.add_column(column)
        for out in self.parity.outputs.values():
            table.add_row(
                out.name,
                "x".join(map(str, out.shape)),
                f"{out.max_abs_diff:.3g}",
                f"{out.max_rel_diff:.3g}",
                f"{out.tolerance:g}",
                "ok" if out.passed else (out.detail or "over"),
            )
        console.print(table)
        return console.file.getvalue()  # type: ignore[attr-defined]


def compare_models(
    reference: InferConfig,
    converted: InferConfig,
    images: Sequence[np.ndarray],
    *,
    labels: Sequence[Boxes] | np.ndarray | None = None,
    backend: str = "onnxruntime",
    device: str = "cpu",
    threads: int = 0,
    parity_images: int = 16,
) -> ComparisonReport:
    """Run the FP32 model and the converted engine on ``images`` and compare them.

    Both configs go through an :class:`~visionflow.infer.element.Infer` element, which loads
    their engines (:func:`~visionflow.convert.engine.resolve_engine`), so preprocessing,
    parsing and clustering are identical. Parity compares raw outputs on the first
    ``parity_images`` images, the FP32 side run by ONNX Runtime on the CPU.

    Args:
        reference: the FP32 config (its precision is forced to fp32).
        converted: the config of the converted engine (precision fp16, int8 …).
        images: RGB ``(H, W, 3) uint8`` images.
        labels: detectors: one :class:`Boxes` per image; classifiers: ``(N,)`` class ids.
        backend, device, threads: where both models run.

    Raises:
        ParityError: an FP32 or FP16 engine differs beyond its tolerance.
    """
    from visionflow.convert.engine import read_key, source_model

    # the reference engine lives in the cache, never over the converted model-engine-file
    reference = reference.model_copy(
        update={"precision": Precision.FP32, "model_engine_file": None}
    )
    runs = {}
    for name, config in (("before", reference), ("after", converted)):
        infer = Infer(config, name=name, backend=backend, device=device, threads=threads)
        infer.start()
        runs[name] = infer
    precision = read_key(_backend(runs["after"]).model).precision  # as built ("best" resolved)
    samples = list(_parity_inputs(runs["before"], images[:parity_images]))
    candidate = _backend(runs["after"])
    parity = check_parity(
        source_model(reference),
        candidate.infer,
        samples,
        DEFAULT_TOLERANCES[precision],
        raise_on_failure=False,
    )
    if not parity.passed and precision not in ("int8", "bf16"):  # these are judged on accuracy
        raise ParityError(f"the {precision} engine does not match the FP32 model\n{parity}")
    accuracy: dict[str, dict[str, float]] = {}
    agreement = None
    if labels is not None:
        accuracy = {name: _accuracy(infer, images, labels) for name, infer in runs.items()}
    else:
        agreement = _agreement(runs["before"], runs["after"], images)
    report = ComparisonReport(precision, accuracy, parity, len(images), agreement)
    log.info(
        "fp32 vs %s on %d images: accuracy %s, largest output difference %.3g",
        precision,
        len(images),
        {name: dict(values) for name, values in accuracy.items()} or "not measured",
        parity.max_abs_diff,
    )
    return report


def _parity_inputs(infer: Infer, images: Sequence[np.ndarray]) -> Iterator[dict[str, np.ndarray]]:
    """Preprocessed batches of the element's batch size, as the element would feed them."""
    step = infer.config.batch_size
    for start in range(0, len(images), step):
        chunk = images[start : start + step]
        rois = [(0, 0, image.shape[1], image.shape[0]) for image in chunk]
        yield {infer.input_name: preprocess(chunk, rois, infer.preprocess_spec)[0]}


def _accuracy(
    infer: Infer, images: Sequence[np.ndarray], labels: Sequence[Boxes] | np.ndarray
) -> dict[str, float]:
    if infer.config.network_type is NetworkType.DETECTOR:
        detections = run_detector(infer, images)
        return detection_map(detections, labels)  # type: ignore[arg-type]
    backend = _backend(infer)
    scores = [
        next(iter(backend.infer(feeds).values())).reshape(len(feeds[infer.input_name]), -1)
        for feeds in _parity_inputs(infer, images)
    ]
    return {"top1": top1(np.concatenate(scores), np.asarray(labels))}


def _agreement(before: Infer, after: Infer, images: Sequence[np.ndarray]) -> float | None:
    """How far ``after`` agrees with ``before`` on ``images`` (see :class:`ComparisonReport`)."""
    kind = before.config.network_type
    if kind is NetworkType.DETECTOR:
        return detection_agreement(run_detector(before, images), run_detector(after, images))
    if kind is NetworkType.CLASSIFIER:
        top = [_top1_classes(infer, images) for infer in (before, after)]
        return float(np.mean(top[0] == top[1])) if len(images) else 1.0
    return None


def _top1_classes(infer: Infer, images: Sequence[np.ndarray]) -> np.ndarray:
    backend = _backend(infer)
    scores = [
        next(iter(backend.infer(feeds).values())).reshape(len(feeds[infer.input_name]), -1)
        for feeds in _parity_inputs(infer, images)
    ]
    return np.concatenate(scores).argmax(axis=1) if scores else np.zeros(0, np.int64)


def _backend(infer: Infer) -> Backend:
    if infer.backend is None:
        raise RuntimeError(f"{infer.name}: start() must run first")
    return infer.backend


def run_detector(infer: Infer, images: Sequence[np.ndarray]) -> list[ScoredBoxes]:
    """Detections of a started detector element, one container per image (frame pixels)."""
    step = infer.config.batch_size
    found: list[ScoredBoxes] = []
    for start in range(0, len(images), step):
        frames = [
            Frame(image, PixelFormat.RGB24, 0, start + i)
            for i, image in enumerate(images[start : start + step])
        ]
        batch = infer.process(Batch(frames))
        found.extend(meta.detections for meta in batch.meta.frames)
    return found
