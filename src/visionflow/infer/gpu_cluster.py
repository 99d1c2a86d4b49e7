"""nvinfer's clustering on the device, for a whole batch: pre-cluster filter, NMS, post-cluster
threshold and top-K per class, then one copy of the final objects to the host.

Same semantics as :func:`visionflow.infer.cluster.cluster` (and DeepStream's
``DetectPostprocessor::fillDetectionOutput``) for ``cluster-mode`` 2 (NMS) and 4 (none):

* candidates with ``class >= num-detected-classes`` or ``confidence < pre-cluster`` are dropped;
* NMS visits each image's boxes class by class, by decreasing confidence (stable for ties), and
  suppresses a box whose IoU (no +1 on sizes) with a kept box of its class is above
  ``nms-iou-threshold``; then ``confidence > post-cluster`` is kept and the first ``topk`` of
  each class;
* mode 4 keeps the parser's order per class when ``topk < 0``, else the ``topk`` most confident.

The NMS is exact and batched: every (image, class) group of the batch is laid out as a row of a
(groups, longest group) table, the IoU of same-group pairs computed at once with the host's float32
operations, and the greedy decisions resolved together (as many rounds as the longest chain of
suppressions). torchvision's ``batched_nms`` is not used for this: below 20,000 boxes on CUDA it
offsets each group's boxes by group × (largest coordinate + 1), and at 64 images × 80 classes those
offsets reach millions, where float32 keeps a quarter of a pixel — IoUs change and so do
decisions. torchvision's plain ``nms`` (with ranks as scores, so ties break as nvinfer's) takes only
groups of more than :data:`MATRIX_LIMIT` boxes, one group at a time. The other modes (DBSCAN,
groupRectangles, hybrid), class-agnostic or weighted NMS and masks run on the host after the
candidates are copied there: :func:`gpu_cluster_supported` says which.
"""

from __future__ import annotations

import importlib.util
import itertools
from typing import TYPE_CHECKING, Any

import numpy as np

from visionflow.infer.cluster import ClusterMode, ClusterParams
from visionflow.infer.parsers.base import DetectionCandidates

if TYPE_CHECKING:
    import torch

    from visionflow.infer.gpu_parse import GpuCandidates

MATRIX_LIMIT = 8192
"""The most candidates of one class group the IoU-matrix NMS takes at once."""


def torchvision_nms() -> Any:
    """torchvision's ``nms``, or None where torchvision is not installed."""
    if importlib.util.find_spec("torchvision") is None:
        return None
    from torchvision.ops import nms

    return nms


def gpu_cluster_supported(mode: ClusterMode | int, class_agnostic: bool, weighted: bool) -> bool:
    """Whether :func:`gpu_cluster` runs this clustering (else cluster on the host)."""
    return ClusterMode(mode) in (ClusterMode.NMS, ClusterMode.NONE) and not (
        class_agnostic or weighted
    )


def _stable_order(group: torch.Tensor, confidence: torch.Tensor) -> torch.Tensor:
    """Indices sorted by group, then by decreasing confidence; ties keep their order."""
    import torch

    by_conf = torch.sort(-confidence, stable=True).indices
    return by_conf[torch.sort(group[by_conf], stable=True).indices]


