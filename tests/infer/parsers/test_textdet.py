"""DB text detection on a synthetic probability map."""

from __future__ import annotations

import numpy as np
import pytest

from visionflow.infer.parsers.base import NetworkInfo, ParseContext
from visionflow.infer.parsers.textdet import parse_db_text


def test_db_text_boxes_scores_and_unclips_components() -> None:
    prob = np.zeros((16, 16), np.float32)
    prob[0:4, 12:16] = 1.0  # 4×4 at the edge: grow 16·1.5/16 = 1.5
    prob[4:8, 2:10] = 0.8  # 8 wide, 4 high: grow 32·1.5/24 = 2
    prob[12:16, 2:6] = 0.4  # binarised (> 0.3) but scores 0.4 < 0.5
    prob[12:14, 12:14] = 0.9  # 2 px high: under the minimum size of 3
    ctx = ParseContext(NetworkInfo(32, 32, 3), 1, np.array([0.5]))  # map → network: × 2
    dets = parse_db_text({"sigmoid_0": prob[None]}, ctx)
    # [10.5, −1.5, 17.5, 5.5] · 2 → clipped to the 32×32 input; [0, 2, 12, 10] · 2.
    assert dets.xyxy.tolist() == [[21, 0, 32, 11], [0, 4, 24, 20]]
    assert dets.confidence.tolist() == pytest.approx([1.0, 0.8])
    assert dets.class_id.tolist() == [0, 0]
