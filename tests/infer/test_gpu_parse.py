"""Parsers and clustering on torch tensors keep exactly the objects of the host path.

Run on CPU tensors here (CI has no GPU); the same code runs on CUDA tensors in the element's GPU
path (``scripts/gpu_check.py`` runs these checks on the GPU machine too).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from visionflow.infer.cluster import ClusterMode, ClusterParams, cluster  # noqa: E402
from visionflow.infer.gpu_cluster import gpu_cluster, nms_sorted  # noqa: E402
from visionflow.infer.gpu_parse import gpu_parser, is_detector  # noqa: E402
from visionflow.infer.parsers.base import NetworkInfo, ParseContext  # noqa: E402
from visionflow.infer.parsers.classify import parse_softmax, parse_softmax_logits  # noqa: E402
from visionflow.infer.parsers.detectnet import parse_detectnet_v2, parse_resnet10  # noqa: E402
from visionflow.infer.parsers.segment import parse_argmax  # noqa: E402
from visionflow.infer.parsers.yolo import (  # noqa: E402
    parse_deepstream_yolo,
    parse_yolo,
    parse_yolov5,
    parse_yolov8,
)

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def context(nc: int, thresholds: list[float] | None = None, size: int = 320) -> ParseContext:
    return ParseContext(
        network=NetworkInfo(size, size, 3),
        num_classes=nc,
        pre_cluster_threshold=np.array(thresholds or [0.25] * nc, np.float32),
        classifier_threshold=0.3,
        segmentation_threshold=0.2,
        labels=(("cat", "dog", "cow"), ("red", "blue")),
    )


def yolo_batch(rng: np.random.Generator, batch: int, nc: int, anchors: int) -> np.ndarray:
    """(B, 4 + nc, A) YOLOv8 heads with clusters of overlapping boxes, ties and edge boxes."""
    out = np.zeros((batch, 4 + nc, anchors), np.float32)
    centres = rng.uniform(-20, 340, (batch, 1, 8))
    pick = rng.integers(0, 8, (batch, anchors))
    cx = np.take_along_axis(centres, pick[:, None], 2)[:, 0] + rng.normal(0, 4, (batch, anchors))
    cy = np.take_along_axis(centres[:, :, ::-1], pick[:, None], 2)[:, 0] + rng.normal(
        0, 4, (batch, anchors)
    )
    out[:, 0], out[:, 1] = cx, cy
    out[:, 2:4] = rng.uniform(0.5, 60, (batch, 2, anchors))
    out[:, 4:] = rng.uniform(0, 1, (batch, nc, anchors)) ** 3
    out[:, 4:, ::7] = 0.5  # ties
    return out.round(2)  # more ties and equal boxes


def same(host: list, device: list) -> None:
    assert len(host) == len(device)
    for a, b in zip(host, device, strict=True):
        np.testing.assert_array_equal(a.class_id, b.class_id)
        np.testing.assert_array_equal(a.confidence, b.confidence)
        np.testing.assert_array_equal(a.xyxy, b.xyxy)


@pytest.mark.parametrize(
    ("mode", "topk", "thresholds"),
    [
        (ClusterMode.NMS, -1, [0.25, 0.25, 0.25]),
        (ClusterMode.NMS, 3, [0.2, 0.4, 0.3]),
        (ClusterMode.NONE, -1, [0.25, 0.25, 0.25]),
        (ClusterMode.NONE, 4, [0.25, 0.1, 0.5]),
    ],
)
def test_yolov8_parse_and_cluster_keep_the_host_objects(
    mode: ClusterMode, topk: int, thresholds: list[float]
) -> None:
    rng = np.random.default_rng(1)
    outputs = yolo_batch(rng, 4, 3, 600)
    ctx = context(3, thresholds)
    params = ClusterParams(
        pre_cluster=np.array(thresholds, np.float32),
        post_cluster=np.array([0.0, 0.3, 0.2], np.float32),
        nms_iou=np.array([0.5, 0.3, 0.45], np.float32),
        topk=np.full(3, topk, np.int32),
        eps=np.zeros(3, np.float32),
        min_boxes=np.zeros(3, np.int32),
        dbscan_min_score=np.zeros(3, np.float32),
        group_threshold=np.zeros(3, np.int32),
    )
    host = [cluster(parse_yolov8({"o": o}, ctx), params, mode) for o in outputs]
    assert sum(len(h) for h in host) > 20  # a real test: objects survive
    twin = gpu_parser(parse_yolov8)
    assert twin is not None
    assert is_detector(twin)
    found = twin({"o": torch.from_numpy(outputs).to(DEVICE)}, ctx)
    same(host, gpu_cluster(found, params, mode, len(outputs)))


def test_nms_resolves_chains_as_the_greedy_loop() -> None:
    # A suppresses B, B would suppress C, but B is gone so C stays: a chain of three.
    boxes = torch.tensor(
        [[0, 0, 10, 10], [0, 4, 10, 14], [0, 8, 10, 18], [50, 50, 60, 60]], dtype=torch.float32
    )
    kept = nms_sorted(boxes, torch.zeros(4, dtype=torch.long), torch.full((4,), 0.3))
    assert kept.tolist() == [True, False, True, True]


@pytest.mark.parametrize("parser", [parse_yolo, parse_yolov5, parse_deepstream_yolo])
def test_other_yolo_layouts_keep_the_host_candidates(parser) -> None:
    rng = np.random.default_rng(2)
    nc, anchors = 3, 300
    if parser is parse_yolov5:
        raw = rng.uniform(0, 1, (2, anchors, 5 + nc)).astype(np.float32)
        raw[..., :2] *= 320
        raw[..., 2:4] *= 50
        outputs = {"o": raw}
    elif parser is parse_deepstream_yolo:
        xy = rng.uniform(-10, 330, (2, anchors, 2))
        raw = np.concatenate(
            [
                xy,
                xy + rng.uniform(0, 40, (2, anchors, 2)),
                rng.uniform(0, 1, (2, anchors, 1)),
                rng.integers(0, nc + 1, (2, anchors, 1)),
            ],
            axis=2,
        ).astype(np.float32)
        outputs = {"o": raw}
    else:
        outputs = {"o": yolo_batch(rng, 2, nc, anchors)}
    ctx = context(nc)
    host = [parser({k: v[i] for k, v in outputs.items()}, ctx) for i in range(2)]
    found = gpu_parser(parser)({k: torch.from_numpy(v) for k, v in outputs.items()}, ctx)
    for i, h in enumerate(host):
        sel = (found.image == i).numpy()
        np.testing.assert_array_equal(found.xyxy.numpy()[sel], h.xyxy)
        np.testing.assert_array_equal(found.confidence.numpy()[sel], h.confidence)
        np.testing.assert_array_equal(found.class_id.numpy()[sel], h.class_id)


@pytest.mark.parametrize("parser", [parse_detectnet_v2, parse_resnet10])
def test_detectnet_grids_keep_the_host_candidates(parser) -> None:
    rng = np.random.default_rng(3)
    cov = rng.uniform(0, 1, (2, 3, 12, 20)).astype(np.float32)
    bbox = rng.normal(0, 3, (2, 12, 12, 20)).astype(np.float32)
    names = ("conv2d_cov/Sigmoid", "conv2d_bbox")
    ctx = ParseContext(NetworkInfo(320, 192, 3), 3, np.array([0.5, 0.2, 0.7], np.float32))
    host = [parser({names[0]: cov[i], names[1]: bbox[i]}, ctx) for i in range(2)]
    found = gpu_parser(parser)(
        {names[0]: torch.from_numpy(cov), names[1]: torch.from_numpy(bbox)}, ctx
    )
    for i, h in enumerate(host):
        sel = (found.image == i).numpy()
        assert sel.sum() == len(h) > 0
        np.testing.assert_array_equal(found.xyxy.numpy()[sel], h.xyxy)
        np.testing.assert_array_equal(found.class_id.numpy()[sel], h.class_id)


@pytest.mark.parametrize("parser", [parse_softmax, parse_softmax_logits])
def test_classifiers_give_the_host_attributes(parser) -> None:
    rng = np.random.default_rng(4)
    outputs = {
        "a": rng.uniform(0, 1, (5, 3, 1, 1)).astype(np.float32),
        "b": rng.normal(0, 2, (5, 2)).astype(np.float32),
    }
    ctx = context(3)
    host = [parser({k: v[i] for k, v in outputs.items()}, ctx) for i in range(5)]
    device = gpu_parser(parser)({k: torch.from_numpy(v) for k, v in outputs.items()}, ctx)
    for h, d in zip(host, device, strict=True):
        assert [(a.index, a.class_id, a.label) for a in h.attributes] == [
            (a.index, a.class_id, a.label) for a in d.attributes
        ]
        np.testing.assert_allclose(
            [a.confidence for a in h.attributes], [a.confidence for a in d.attributes], rtol=1e-6
        )
        assert h.description == d.description


def test_segmentation_argmax_gives_the_host_map() -> None:
    rng = np.random.default_rng(5)
    out = rng.uniform(0, 0.5, (2, 4, 16, 24)).astype(np.float32)
    ctx = context(4)
    host = [parse_argmax({"o": o}, ctx) for o in out]
    device = gpu_parser(parse_argmax)({"o": torch.from_numpy(out)}, ctx)
    for h, d in zip(host, device, strict=True):
        np.testing.assert_array_equal(h.class_map, d.class_map)
        assert (h.class_map == -1).any()
        assert (h.class_map >= 0).any()


def test_parsers_without_a_twin_say_so() -> None:
    from visionflow.infer.parsers.tao import parse_tao_nms

    assert gpu_parser(parse_tao_nms) is None