def nms_sorted(xyxy: torch.Tensor, group: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """(N,) bool kept, for boxes sorted by group, then in visiting order; ``threshold`` (N,) is
    each box's class threshold. Exact greedy NMS of every group at once: the boxes are laid out
    as (groups, longest group) so only same-group pairs are compared, and the greedy decisions
    are resolved together (a box whose suppressors are all suppressed is kept, a box with a kept
    suppressor is suppressed), as many rounds as the longest chain of suppressions."""
    import torch

    n = len(xyxy)
    device = xyxy.device
    if n == 0:
        return torch.zeros(0, dtype=torch.bool, device=device)
    _, inverse, counts = torch.unique_consecutive(group, return_inverse=True, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    position = torch.arange(n, device=device) - starts[inverse]
    groups, longest = len(counts), int(counts.max())
    if longest > MATRIX_LIMIT:
        return _nms_per_group(xyxy, counts, threshold)
    boxes = xyxy.new_zeros((groups, longest, 4))
    boxes[inverse, position] = xyxy
    valid = torch.zeros((groups, longest), dtype=torch.bool, device=device)
    valid[inverse, position] = True
    limit = xyxy.new_zeros(groups)
    limit[inverse] = threshold
    later = torch.triu(torch.ones(longest, longest, dtype=torch.bool, device=device), 1)
    suppresses = later & valid[:, :, None] & valid[:, None, :]
    suppresses &= _group_iou(boxes) > limit[:, None, None]
    kept = torch.zeros((groups, longest), dtype=torch.bool, device=device)
    dropped = ~valid
    while True:
        undecided = ~kept & ~dropped
        if not bool(undecided.any()):
            return kept[inverse, position]
        blocked = (suppresses & ~dropped[:, :, None]).any(dim=1)
        kept |= undecided & ~blocked
        dropped |= (suppresses & kept[:, :, None]).any(dim=1) & ~kept


def _group_iou(boxes: torch.Tensor) -> torch.Tensor:
    """(G, L, L) IoU within each group, element for element the host NMS's float32 operations."""
    import torch

    x1, y1, x2, y2 = boxes.unbind(-1)
    area = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    inter_w = (
        torch.minimum(x2[:, :, None], x2[:, None, :])
        - torch.maximum(x1[:, :, None], x1[:, None, :])
    ).clamp(min=0)
    inter_h = (
        torch.minimum(y2[:, :, None], y2[:, None, :])
        - torch.maximum(y1[:, :, None], y1[:, None, :])
    ).clamp(min=0)
    inter = inter_w * inter_h
    union = area[:, :, None] + area[:, None, :] - inter
    positive = union > 0
    return torch.where(positive, inter / torch.where(positive, union, 1.0), 0.0)


def _nms_per_group(
    xyxy: torch.Tensor, counts: torch.Tensor, threshold: torch.Tensor
) -> torch.Tensor:
    """Groups too large for one matrix: torchvision's ``nms`` group by group (its IoU may
    differ from the host's in the last bit), else the matrix NMS in slices."""
    import torch

    nms = torchvision_nms()
    kept = torch.zeros(len(xyxy), dtype=torch.bool, device=xyxy.device)
    start = 0
    for count in counts.tolist():
        stop = start + count
        boxes = xyxy[start:stop]
        if nms is not None:
            rank = torch.arange(count, 0, -1, device=xyxy.device, dtype=torch.float32)
            kept[start + nms(boxes, rank, float(threshold[start]))] = True
        else:
            kept[start:stop] = _greedy(boxes, float(threshold[start]))
        start = stop
    return kept


def _greedy(boxes: torch.Tensor, threshold: float) -> torch.Tensor:
    """One group's greedy NMS, a box at a time against the kept ones (for huge groups)."""
    import torch

    kept = torch.zeros(len(boxes), dtype=torch.bool, device=boxes.device)
    alive = torch.ones_like(kept)
    for i in range(len(boxes)):
        if not bool(alive[i]):
            continue
        kept[i] = True
        alive &= ~(_pair(boxes[i], boxes) > threshold)
    return kept


def _pair(box: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    import torch

    area = (box[2] - box[0]).clamp(min=0) * (box[3] - box[1]).clamp(min=0)
    areas = (boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0)
    inter = (torch.minimum(box[2], boxes[:, 2]) - torch.maximum(box[0], boxes[:, 0])).clamp(
        min=0
    ) * (torch.minimum(box[3], boxes[:, 3]) - torch.maximum(box[1], boxes[:, 1])).clamp(min=0)
    union = area + areas - inter
    return torch.where(union > 0, inter / torch.where(union > 0, union, 1.0), 0.0)


def gpu_cluster(
    found: GpuCandidates,
    params: ClusterParams,
    mode: ClusterMode | int,
    batch: int,
) -> list[DetectionCandidates]:
    """Cluster the candidates of a batch on their device; the kept objects of each image, on
    the host, grouped by ascending class as :func:`visionflow.infer.cluster.cluster` returns
    them."""
    import torch

    mode = ClusterMode(mode)
    device = found.xyxy.device
    num_classes = params.num_classes
    class_id = found.class_id
    known = (class_id >= 0) & (class_id < num_classes)
    safe = torch.where(known, class_id, 0)
    pre = torch.as_tensor(params.pre_cluster, device=device)[safe]
    keep = known & ~(found.confidence < pre)
    image, xyxy = found.image[keep], found.xyxy[keep]
    confidence, class_id = found.confidence[keep], class_id[keep]
    group = image * num_classes + class_id
    topk = torch.as_tensor(params.topk, device=device)
    if mode is ClusterMode.NONE:
        # per class: the parser's order when topk < 0, else by confidence (stable)
        n = len(group)
        by_conf = torch.empty(n, dtype=torch.long, device=device)
        by_conf[torch.sort(-confidence, stable=True).indices] = torch.arange(n, device=device)
        key = torch.where(topk[class_id] < 0, torch.arange(n, device=device), by_conf)
        order = key.argsort()
        order = order[torch.sort(group[order], stable=True).indices]
    else:
        order = _stable_order(group, confidence)
        threshold = torch.as_tensor(params.nms_iou, device=device)[class_id[order]]
        order = order[nms_sorted(xyxy[order], group[order], threshold)]
        post = torch.as_tensor(params.post_cluster, device=device)[class_id[order]]
        order = order[confidence[order] > post]
    sorted_group = group[order]
    rank = torch.arange(len(order), device=device) - torch.searchsorted(
        sorted_group, sorted_group, right=False
    )
    k = topk[class_id[order]]
    order = order[(k < 0) | (rank < k)]
    packed = torch.cat(
        [
            xyxy[order],
            confidence[order, None],
            class_id[order, None].to(torch.float32),
            image[order, None].to(torch.float32),
        ],
        dim=1,
    )
    host = packed.cpu().numpy()
    images = host[:, 6].astype(np.int64)
    bounds = np.searchsorted(images, np.arange(batch + 1))
    return [
        DetectionCandidates(host[lo:hi, :4], host[lo:hi, 4], host[lo:hi, 5].astype(np.int32))
        for lo, hi in itertools.pairwise(bounds)
    ]


def to_host(found: GpuCandidates, batch: int) -> list[DetectionCandidates]:
    """The candidates of each image on the host, unclustered (for host-side clustering)."""
    import torch

    packed = (
        torch.cat(
            [
                found.xyxy,
                found.confidence[:, None],
                found.class_id[:, None].to(torch.float32),
                found.image[:, None].to(torch.float32),
            ],
            dim=1,
        )
        .cpu()
        .numpy()
    )
    images = packed[:, 6].astype(np.int64)
    bounds = np.searchsorted(images, np.arange(batch + 1))
    return [
        DetectionCandidates(packed[lo:hi, :4], packed[lo:hi, 4], packed[lo:hi, 5].astype(np.int32))
        for lo, hi in itertools.pairwise(bounds)
    ]
