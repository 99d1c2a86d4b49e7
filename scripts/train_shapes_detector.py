"""Train visionflow's shapes detector on generated scenes and export it as YOLOv8-style ONNX.

    python scripts/train_shapes_detector.py --device cuda --minutes 4 \
        --out src/visionflow/zoo/models/shapes_det.onnx

Network input: 640x384 (width x height), the 640x360 picture of a 16:9 source letterboxed the
way visionflow (and DeepStream-Yolo) feed YOLO models: keep the aspect ratio, scale bilinearly,
centre the image (symmetric padding, 12 rows above and below), pad with 0, RGB, divide by 255.
At this size the scenes' smallest shapes (16 px across at 640x360, 24 px in the 960x540 demo)
cover two cells of the stride-8 grid.

Data (generated in parallel, ``--workers`` processes, into a memory-mapped file): 640x360
scenes, of three kinds: by default half ``render_scene`` with its defaults (the distribution of
the held-out evaluation), a fifth ``render_scene`` crowded with small shapes (up to 12 shapes of
14-64 px), and the rest (``--clips``, 0.3) frames of :class:`~visionflow.zoo.scenes.MovingScene`
clips (shapes passing over each other; an object less than 30 % visible is not labelled), half
of those JPEG-compressed; the still scenes keep the proportion 5 : 2.
Clip seeds start at 5,000,000, far from the demo's (7) and the tests'.

Network: YOLOv8 (``visionflow.zoo._yolov8_nn``) at ``--width`` / ``--max-channels`` with 8 DFL
bins per box side, trained with the YOLOv8 recipe: task-aligned assignment (top-10, alpha 0.5,
beta 6), BCE class loss, CIoU + DFL box losses (gains 0.5 / 7.5 / 1.5), AdamW, warm-up then
cosine decay over a fixed wall-clock budget (``--minutes``; or ``--steps``), weight EMA.
Augmentation on the device: random horizontal and vertical flips, RGB channel permutations and,
for a quarter of the batches until the last 15 % of training, 2x2 mosaics of half-size scenes
(more small objects).

The script writes the ONNX (opset 17, input ``images`` (N,3,384,640), output ``output0``
(N,7,5040)), the labels file and the model card next to it, then evaluates the written ONNX with
ONNX Runtime (CPU) on held-out scenes (640x360, a seed never used for training) and prints
mAP@0.5, mAP@0.5:0.95, the recall of small shapes and a class check on the demo's scene.
Everything but the wall-clock budget is seeded.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F
import yaml

from visionflow.zoo._yolov8_nn import YOLOv8, make_anchors
from visionflow.zoo.scenes import CLASSES, MovingScene, render_scene

NET_W, NET_H = 640, 384
SCENE_W, SCENE_H = 640, 360
PAD_Y = (NET_H - SCENE_H) // 2
REG_MAX = 8
"""DFL bins per box side: 7 strides of reach covers the largest shape (160 px at 640x360) at
stride 32 and 16, and halves the cost of the box branch against YOLOv8's 16."""
MAX_LABELS = 16
"""Most labelled shapes per scene."""
MOVING_SEED = 5_000_000
"""First seed of the training clips (MovingScene); the demo's is 7, the tests' are small."""
VISIBLE = 0.3
"""Objects of a training clip frame less visible than this are not labelled."""
HARD_TRIES = 6
"""Random frame numbers :func:`hard_moment` chooses from."""
CLIPS = 0.3
"""Fraction of training scenes that are MovingScene clip frames (shapes passing over each other)."""
MOSAIC = 0.25
"""Fraction of batches made of 2x2 mosaics of half-size scenes."""
CLOSE_MOSAIC = 0.85
"""No mosaics after this fraction of the training budget."""
EVAL_SEED = 1_000_003
"""Seed of the held-out scenes; training scenes use ``--seed`` (never equal)."""
SMALL_AREA = 32 * 32
"""A shape is small when its box is under 32x32 px² in the 640x360 scene (COCO's "small")."""
DEPLOY_CONF, DEPLOY_IOU = 0.3, 0.5
"""The bundled config's pre-cluster threshold and NMS IoU."""
DEMO_SEED, DEMO_SIZE, DEMO_FRAMES = 7, (960, 540), 240


# ---------------------------------------------------------------- data


def letterbox(
    image: np.ndarray, width: int = NET_W, height: int = NET_H
) -> tuple[np.ndarray, float, np.ndarray]:
    """Fit ``image`` (H, W, 3) uint8 into ``width`` x ``height``: keep the aspect ratio, resize
    bilinearly, centre, pad with 0.

    Returns the padded image, the scale factor and the (x, y) offset of the image's top-left
    corner, so that ``network_xy = image_xy * scale + offset``.
    """
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    nw, nh = round(w * scale), round(h * scale)
    left, top = (width - nw) // 2, (height - nh) // 2
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    canvas[top : top + nh, left : left + nw] = cv2.resize(
        image, (nw, nh), interpolation=cv2.INTER_LINEAR
    )
    return canvas, scale, np.array([left, top], dtype=np.float32)


