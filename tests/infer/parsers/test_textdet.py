"""DB text detection: PP-OCR's box scoring on the rotated box, unclip, polygons."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from visionflow.infer.parsers import resolve_parser
from visionflow.infer.parsers.base import NetworkInfo, ParseContext
from visionflow.infer.parsers.textdet import DBTextParser, clockwise, parse_db_text


def _ctx(width: int, height: int, threshold: float = 0.5) -> ParseContext:
    return ParseContext(NetworkInfo(width, height, 3), 1, np.array([threshold]))


def _tilted_line(shape: tuple[int, int], center, size, angle, value=0.8) -> np.ndarray:
    prob = np.zeros(shape, np.float32)
    corners = cv2.boxPoints((center, size, angle)).astype(np.int32)
    cv2.fillPoly(prob, [corners], value)
    return prob


def test_an_upright_block_scores_unclips_and_scales() -> None:
    prob = np.zeros((16, 16), np.float32)
    prob[4:8, 2:10] = 0.8  # contour points (2..9, 4..7): rect 7 × 3 about (5.5, 5.5)
    dets = parse_db_text({"sigmoid_0": prob[None]}, _ctx(32, 32))
    # grow 21 · 1.5 / 20 = 1.575 per side → 10.15 × 6.15; × 2 to the 32 × 32 input
    np.testing.assert_allclose(dets.xyxy, [[0.85, 4.85, 21.15, 17.15]], atol=1e-4)
    assert dets.confidence.tolist() == pytest.approx([0.8])
    assert dets.polygons is not None
    np.testing.assert_allclose(
        dets.polygons[0], [[0.85, 4.85], [21.15, 4.85], [21.15, 17.15], [0.85, 17.15]], atol=1e-4
    )


def test_a_tilted_line_is_kept_with_its_rotated_box() -> None:
    # a thin line tilted 20°: its upright box is mostly background, the rotated box mostly
    # text — scored on the upright box (the old db_text) it fell under box_thresh 0.5
    prob = _tilted_line((120, 200), (100, 60), (150, 8), 20)
    ys, xs = np.nonzero(prob)
    assert prob[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].mean() < 0.2
    dets = parse_db_text({"map": prob[None]}, _ctx(200, 120))
    assert len(dets) == 1
    assert 0.6 < dets.confidence[0] <= 0.8
    quad = dets.polygons[0]
    top_edge = quad[1] - quad[0]
    assert np.degrees(np.arctan2(top_edge[1], top_edge[0])) == pytest.approx(20, abs=1.5)
    # the upright box is the rotated box's outline, not a box around a component
    assert dets.xyxy[0].tolist() == pytest.approx(
        [quad[:, 0].min(), quad[:, 1].min(), quad[:, 0].max(), quad[:, 1].max()]
    )


@pytest.mark.parametrize(
    ("what", "prob_value", "size", "kept"),
    [
        ("score under box_thresh", 0.4, (40, 10), False),
        ("short side under 3", 0.9, (40, 2), False),
        ("both fine", 0.9, (40, 10), True),
    ],
)
def test_candidates_are_filtered_as_pp_ocr_does(what, prob_value, size, kept) -> None:
    prob = _tilted_line((64, 64), (32, 32), size, 0, prob_value)
    assert (len(parse_db_text({"m": prob}, _ctx(64, 64))) == 1) is kept, what


def test_dilated_variant_grows_more() -> None:
    prob = _tilted_line((64, 64), (32, 32), (40, 8), 10, 0.9)
    plain = parse_db_text({"m": prob}, _ctx(64, 64))
    dilated = resolve_parser("db_text_dilated")({"m": prob}, _ctx(64, 64))
    assert dilated.xyxy[0, 2] - dilated.xyxy[0, 0] > plain.xyxy[0, 2] - plain.xyxy[0, 0]


def test_a_parser_of_ones_own_settings() -> None:
    prob = _tilted_line((64, 64), (32, 32), (40, 8), 0, 0.9)
    wide = DBTextParser(unclip_ratio=3.0)({"m": prob}, _ctx(64, 64))
    plain = parse_db_text({"m": prob}, _ctx(64, 64))
    assert wide.xyxy[0, 3] - wide.xyxy[0, 1] > plain.xyxy[0, 3] - plain.xyxy[0, 1]
    assert "unclip_ratio=3.0" in repr(DBTextParser(unclip_ratio=3.0))


def test_clockwise_order_starts_top_left() -> None:
    quad = np.array([[10, 10], [0, 12], [1, 0], [11, 1]], np.float32)
    assert clockwise(quad).tolist() == [[0, 12], [10, 10], [11, 1], [1, 0]] or clockwise(
        quad
    ).tolist() == [[1, 0], [11, 1], [10, 10], [0, 12]]


def test_wrong_outputs_name_the_parser() -> None:
    with pytest.raises(Exception, match=r"db_text.*probability map"):
        parse_db_text({"a": np.zeros((2, 3, 4, 5), np.float32)}, _ctx(8, 8))


def test_same_boxes_as_rapidocr_post_processing() -> None:
    """Against the DBPostProcess inside rapidocr-onnxruntime, on a map of tilted lines."""
    utils = pytest.importorskip(
        "rapidocr_onnxruntime.ch_ppocr_det.utils",
        reason="needs rapidocr-onnxruntime (pip install 'visionflow[ocr]')",
    )
    rng = np.random.default_rng(3)
    prob = np.zeros((160, 240), np.float32)
    for i, angle in enumerate((-12, -4, 0, 7, 15)):
        center = (120 + rng.uniform(-20, 20), 16 + 30 * i)
        cv2.fillPoly(prob, [cv2.boxPoints((center, (150, 9), angle)).astype(np.int32)], 0.85)
    prob = np.clip(prob + rng.normal(0, 0.05, prob.shape).astype(np.float32), 0, 1)
    theirs_post = utils.DBPostProcess(
        thresh=0.3, box_thresh=0.5, unclip_ratio=1.6, use_dilation=True, score_mode="fast"
    )
    theirs, scores = theirs_post(prob[None, None], (320, 480))
    ours = resolve_parser("db_text_dilated")({"m": prob[None]}, _ctx(480, 320))
    assert len(ours) == len(theirs) == 5
    ours_quads = sorted(ours.polygons.tolist(), key=lambda q: q[0][1])
    theirs_quads = sorted((clockwise(q.astype(np.float32)).tolist() for q in theirs),
                          key=lambda q: q[0][1])  # fmt: skip
    # pyclipper offsets with integer vertices and 4-point arcs: within 1.6 map pixels (× 2 here)
    np.testing.assert_allclose(ours_quads, theirs_quads, atol=3.2)
    for a, b in zip(ours_quads, theirs_quads, strict=True):
        a32, b32 = np.float32(a), np.float32(b)
        inter = cv2.intersectConvexConvex(a32, b32)[0]
        assert inter / (cv2.contourArea(a32) + cv2.contourArea(b32) - inter) > 0.9
    assert sorted(ours.confidence.tolist()) == pytest.approx(sorted(scores), abs=1e-5)


def test_parser_options_change_the_settings() -> None:
    prob = _tilted_line((64, 64), (32, 32), (40, 8), 0, 0.9)
    plain = parse_db_text({"m": prob}, _ctx(64, 64))
    ctx = ParseContext(NetworkInfo(64, 64, 3), 1, np.array([0.5]), options={"unclip_ratio": 3.0})
    wide = parse_db_text({"m": prob}, ctx)
    assert wide.xyxy[0, 3] - wide.xyxy[0, 1] > plain.xyxy[0, 3] - plain.xyxy[0, 1]
    assert parse_db_text.unclip_ratio == 1.5  # the registered parser is left as it was


def test_unknown_parser_options_are_refused_at_load() -> None:
    from visionflow.infer.config import InferConfig

    with pytest.raises(ValueError, match=r"unclip: unknown option.*unclip_ratio"):
        InferConfig(parser="db_text", parser_options={"unclip": 2.0})
    assert InferConfig(parser="db_text_dilated", parser_options={"dilate": False}).parser_options
