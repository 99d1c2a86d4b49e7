"""Independent check of the shipped shapes detector: its own letterbox, NMS and mAP."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import yaml

from visionflow.zoo.scenes import CLASSES, render_scene

MODELS = Path(str(files("visionflow"))) / "zoo" / "models"
HELD_OUT_SEED = 424_242  # neither the training seed nor the training script's evaluation seed


@pytest.fixture(scope="module")
def session() -> ort.InferenceSession:
    return ort.InferenceSession(str(MODELS / "shapes_det.onnx"), providers=["CPUExecutionProvider"])


def letterbox_blob(image: np.ndarray, side: int) -> tuple[np.ndarray, float, float, float]:
    """(1, 3, side, side) float32 in [0, 1], centred and zero padded; scale, pad x, pad y."""
    h, w = image.shape[:2]
    scale = min(side / w, side / h)
    rw, rh = round(w * scale), round(h * scale)
    pad_x, pad_y = (side - rw) // 2, (side - rh) // 2
    blob = np.zeros((side, side, 3), np.float32)
    blob[pad_y : pad_y + rh, pad_x : pad_x + rw] = cv2.resize(image, (rw, rh)) / 255.0
    return blob.transpose(2, 0, 1)[None], scale, pad_x, pad_y


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one xyxy box (4,) with each of (K, 4) → (K,)."""
    wh = np.clip(np.minimum(box[2:], boxes[:, 2:]) - np.maximum(box[:2], boxes[:, :2]), 0, None)
    inter = wh[:, 0] * wh[:, 1]
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / (area + areas - inter)


def nms(
    output: np.ndarray, threshold: float = 0.01, iou: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy per-class NMS of a YOLOv8 output (4 + C, A) → xyxy (K, 4), score (K,), class (K,)."""
    boxes, scores, classes = [], [], []
    for c in range(output.shape[0] - 4):
        candidates = output[:, output[4 + c] > threshold]
        order = np.argsort(-candidates[4 + c])
        xywh, score = candidates[:4, order].T, candidates[4 + c, order]
        xyxy = np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], 1)
        while len(xyxy):
            boxes.append(xyxy[0])
            scores.append(score[0])
            classes.append(c)
            rest = box_iou(xyxy[0], xyxy[1:]) < iou
            xyxy, score = xyxy[1:][rest], score[1:][rest]
    return np.array(boxes).reshape(-1, 4), np.array(scores), np.array(classes, dtype=int)


def voc_ap(matches: np.ndarray, scores: np.ndarray, positives: int) -> float:
    """All-point interpolated AP from per-detection hit flags and scores."""
    hits = matches[np.argsort(-scores)]
    tp, fp = np.cumsum(hits), np.cumsum(~hits)
    recall = np.concatenate([[0.0], tp / positives, [1.0]])
    precision = np.concatenate([[1.0], tp / (tp + fp), [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    return float(np.sum(np.diff(recall) * precision[1:]))


def test_model_files_agree_with_scene_classes(session: ort.InferenceSession) -> None:
    labels = (MODELS / "shapes_det.labels.txt").read_text().splitlines()
    card = yaml.safe_load((MODELS / "shapes_det.yml").read_text())
    assert labels == list(CLASSES) == card["classes"]
    assert card["output"]["layout"] == "yolov8"
    assert card["license"] == "Apache-2.0"
    assert (MODELS / "shapes_det.onnx").stat().st_size <= 5_000_000
    (graph_input,), (graph_output,) = session.get_inputs(), session.get_outputs()
    assert (graph_input.name, graph_input.shape) == ("images", ["batch", 3, 320, 320])
    assert (graph_output.name, graph_output.shape) == ("output0", ["batch", 7, 2100])


def test_shipped_detector_reaches_map50_on_held_out_scenes(session: ort.InferenceSession) -> None:
    rng = np.random.default_rng(HELD_OUT_SEED)
    per_class: dict[int, list[tuple[float, bool]]] = {c: [] for c in range(len(CLASSES))}
    positives = np.zeros(len(CLASSES), dtype=int)
    for _ in range(30):
        image, truth = render_scene(rng, 640, 360)
        blob, scale, pad_x, pad_y = letterbox_blob(image, 320)
        (output,) = session.run(None, {"images": blob})
        boxes, scores, classes = nms(output[0])
        boxes = (boxes - [pad_x, pad_y, pad_x, pad_y]) / scale
        positives += np.bincount(truth.class_id, minlength=len(CLASSES))
        for c in range(len(CLASSES)):
            gt = truth.xyxy[truth.class_id == c]
            taken = np.zeros(len(gt), dtype=bool)
            mine = np.flatnonzero(classes == c)
            for i in mine[np.argsort(-scores[mine])]:
                overlap = box_iou(boxes[i], gt) if len(gt) else np.zeros(0)
                best = int(np.argmax(overlap)) if len(gt) else -1
                hit = best >= 0 and overlap[best] >= 0.5 and not taken[best]
                if hit:
                    taken[best] = True
                per_class[c].append((float(scores[i]), bool(hit)))
    aps = []
    for c, records in per_class.items():
        scores_c = np.array([r[0] for r in records])
        hits_c = np.array([r[1] for r in records], dtype=bool)
        aps.append(voc_ap(hits_c, scores_c, int(positives[c])))
    assert float(np.mean(aps)) >= 0.8, f"AP per class {dict(zip(CLASSES, aps, strict=True))}"
