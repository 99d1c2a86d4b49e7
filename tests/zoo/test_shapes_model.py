"""Independent check of the shipped shapes detector: its own letterbox, NMS and scoring.

Held-out scenes use a seed that neither training nor the training script's evaluation uses.
Figures are read at the bundled config's settings where a user sees them (confidence 0.3, NMS
IoU 0.5) and over all detections for mAP (COCO's way, pycocotools).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import yaml

from visionflow.demo import SEED as DEMO_SEED
from visionflow.zoo.scenes import CLASSES, MovingScene, render_scene

MODELS = Path(str(files("visionflow"))) / "zoo" / "models"
HELD_OUT_SEED = 424_242  # neither the training seed nor the training script's evaluation seed
CONFIG = yaml.safe_load((MODELS / "shapes_det.infer.yml").read_text())
CONF = CONFIG["class_attrs_all"]["pre_cluster_threshold"]
NMS_IOU = CONFIG["class_attrs_all"]["nms_iou_threshold"]
AGNOSTIC = CONFIG.get("class_agnostic_nms", False)
SMALL = 32 * 32  # COCO's "small": box area under 32x32 px, here in the 640x360 scene


@pytest.fixture(scope="module")
def session() -> ort.InferenceSession:
    return ort.InferenceSession(str(MODELS / "shapes_det.onnx"), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def held_out(session: ort.InferenceSession) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """60 held-out 640x360 scenes: the model's raw output (4 + C, A) in scene pixels, truth
    boxes and truth classes."""
    rng = np.random.default_rng(HELD_OUT_SEED)
    scenes = []
    for _ in range(60):
        image, truth = render_scene(rng, 640, 360)
        scenes.append((run(session, image), truth.xyxy, truth.class_id))
    return scenes


def run(session: ort.InferenceSession, image: np.ndarray) -> np.ndarray:
    """The output (4 + C, A) for ``image``, its boxes mapped back to ``image`` pixels: the image
    letterboxed into the model's input (centred, zero padded, RGB / 255)."""
    side_h, side_w = session.get_inputs()[0].shape[2:]
    h, w = image.shape[:2]
    scale = min(side_w / w, side_h / h)
    rw, rh = round(w * scale), round(h * scale)
    pad_x, pad_y = (side_w - rw) // 2, (side_h - rh) // 2
    blob = np.zeros((side_h, side_w, 3), np.float32)
    blob[pad_y : pad_y + rh, pad_x : pad_x + rw] = cv2.resize(image, (rw, rh)) / 255.0
    (output,) = session.run(None, {"images": blob.transpose(2, 0, 1)[None]})
    output = output[0].copy()
    output[0] = (output[0] - pad_x) / scale
    output[1] = (output[1] - pad_y) / scale
    output[2:4] /= scale
    return output


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one xyxy box (4,) with each of (K, 4) → (K,)."""
    wh = np.clip(np.minimum(box[2:], boxes[:, 2:]) - np.maximum(box[:2], boxes[:, :2]), 0, None)
    inter = wh[:, 0] * wh[:, 1]
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / (area + areas - inter)


def nms(
    output: np.ndarray, threshold: float, iou: float, agnostic: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy NMS of a YOLOv8 output (4 + C, A) → xyxy (K, 4), score (K,), class (K,): per
    class, or across classes (``agnostic``: each anchor's best class, one NMS)."""
    boxes, scores, classes = [], [], []
    groups = [(output[:, output[4 + c] > threshold], c) for c in range(output.shape[0] - 4)]
    if agnostic:
        best = output[4:].argmax(0)
        keep = output[4:].max(0) > threshold
        groups = [(np.vstack([output[:4], output[4:].max(0)[None], best[None]])[:, keep], -1)]
    for candidates, c in groups:
        score_row = 4 if c < 0 else 4 + c
        order = np.argsort(-candidates[score_row])
        xywh, score = candidates[:4, order].T, candidates[score_row, order]
        kind = candidates[5, order].astype(int) if c < 0 else np.full(len(order), c)
        xyxy = np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], 1)
        while len(xyxy):
            boxes.append(xyxy[0])
            scores.append(score[0])
            classes.append(kind[0])
            rest = box_iou(xyxy[0], xyxy[1:]) < iou
            xyxy, score, kind = xyxy[1:][rest], score[1:][rest], kind[1:][rest]
    return np.array(boxes).reshape(-1, 4), np.array(scores), np.array(classes, dtype=int)