def training_scene(
    seed: int, index: int, clips: float = CLIPS, hard: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Training scene ``index`` of dataset ``seed``: (360, 640, 3) uint8 RGB and (M, 5)
    [class, x1, y1, x2, y2] in scene pixels. A fraction ``clips`` are MovingScene frames (of
    them a fraction ``hard`` picked by :func:`hard_moment`); the rest are still scenes, five to
    two default and crowded."""
    rng = np.random.default_rng([seed, index])
    kind = rng.random()
    if kind < (1 - clips) * 5 / 7:
        image, truth = render_scene(rng, SCENE_W, SCENE_H)
        keep = np.ones(len(truth), dtype=bool)
    elif kind < 1 - clips:
        image, truth = render_scene(rng, SCENE_W, SCENE_H, max_objects=12, sizes=(14.0, 64.0))
        keep = np.ones(len(truth), dtype=bool)
    else:
        clip_seed = MOVING_SEED + int(rng.integers(0, 10**8))
        scene = MovingScene(clip_seed, SCENE_W, SCENE_H, num_objects=int(rng.integers(2, 10)))
        t = int(rng.integers(0, 3000))
        if rng.random() < hard:
            t = hard_moment(scene, rng)
        image, truth = scene.frame(t)
        keep = scene.visibility(t) >= VISIBLE
        if rng.random() < 0.5:
            quality = int(rng.integers(35, 95))
            _, encoded = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
            image = cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1]
    labels = np.concatenate(
        [truth.class_id[keep, None].astype(np.float32), truth.xyxy[keep]], axis=1
    )
    return np.ascontiguousarray(image), labels[:MAX_LABELS]


def hard_moment(scene: MovingScene, rng: np.random.Generator, tries: int = HARD_TRIES) -> int:
    """Of ``tries`` random frame numbers, the one whose shapes are hardest to classify: two
    points per triangle between 40 % and 90 % visible (the outline that tells it from a square
    partly hidden), one per other shape so hidden, one per visible shape under 40 px across."""
    best, best_score = 0, -1.0
    for t in rng.integers(0, 3000, tries).tolist():
        visible = scene.visibility(t)
        boxes = scene.frame(t)[1]
        hidden = (visible >= 0.4) & (visible <= 0.9)
        triangle = boxes.class_id == CLASSES.index("triangle")
        small = (boxes.xyxy[:, 2] - boxes.xyxy[:, 0] < 40) & (visible >= VISIBLE)
        score = float(2 * (hidden & triangle).sum() + (hidden & ~triangle).sum() + small.sum())
        if score > best_score:
            best, best_score = int(t), score
    return best


_STORE: dict[str, np.memmap] = {}


def _write_scene(task: tuple[str, int, int, int, float, float]) -> np.ndarray:
    path, count, seed, index, clips, hard = task
    if path not in _STORE:
        _STORE[path] = np.memmap(path, np.uint8, "r+", shape=(count, SCENE_H, SCENE_W, 3))
    image, labels = training_scene(seed, index, clips, hard)
    _STORE[path][index] = image
    return labels


def make_dataset(
    seed: int, count: int, workers: int, path: Path, clips: float = CLIPS, hard: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` training scenes in the file ``path`` (reused when it is complete): images
    (count, 360, 640, 3) uint8 and labels (count, MAX_LABELS, 5), class −1 for padding."""
    label_path = path.with_suffix(".labels.npy")
    if path.exists() and label_path.exists():
        labels = np.load(label_path)
        if len(labels) == count:
            images = np.memmap(path, np.uint8, "r", shape=(count, SCENE_H, SCENE_W, 3))
            return images, labels
    np.memmap(path, np.uint8, "w+", shape=(count, SCENE_H, SCENE_W, 3)).flush()
    tasks = [(str(path), count, seed, i, clips, hard) for i in range(count)]
    with Pool(workers) as pool:
        per_scene = pool.map(_write_scene, tasks, chunksize=16)
    labels = np.full((count, MAX_LABELS, 5), -1.0, np.float32)
    for i, scene_labels in enumerate(per_scene):
        labels[i, : len(scene_labels)] = scene_labels
    np.save(label_path, labels)
    return np.memmap(path, np.uint8, "r", shape=(count, SCENE_H, SCENE_W, 3)), labels


def make_batch(
    images: torch.Tensor,
    labels: torch.Tensor,
    size: int,
    mosaic: bool,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """An augmented batch on the images' device: float (size, 3, 384, 640) in [0, 1] and labels
    (size, L, 5) in network pixels, class −1 for padding.

    Each scene is flipped horizontally and vertically with probability 0.5; a mosaic batch
    tiles four half-size scenes into each image; the channels of the whole batch may be
    permuted; the 640x360 scenes are centred in 640x384 with black rows, as the letterbox does.
    """
    device = images.device
    count = size * (4 if mosaic else 1)
    index = torch.randint(len(images), (count,), generator=generator, device=device)
    batch = images[index].permute(0, 3, 1, 2).float().div_(255.0)
    target = labels[index].clone()
    real = target[..., 0] >= 0
    for axis, columns, extent in ((3, [1, 3], SCENE_W), (2, [2, 4], SCENE_H)):
        flip = torch.rand(count, generator=generator, device=device) < 0.5
        batch = torch.where(flip[:, None, None, None], batch.flip(axis), batch)
        coords = target[..., columns]
        mirrored = extent - coords.flip(-1)  # new x1 = S - x2, new x2 = S - x1
        target[..., columns] = torch.where((flip[:, None] & real)[..., None], mirrored, coords)
    if mosaic:
        half_h, half_w = SCENE_H // 2, SCENE_W // 2
        small = F.interpolate(batch, size=(half_h, half_w), mode="bilinear", antialias=True)
        batch = (
            small.view(size, 2, 2, 3, half_h, half_w)
            .permute(0, 3, 1, 4, 2, 5)
            .reshape(size, 3, SCENE_H, SCENE_W)
        )
        cell = torch.arange(4, device=device)
        shift = torch.stack([(cell % 2) * half_w, (cell // 2) * half_h], -1).float()  # (4, 2)
        shift = shift.repeat(size, 1)[:, None, :].repeat(1, 1, 2)  # (count, 1, 4)
        boxes = target[..., 1:] * 0.5 + shift
        target[..., 1:] = torch.where(real[..., None], boxes, target[..., 1:])
        target = target.view(size, 4 * labels.shape[1], 5)
        real = target[..., 0] >= 0
    if torch.rand(1, generator=generator, device=device).item() < 0.5:
        order = torch.randperm(3, generator=generator, device=device)
        batch = batch[:, order]
    batch = F.pad(batch, (0, 0, PAD_Y, NET_H - SCENE_H - PAD_Y))
    rows = target[..., [2, 4]]
    target[..., [2, 4]] = torch.where(real[..., None], rows + PAD_Y, rows)
    return batch, target


# ---------------------------------------------------------------- loss


def box_iou_pairs(a: torch.Tensor, b: torch.Tensor, ciou: bool = False) -> torch.Tensor:
    """IoU (or CIoU) of matching rows of xyxy boxes ``a`` and ``b`` (..., 4) → (...)."""
    eps = 1e-7
    wh_a, wh_b = a[..., 2:] - a[..., :2], b[..., 2:] - b[..., :2]
    inter = (torch.minimum(a[..., 2:], b[..., 2:]) - torch.maximum(a[..., :2], b[..., :2])).clamp(0)
    inter_area = inter.prod(-1)
    union = wh_a.prod(-1) + wh_b.prod(-1) - inter_area + eps
    iou = inter_area / union
    if not ciou:
        return iou
    hull = torch.maximum(a[..., 2:], b[..., 2:]) - torch.minimum(a[..., :2], b[..., :2])
    diagonal = hull.square().sum(-1) + eps
    centre_distance = ((a[..., :2] + a[..., 2:]) - (b[..., :2] + b[..., 2:])).square().sum(-1) / 4
    v = (4 / math.pi**2) * (
        torch.atan(wh_b[..., 0] / (wh_b[..., 1] + eps))
        - torch.atan(wh_a[..., 0] / (wh_a[..., 1] + eps))
    ).square()
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (centre_distance / diagonal + v * alpha)


@torch.no_grad()
def task_aligned_assign(
    scores: torch.Tensor,
    boxes: torch.Tensor,
    points: torch.Tensor,
    gt: torch.Tensor,
    topk: int = 10,
    alpha: float = 0.5,
    beta: float = 6.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """YOLOv8's task-aligned assigner.

    Args:
        scores: (B, A, C) predicted class probabilities.
        boxes: (B, A, 4) predicted xyxy boxes, pixels.
        points: (A, 2) anchor centres, pixels.
        gt: (B, M, 5) [class, x1, y1, x2, y2]; class −1 is padding.

    Returns:
        target boxes (B, A, 4) pixels, target scores (B, A, C), foreground mask (B, A).
    """
    valid = (gt[..., 0] >= 0).unsqueeze(-1)  # (B, M, 1)
    gt_cls = gt[..., 0].clamp(min=0).long()
    gt_box = gt[..., 1:]
    lt = points[None, None] - gt_box[..., None, :2]
    rb = gt_box[..., None, 2:] - points[None, None]
    inside = (torch.cat((lt, rb), -1).amin(-1) > 1e-9) & valid  # (B, M, A)

    overlaps = box_iou_pairs(gt_box[:, :, None], boxes[:, None]).clamp(0) * inside
    cls_scores = scores.gather(2, gt_cls[:, None].expand(-1, scores.shape[1], -1)).transpose(1, 2)
    metric = cls_scores.pow(alpha) * overlaps.pow(beta) * inside

    top = metric.topk(topk, dim=-1).indices
    candidate = torch.zeros_like(inside).scatter_(-1, top, True) & inside
    # an anchor claimed by several boxes goes to the one it overlaps most
    multiple = candidate.sum(1, keepdim=True) > 1
    best = F.one_hot(overlaps.argmax(1), gt.shape[1]).transpose(1, 2).bool()
    positive = torch.where(multiple, best & inside, candidate)

    fg = positive.any(1)  # (B, A)
    owner = positive.float().argmax(1)  # (B, A)
    target_box = gt_box.gather(1, owner[..., None].expand(-1, -1, 4))
    target_cls = gt_cls.gather(1, owner)
    target_scores = F.one_hot(target_cls, scores.shape[-1]).float() * fg[..., None]

    metric = metric * positive
    norm = (
        metric
        * (overlaps * positive).amax(-1, keepdim=True)
        / (metric.amax(-1, keepdim=True) + 1e-9)
    ).amax(1)
    return target_box, target_scores * norm[..., None], fg


class DetectionLoss:
    """YOLOv8 loss: BCE classes, CIoU and DFL on task-aligned targets (float32)."""

    def __init__(self, model: YOLOv8) -> None:
        self.strides = model.detect.strides
        self.nc = model.detect.nc
        self.reg_max = model.detect.reg_max

    def __call__(
        self, feats: list[torch.Tensor], gt: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        feats = [f.float() for f in feats]
        flat = torch.cat([f.flatten(2) for f in feats], 2).transpose(1, 2)  # (B, A, 4R + C)
        distri, logits = flat.split((4 * self.reg_max, self.nc), -1)
        points, stride = make_anchors(feats, self.strides)
        b, a = logits.shape[:2]
        probs = distri.reshape(b, a, 4, self.reg_max).softmax(-1)
        bins = torch.arange(self.reg_max, dtype=torch.float32, device=flat.device)
        ltrb = probs @ bins
        pred = torch.cat((points - ltrb[..., :2], points + ltrb[..., 2:]), -1)  # grid units

        target_box, target_scores, fg = task_aligned_assign(
            logits.detach().sigmoid(), pred.detach() * stride, points * stride, gt
        )
        target_box = target_box / stride
        total = target_scores.sum().clamp(min=1.0)
        cls = F.binary_cross_entropy_with_logits(logits, target_scores, reduction="sum") / total

        weight = target_scores.sum(-1)[fg]
        iou = box_iou_pairs(pred[fg], target_box[fg], ciou=True)
        box = ((1.0 - iou) * weight).sum() / total

        anchor = points.expand(b, -1, -1)[fg]
        target_ltrb = torch.cat(
            (anchor - target_box[fg][:, :2], target_box[fg][:, 2:] - anchor), -1
        )
        target_ltrb = target_ltrb.clamp(0, self.reg_max - 1 - 0.01)
        left = target_ltrb.long()
        w_right = target_ltrb - left
        log_p = distri[fg].reshape(-1, 4, self.reg_max).log_softmax(-1)
        dfl = -(
            log_p.gather(-1, left[..., None])[..., 0] * (1 - w_right)
            + log_p.gather(-1, (left + 1)[..., None])[..., 0] * w_right
        ).mean(-1)
        dfl = (dfl * weight).sum() / total

        parts = torch.stack((box, cls, dfl)).detach()
        return 7.5 * box + 0.5 * cls + 1.5 * dfl, parts


# ---------------------------------------------------------------- evaluation (NumPy)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every xyxy box in ``a`` (N, 4) with every box in ``b`` (M, 4) → (N, M)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).prod(-1)
    return inter / (area_a[:, None] + area_b[None] - inter + 1e-9)


def decode(
    output: np.ndarray, conf: float = 0.001, iou: float = 0.6, max_det: int = 100
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class NMS of one YOLOv8 output (4 + C, A).

    Returns boxes xyxy (K, 4) in network pixels, scores (K,) and classes (K,), best first.
    """
    xywh, class_scores = output[:4].T, output[4:].T
    anchor, cls = np.nonzero(class_scores > conf)
    scores = class_scores[anchor, cls]
    boxes = np.concatenate(
        [xywh[anchor, :2] - xywh[anchor, 2:] / 2, xywh[anchor, :2] + xywh[anchor, 2:] / 2], 1
    )
    order = np.argsort(-scores, kind="stable")[:3000]
    boxes, scores, cls = boxes[order], scores[order], cls[order]
    # offsetting boxes by class keeps classes apart in a single NMS
    shifted = boxes + cls[:, None] * 4096.0
    overlaps = iou_matrix(shifted, shifted)
    keep = np.ones(len(scores), dtype=bool)
    for i in range(len(scores)):
        if keep[i]:
            keep[i + 1 :] &= overlaps[i, i + 1 :] <= iou
    kept = np.flatnonzero(keep)[:max_det]
    return boxes[kept], scores[kept], cls[kept]


def average_precision(
    detections: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    truths: list[tuple[np.ndarray, np.ndarray]],
    thresholds: np.ndarray,
    num_classes: int,
) -> np.ndarray:
    """COCO-style AP (101-point) per IoU threshold, averaged over classes → (T,)."""
    correct, scores, classes = [], [], []
    for (boxes, score, cls), (gt_boxes, gt_cls) in zip(detections, truths, strict=True):
        hits = np.zeros((len(boxes), len(thresholds)), dtype=bool)
        ious = iou_matrix(boxes, gt_boxes) * (cls[:, None] == gt_cls[None])
        for t, threshold in enumerate(thresholds):
            det, gt = np.nonzero(ious >= threshold)
            order = np.lexsort((-score[det], -ious[det, gt]))  # best IoU first, then score
            det, gt = det[order], gt[order]
            _, first = np.unique(gt, return_index=True)
            det, gt = det[first], gt[first]
            order = np.argsort(-score[det], kind="stable")
            _, first = np.unique(det[order], return_index=True)
            hits[det[order][first], t] = True
        correct.append(hits)
        scores.append(score)
        classes.append(cls)
    hits, score, cls = np.concatenate(correct), np.concatenate(scores), np.concatenate(classes)
    gt_cls = np.concatenate([t[1] for t in truths])
    recall_points = np.linspace(0, 1, 101)
    ap = np.zeros((num_classes, len(thresholds)))
    for c in range(num_classes):
        if not (cls == c).any():
            continue  # no detections of class c: its AP is 0
        order = np.argsort(-score[cls == c], kind="stable")
        tp = np.cumsum(hits[cls == c][order], axis=0)
        fp = np.cumsum(~hits[cls == c][order], axis=0)
        n_gt = max(int((gt_cls == c).sum()), 1)
        recall = tp / n_gt
        precision = np.maximum.accumulate((tp / np.maximum(tp + fp, 1))[::-1], axis=0)[::-1]
        for t in range(len(thresholds)):
            index = np.searchsorted(recall[:, t], recall_points, side="left")
            ap[c, t] = np.where(
                index < len(recall), precision[np.minimum(index, len(recall) - 1), t], 0.0
            ).mean()
    return ap.mean(0)


def forward(
    session: ort.InferenceSession, image: np.ndarray
) -> tuple[np.ndarray, float, np.ndarray]:
    """The raw output (4 + C, A) of one RGB image, letterboxed to the model's input size, with
    the letterbox's scale and offset."""
    height, width = session.get_inputs()[0].shape[2:]  # any model of this layout
    boxed, scale, offset = letterbox(image, width, height)
    blob = boxed.transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    (output,) = session.run(None, {"images": blob})
    return output[0], scale, offset


def detect(
    raw: tuple[np.ndarray, float, np.ndarray], conf: float, iou: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes (in image pixels), scores and classes of a :func:`forward` output, NMS per class."""
    output, scale, offset = raw
    boxes, scores, cls = decode(output, conf, iou)
    return (boxes - np.tile(offset, 2)) / scale, scores, cls


def _matches(
    boxes: np.ndarray, cls: np.ndarray, truth_xyxy: np.ndarray, truth_cls: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """IoU ≥ 0.5 overlaps of detections with truths: same class (K, N), other class (K, N)."""
    overlap = iou_matrix(boxes, truth_xyxy) >= 0.5
    same = cls[:, None] == truth_cls[None]
    return overlap & same, overlap & ~same


def open_session(onnx_path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])


def coco_map(
    detections: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    truths: list[tuple[np.ndarray, np.ndarray]],
) -> dict[str, float] | None:
    """pycocotools' bbox figures (AP, AP50, AP_small, AR_small …), or None without it.

    Boxes are pixel-centre xyxy; COCO's area of a truth is its box's w*h."""
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        return None
    images, annotations, results = [], [], []
    for image_id, ((boxes, scores, cls), (gt_xyxy, gt_cls)) in enumerate(
        zip(detections, truths, strict=True)
    ):
        images.append({"id": image_id, "width": SCENE_W, "height": SCENE_H})
        for box, c in zip(gt_xyxy.tolist(), gt_cls.tolist(), strict=True):
            w, h = box[2] - box[0], box[3] - box[1]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(c),
                    "bbox": [box[0], box[1], w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
        for box, score, c in zip(boxes.tolist(), scores.tolist(), cls.tolist(), strict=True):
            results.append(
                {
                    "image_id": image_id,
                    "category_id": int(c),
                    "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]],
                    "score": float(score),
                }
            )
    truth = COCO()
    truth.dataset = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i, "name": name} for i, name in enumerate(CLASSES)],
    }
    truth.createIndex()
    evaluation = COCOeval(truth, truth.loadRes(results), "bbox")
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    names = ["AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large"]
    names += ["AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large"]
    return {name: round(float(v), 4) for name, v in zip(names, evaluation.stats, strict=True)}


def evaluate(onnx_path: Path, count: int, threads: int) -> dict[str, object]:
    """Accuracy of ``onnx_path`` on ``count`` held-out 640x360 scenes.

    mAP from all detections (confidence 0.001, NMS IoU 0.6, 100 per image); recall and class
    confusions at the bundled config's settings (confidence 0.3, NMS IoU 0.5): a shape is found
    by a detection of its class with IoU ≥ 0.5; a confusion is a detection that overlaps a shape
    of another class (IoU ≥ 0.5) and none of its own.
    """
    session = open_session(onnx_path, threads)
    detections, truths = [], []
    found = np.zeros(2, dtype=int)  # small, all
    shapes = np.zeros(2, dtype=int)
    confusions = 0
    for index in range(count):
        image, truth = render_scene(np.random.default_rng([EVAL_SEED, index]), SCENE_W, SCENE_H)
        raw = forward(session, image)
        detections.append(detect(raw, 0.001, 0.6))
        truths.append((truth.xyxy, truth.class_id))
        boxes, _, cls = detect(raw, DEPLOY_CONF, DEPLOY_IOU)
        same, other = _matches(boxes, cls, truth.xyxy, truth.class_id)
        hit = same.any(0)
        small = (truth.xyxy[:, 2:] - truth.xyxy[:, :2]).prod(1) < SMALL_AREA
        found += [int(hit[small].sum()), int(hit.sum())]
        shapes += [int(small.sum()), len(truth)]
        confusions += int((other.any(1) & ~same.any(1)).sum())
    ap = average_precision(detections, truths, np.linspace(0.5, 0.95, 10), len(CLASSES))
    return {
        "map50": round(float(ap[0]), 4),
        "map50_95": round(float(ap.mean()), 4),
        "recall": round(float(found[1] / max(shapes[1], 1)), 4),
        "small_recall": round(float(found[0] / max(shapes[0], 1)), 4),
        "small_shapes": int(shapes[0]),
        "shapes": int(shapes[1]),
        "confusions": confusions,
        "coco": coco_map(detections, truths),
    }


def demo_check(onnx_path: Path, frames: int, threads: int) -> dict[str, int]:
    """The demo's scene (seed 7, 960x540), rendered frames (not encoded), at the bundled
    config's settings: frames where a class's count differs from the truth's (a shape at least
    half visible must be counted, one less than 20 % visible must not), class confusions, and
    how many of the shapes under 60 px across (at least half visible) were found."""
    session = open_session(onnx_path, threads)
    scene = MovingScene(DEMO_SEED, *DEMO_SIZE)
    wrong_frames = confusions = small_found = small_total = 0
    for t in range(frames):
        image, truth = scene.frame(t)
        visible = scene.visibility(t)
        boxes, _, cls = detect(forward(session, image), DEPLOY_CONF, DEPLOY_IOU)
        same, other = _matches(boxes, cls, truth.xyxy, truth.class_id)
        confusions += int((other.any(1) & ~same.any(1)).sum())
        counts = np.bincount(cls, minlength=len(CLASSES))
        must = np.bincount(truth.class_id[visible >= 0.5], minlength=len(CLASSES))
        may = np.bincount(truth.class_id[visible >= 0.2], minlength=len(CLASSES))
        wrong_frames += int(np.any((counts < must) | (counts > may)))
        small = (truth.xyxy[:, 2] - truth.xyxy[:, 0] < 60) & (visible >= 0.5)
        small_found += int(same.any(0)[small].sum())
        small_total += int(small.sum())
    return {
        "frames": frames,
        "frames_with_wrong_counts": wrong_frames,
        "confusions": confusions,
        "small_found": small_found,
        "small_total": small_total,
    }


# ---------------------------------------------------------------- training


def load_onnx_weights(model: YOLOv8, path: Path) -> None:
    """Start ``model`` from an exported model of the same architecture (any input size).

    The exporter folds every BatchNorm into its convolution, so each Conv-BN pair gets the
    folded weight and bias, with the BatchNorm made an identity plus that bias (mean 0,
    variance 1 - eps, scale 1); train such a model with frozen BatchNorm statistics
    (:func:`freeze_batchnorm`). Convolutions are matched in the order they run, by shape.
    """
    graph = onnx.load(str(path)).graph
    initialisers = {i.name: onnx.numpy_helper.to_array(i) for i in graph.initializer}
    onnx_convs = [
        [initialisers[name] for name in node.input[1:]]
        for node in graph.node
        if node.op_type == "Conv"
    ]
    order: list[torch.nn.Conv2d] = []
    hooks = [
        m.register_forward_hook(lambda module, _i, _o: order.append(module))
        for m in model.modules()
        if isinstance(m, torch.nn.Conv2d)
    ]
    was_training = model.training
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, 64, 64))
    model.train(was_training)
    for hook in hooks:
        hook.remove()
    norms = {id(m.conv): m.bn for m in model.modules() if hasattr(m, "conv") and hasattr(m, "bn")}
    if len(order) != len(onnx_convs):
        raise ValueError(f"{path}: {len(onnx_convs)} convolutions, the model has {len(order)}")
    with torch.no_grad():
        for conv, arrays in zip(order, onnx_convs, strict=True):
            weight = torch.from_numpy(arrays[0].copy())
            if weight.shape != conv.weight.shape:
                raise ValueError(f"{path}: weight {tuple(weight.shape)} for {conv}")
            conv.weight.copy_(weight)
            bias = torch.from_numpy(arrays[1].copy()) if len(arrays) > 1 else None
            if id(conv) in norms:
                bn = norms[id(conv)]
                bn.weight.fill_(1.0)
                bn.bias.copy_(bias if bias is not None else torch.zeros_like(bn.bias))
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0 - bn.eps)
            elif conv.bias is not None and bias is not None:
                conv.bias.copy_(bias)


def freeze_batchnorm(model: torch.nn.Module) -> None:
    """Keep every BatchNorm's running statistics as they are (eval mode) while training."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()


class EMA:
    """Exponential moving average of a model's weights, ramped up over the first updates."""

    def __init__(self, model: YOLOv8, decay: float = 0.999, tau: float = 500.0) -> None:
        self.model = copy.deepcopy(model)
        self.model.eval().requires_grad_(False)
        self.decay, self.tau, self.updates = decay, tau, 0
        self._mine = [v for v in self.model.state_dict().values() if v.dtype.is_floating_point]
        self._theirs = [v for v in model.state_dict().values() if v.dtype.is_floating_point]

    @torch.no_grad()
    def update(self) -> None:
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.tau))
        torch._foreach_mul_(self._mine, d)
        torch._foreach_add_(self._mine, self._theirs, alpha=1 - d)


def train(args: argparse.Namespace) -> tuple[YOLOv8, int]:
    """Train for ``args.minutes`` of wall-clock time (or ``args.steps``); the EMA model and the
    number of steps taken."""
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    images_np, labels_np = make_dataset(
        args.seed, args.images, args.workers, args.data, args.clips, args.hard
    )
    print(f"{len(images_np)} training scenes ready in {time.perf_counter() - start:.0f} s")
    if device.type == "cuda":
        images = torch.empty(images_np.shape, dtype=torch.uint8, device=device)
        for first in range(0, len(images_np), 1024):
            chunk = torch.from_numpy(np.ascontiguousarray(images_np[first : first + 1024]))
            images[first : first + len(chunk)] = chunk.to(device, non_blocking=True)
    else:
        images = torch.from_numpy(np.memmap(args.data, np.uint8, "r+", shape=images_np.shape))
    labels = torch.from_numpy(labels_np).to(device)
    generator = torch.Generator(device=device).manual_seed(args.seed)

    model = YOLOv8(len(CLASSES), 0.33, args.width, args.max_channels, REG_MAX)
    if args.init is not None:
        load_onnx_weights(model, args.init)
        print(f"starting from {args.init}; BatchNorm statistics frozen")
    for prefix in filter(None, args.freeze.split(",")):
        for name, p in model.named_parameters():
            if name.startswith(prefix + "."):
                p.requires_grad_(False)
    model = model.to(device).to(memory_format=torch.channels_last).train()
    if args.init is not None:
        freeze_batchnorm(model)
    criterion = DetectionLoss(model)
    ema = EMA(model, args.ema_decay, args.ema_tau)
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (decay if p.ndim > 1 and "bn" not in name else no_decay).append(p)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 5e-4}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr,
        betas=(0.937, 0.999),
    )
    budget = args.minutes * 60.0
    warmup = args.warmup
    train_start = time.perf_counter()
    step = 0
    running = torch.zeros(3, device=device)
    while True:
        elapsed = time.perf_counter() - train_start
        progress = step / args.steps if args.steps else elapsed / budget
        if progress >= 1.0:
            break
        lr = args.lr * (
            (step + 1) / warmup
            if step < warmup
            else 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress))
        )
        for group in optimizer.param_groups:
            group["lr"] = lr
        mosaic = progress < CLOSE_MOSAIC and (
            torch.rand(1, generator=generator, device=device).item() < args.mosaic
        )
        batch, gt = make_batch(images, labels, args.batch, mosaic, generator)
        batch = batch.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            feats = model(batch)
        loss, parts = criterion(feats, gt)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()
        ema.update()
        running += parts
        step += 1
        if step % args.log_every == 0:
            box, cls, dfl = (running / args.log_every).tolist()
            running.zero_()
            print(
                f"step {step} ({100 * progress:.0f} %) lr {lr:.5f} box {box:.4f} cls {cls:.4f} "
                f"dfl {dfl:.4f} ({time.perf_counter() - train_start:.0f} s, "
                f"{step / (time.perf_counter() - train_start):.1f} steps/s)"
            )
    return ema.model, step


def export(model: YOLOv8, path: Path) -> None:
    """Write the ONNX (opset 17, only the batch dimension symbolic) with a description."""
    model = copy.deepcopy(model).float().cpu().eval()
    model = model.to(memory_format=torch.contiguous_format)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model,
        (torch.zeros(1, 3, NET_H, NET_W),),
        str(path),
        input_names=["images"],
        output_names=["output0"],
        opset_version=17,
        dynamic_axes={"images": {0: "batch"}, "output0": {0: "batch"}},
        dynamo=False,
    )
    graph = onnx.load(str(path))
    dims = graph.graph.output[0].type.tensor_type.shape.dim
    dims[1].dim_value = 4 + model.detect.nc
    dims[2].dim_value = anchor_count()
    graph.doc_string = "visionflow shapes detector (circle, square, triangle); YOLOv8 output layout"
    onnx.checker.check_model(graph)
    onnx.save(graph, str(path))


def anchor_count() -> int:
    return sum((NET_W // s) * (NET_H // s) for s in (8, 16, 32))


def write_card(
    path: Path,
    args: argparse.Namespace,
    steps: int,
    minutes: float,
    scores: dict[str, object],
    demo: dict[str, int],
) -> None:
    labels = path.with_suffix(".labels.txt")
    labels.write_text("".join(f"{name}\n" for name in CLASSES))
    device = args.device
    if device.startswith("cuda") and torch.cuda.is_available():
        device = f"{device} ({torch.cuda.get_device_name()})"
    card = {
        "name": "shapes_det",
        "task": "detection",
        "classes": list(CLASSES),
        "labels_file": labels.name,
        "architecture": (
            f"YOLOv8 (depth 0.33, width {args.width}, max channels {args.max_channels}), "
            f"decoupled head with {REG_MAX}-bin DFL, strides 8/16/32"
        ),
        "input": {
            "name": "images",
            "shape": [1, 3, NET_H, NET_W],
            "dynamic_axes": ["batch"],
            "color_format": "RGB",
            "layout": "NCHW",
            "letterbox": "symmetric",
            "maintain_aspect_ratio": True,
            "symmetric_padding": True,
            "pad_value": 0,
            "net_scale_factor": 1 / 255,
            "offsets": [0, 0, 0],
        },
        "output": {
            "name": "output0",
            "shape": ["batch", 4 + len(CLASSES), anchor_count()],
            "layout": "yolov8",
            "description": (
                "rows 0-3 cx, cy, w, h in network-input pixels; "
                "rows 4.. sigmoid class scores; no NMS"
            ),
        },
        "training": {
            "command": " ".join(["python", "scripts/train_shapes_detector.py", *args.argv]),
            "seed": args.seed,
            "images": args.images,
            "batch": args.batch,
            "steps": steps,
            "wall_time_minutes": round(minutes, 1),
            "device": device,
        },
        "dataset": (
            "Generated by visionflow.zoo.scenes at 640x360: "
            f"{(1 - args.clips) * 5 / 7:.0%} render_scene (1-8 filled "
            "circles, squares and triangles of 16-160 px, random colour and rotation, partial "
            "overlap, on gradient/texture/noise backgrounds with line and blob clutter, blur "
            f"and noise), {(1 - args.clips) * 2 / 7:.0%} render_scene with up to 12 shapes of "
            f"14-64 px, {args.clips:.0%} MovingScene clip frames (shapes passing over each "
            "other; objects under 30 % visible unlabelled; half JPEG-compressed"
            + (
                f"; {args.hard:.0%} of them the hardest of {HARD_TRIES} random moments: "
                "triangles 40-90 % visible, small shapes"
                if args.hard
                else ""
            )
            + f"). {args.images} scenes (seed "
            f"{args.seed}); flips, channel permutations and 2x2 mosaics."
        ),
        "evaluation": {
            "scenes": args.eval_images,
            "size": f"640x360 letterboxed to {NET_W}x{NET_H}",
            "seed": EVAL_SEED,
            "nms": "per class, IoU 0.6, confidence 0.001, 100 detections",
            "metric": "COCO-style 101-point interpolated AP, mean over classes",
            "map50": scores["map50"],
            "map50_95": scores["map50_95"],
            "recall_at_0.3": scores["recall"],
            "small": f"box area under 32x32 px in the 640x360 scene ({scores['small_shapes']})",
            "small_recall_at_0.3": scores["small_recall"],
            "class_confusions_at_0.3": scores["confusions"],
            "pycocotools": scores["coco"],
            "demo_scene": demo,
        },
        "license": "Apache-2.0",
        "provenance": (
            "Trained by the visionflow project on generated data; no third-party weights or data."
        ),
    }
    path.with_suffix(".yml").write_text(yaml.safe_dump(card, sort_keys=False, width=100))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--out", type=Path, default=Path("src/visionflow/zoo/models/shapes_det.onnx")
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--minutes", type=float, default=4.0, help="training wall-clock budget")
    parser.add_argument("--steps", type=int, default=0, help="train this many steps instead")
    parser.add_argument("--images", type=int, default=20000, help="training scenes")
    parser.add_argument("--data", type=Path, default=None, help="file of the generated scenes")
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--width", type=float, default=0.125)
    parser.add_argument("--max-channels", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ema-decay", type=float, default=0.999)
    parser.add_argument("--ema-tau", type=float, default=500.0, help="EMA ramp-up, in steps")
    parser.add_argument(
        "--clips", type=float, default=CLIPS, help="fraction of MovingScene clip frames"
    )
    parser.add_argument(
        "--hard", type=float, default=0.0, help="fraction of clip frames chosen as hard moments"
    )
    parser.add_argument("--mosaic", type=float, default=MOSAIC, help="fraction of mosaic batches")
    parser.add_argument(
        "--init", type=Path, default=None, help="start from this ONNX model (same architecture)"
    )
    parser.add_argument(
        "--freeze", default="", help="comma-separated module names not to train, e.g. stem,b2"
    )
    parser.add_argument("--eval-images", type=int, default=300)
    parser.add_argument("--demo-frames", type=int, default=DEMO_FRAMES)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (torch, ORT)")
    parser.add_argument("--log-every", type=int, default=200)
    parser.add_argument("--data-only", action="store_true", help="generate the data and stop")
    parser.add_argument("--evaluate", type=Path, default=None, help="only evaluate this ONNX file")
    args = parser.parse_args()
    args.argv = sys.argv[1:]
    torch.set_num_threads(args.threads)
    if args.evaluate is not None:
        print(evaluate(args.evaluate, args.eval_images, args.threads))
        print(demo_check(args.evaluate, args.demo_frames, args.threads))
        return
    if args.data is None:
        mix = f"{args.clips:g}" + (f"_hard{args.hard:g}" if args.hard else "")
        args.data = Path(f"/tmp/shapes_det_{args.seed}_{args.images}_{mix}.u8")
    if args.data_only:
        start = time.perf_counter()
        make_dataset(args.seed, args.images, args.workers, args.data, args.clips, args.hard)
        print(f"generated {args.images} scenes in {time.perf_counter() - start:.0f} s")
        return

    start = time.perf_counter()
    model, steps = train(args)
    minutes = (time.perf_counter() - start) / 60
    export(model, args.out)
    print(f"trained {steps} steps; wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")
    scores = evaluate(args.out, args.eval_images, args.threads)
    print(f"held-out ({args.eval_images} scenes): {scores}")
    demo = demo_check(args.out, args.demo_frames, args.threads)
    print(f"demo scene: {demo}")
    write_card(args.out, args, steps, minutes, scores, demo)


if __name__ == "__main__":
    main()