def matches(
    boxes: np.ndarray, classes: np.ndarray, truth: np.ndarray, truth_class: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(K, N) flags of detection/truth pairs with IoU ≥ 0.5: same class, other class."""
    overlap = np.array([box_iou(b, truth) >= 0.5 for b in boxes]).reshape(len(boxes), len(truth))
    same = classes[:, None] == truth_class[None]
    return overlap & same, overlap & ~same


def test_model_files_agree_with_scene_classes(session: ort.InferenceSession) -> None:
    labels = (MODELS / "shapes_det.labels.txt").read_text().splitlines()
    card = yaml.safe_load((MODELS / "shapes_det.yml").read_text())
    assert labels == list(CLASSES) == card["classes"]
    assert card["output"]["layout"] == "yolov8"
    assert card["license"] == "Apache-2.0"
    assert (MODELS / "shapes_det.onnx").stat().st_size <= 6_000_000
    (graph_input,), (graph_output,) = session.get_inputs(), session.get_outputs()
    # 640x384: a 16:9 picture letterboxed at 640 wide, so 16-px shapes span two stride-8 cells
    assert (graph_input.name, graph_input.shape) == ("images", ["batch", 3, 384, 640])
    assert card["input"]["shape"] == [1, 3, 384, 640]
    anchors = 80 * 48 + 40 * 24 + 20 * 12
    assert (graph_output.name, graph_output.shape) == ("output0", ["batch", 7, anchors])


def test_shipped_detector_reaches_coco_map_on_held_out_scenes(
    held_out: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> None:
    pytest.importorskip("pycocotools", reason="needs pycocotools (visionflow[eval])")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, annotations, results = [], [], []
    for image_id, (output, truth, truth_class) in enumerate(held_out):
        images.append({"id": image_id, "width": 640, "height": 360})
        for box, c in zip(truth.tolist(), truth_class.tolist(), strict=True):
            w, h = box[2] - box[0], box[3] - box[1]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": c,
                    "bbox": [box[0], box[1], w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
        boxes, scores, classes = nms(output, 0.001, 0.6)
        for i in np.argsort(-scores)[:100]:
            x1, y1, x2, y2 = boxes[i].tolist()
            results.append(
                {
                    "image_id": image_id,
                    "category_id": int(classes[i]),
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "score": float(scores[i]),
                }
            )
    coco = COCO()
    coco.dataset = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i, "name": name} for i, name in enumerate(CLASSES)],
    }
    coco.createIndex()
    evaluation = COCOeval(coco, coco.loadRes(results), "bbox")
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    map50_95, map50 = evaluation.stats[:2]
    assert map50 >= 0.95, f"mAP@0.5 {map50:.3f}"
    assert map50_95 >= 0.85, f"mAP@0.5:0.95 {map50_95:.3f}"


def test_shipped_detector_finds_small_shapes_without_confusing_classes(
    held_out: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> None:
    found = small_found = small_total = total = confused = 0
    for output, truth, truth_class in held_out:
        boxes, _, classes = nms(output, CONF, NMS_IOU, AGNOSTIC)
        same, other = matches(boxes, classes, truth, truth_class)
        hit = same.any(0)
        small = (truth[:, 2:] - truth[:, :2]).prod(1) < SMALL
        found += int(hit.sum())
        total += len(truth)
        small_found += int(hit[small].sum())
        small_total += int(small.sum())
        confused += int((other.any(1) & ~same.any(1)).sum())
    assert small_total >= 20  # the scenes do hold small shapes
    # measured (weights shipped 2026-12-08, later): 273 of 273 found, 93 of 93 small, no
    # confusion (the weights before: 272, 92, none)
    assert found / total >= 0.98, f"{found} of {total} shapes found"
    assert small_found / small_total >= 0.95, f"{small_found} of {small_total} small shapes found"
    assert confused <= 1, f"{confused} detections name the wrong class"


def test_demo_scene_finds_the_small_triangles_and_rarely_confuses_classes(
    session: ort.InferenceSession,
) -> None:
    """The demo's scene (rendered, not encoded; every 4th frame): the small triangles are found
    (the 320x320 model found 5 of 103), few detections name a shape's class wrongly (7 before),
    and in most frames the count per class is the truth's (a shape at least half visible must be
    counted, one under 20 % visible must not; the 320x320 model was wrong in all 60 frames).
    Not yet reached: no confusion at all and right counts in every frame — the misses are
    frames where the big square passes over the circle or a small triangle."""
    scene = MovingScene(DEMO_SEED, 960, 540)
    wrong_frames, confused, small_found, small_total = [], 0, 0, 0
    for t in range(0, 240, 4):
        image, truth = scene.frame(t)
        visible = scene.visibility(t)
        boxes, _, classes = nms(run(session, image), CONF, NMS_IOU, AGNOSTIC)
        same, other = matches(boxes, classes, truth.xyxy, truth.class_id)
        confused += int((other.any(1) & ~same.any(1)).sum())
        counts = np.bincount(classes, minlength=len(CLASSES))
        must = np.bincount(truth.class_id[visible >= 0.5], minlength=len(CLASSES))
        may = np.bincount(truth.class_id[visible >= 0.2], minlength=len(CLASSES))
        if np.any((counts < must) | (counts > may)):
            wrong_frames.append(t)
        small = (truth.xyxy[:, 2] - truth.xyxy[:, 0] < 60) & (visible >= 0.5)
        small_found += int(same.any(0)[small].sum())
        small_total += int(small.sum())
    assert small_total >= 100  # the two small triangles, in most frames
    # measured: 1 confusion (frame 124: the triangle partly hidden behind the square), 95 of
    # 103 small shapes, counts wrong in 11 of 60 frames (the weights before: none, 95, 9
    # frames; before them: 1, 95, 13)
    assert confused <= 3, f"{confused} detections name the wrong class"
    assert small_found / small_total >= 0.88, f"{small_found} of {small_total} small shapes"
    assert len(wrong_frames) <= 18, f"class counts wrong in frames {wrong_frames}"
