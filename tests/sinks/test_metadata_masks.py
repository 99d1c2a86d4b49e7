"""JSON Lines masks: instance masks as RLE, polygons or both; semantic maps as masks on request."""

from __future__ import annotations

import io
import json
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from visionflow.core.batch import Batch
from visionflow.core.frame import Frame, PixelFormat
from visionflow.core.geometry import Letterbox
from visionflow.core.masks import rle_decode
from visionflow.core.meta import Detections, SegmentationMap
from visionflow.sinks.metadata import JsonLinesSink


def batch_with(dets: Detections | None = None, seg: list[SegmentationMap] | None = None) -> Batch:
    frame = Frame(np.zeros((48, 64, 3), np.uint8), PixelFormat.RGB24, source_id=0, frame_num=0,
                  pts=0, time_base=Fraction(1, 1000), uri="file:///x.mp4")  # fmt: skip
    batch = Batch([frame])
    if dets is not None:
        batch.meta.frames[0].detections = dets
    batch.meta.frames[0].segmentation = seg or []
    return batch


def write(batch: Batch, **kwargs: Any) -> tuple[dict[str, Any], int]:
    out = io.StringIO()
    sink = JsonLinesSink(out, **kwargs)
    sink.start()
    sink.process(batch)
    sink.stop()
    return json.loads(out.getvalue()), len(out.getvalue())


def one_masked_object() -> Detections:
    masks = np.zeros((1, 4, 8), np.float32)
    masks[0, 1:3, 2:6] = 0.9  # cells x 2-5, y 1-2 of an 8 × 4 mask
    return Detections(
        xyxy=np.array([[10.0, 20.0, 26.0, 28.0]]),  # 16 × 8 px: a cell is 2 × 2 px
        confidence=np.array([0.9]),
        class_id=np.array([0]),
        labels=("thing",),
        masks=masks,
    )


@pytest.mark.parametrize("masks", ["rle", "polygons", "both"])
def test_instance_mask_formats(masks: str) -> None:
    record, _ = write(batch_with(one_masked_object()), masks=masks)
    mask = record["objects"][0]["mask"]
    assert (mask["width"], mask["height"]) == (8, 4)
    if masks == "polygons":
        assert mask["rle"] is None
    else:
        expected = np.zeros((4, 8), bool)
        expected[1:3, 2:6] = True
        np.testing.assert_array_equal(rle_decode(mask["rle"], 4, 8), expected)
    if masks == "rle":
        assert "polygons" not in mask
    else:
        # Cell centres (2.5…5.5, 1.5…2.5) × 2 px + the box's corner (10, 20).
        (polygon,) = mask["polygons"]
        points = sorted(zip(polygon[::2], polygon[1::2], strict=True))
        assert points == [(15.0, 23.0), (15.0, 25.0), (21.0, 23.0), (21.0, 25.0)]


def test_segmentation_masks_only_on_request_and_in_frame_pixels() -> None:
    class_map = np.full((4, 6), -1, np.int32)
    class_map[0:2, 0:3] = 0
    class_map[2:4, 3:6] = 5
    # The network saw the whole 64 × 48 frame stretched to 12 × 8: one map cell is 2 × 2 net px.
    transform = Letterbox.fit((0, 0, 64, 48), (12, 8), maintain_aspect_ratio=False,
                              symmetric_padding=False)  # fmt: skip
    seg = SegmentationMap(component_id=3, class_map=class_map, transform=transform)
    plain, plain_size = write(batch_with(seg=[seg]))
    assert "masks" not in plain["segmentation"][0]
    record, size = write(batch_with(seg=[seg]), segmentation_masks=True, masks="both")
    entry = record["segmentation"][0]["masks"]
    assert sorted(entry) == ["0", "5"]
    np.testing.assert_array_equal(rle_decode(entry["5"]["rle"], 4, 6), class_map == 5)
    (polygon,) = entry["0"]["polygons"]
    xs, ys = polygon[::2], polygon[1::2]
    # Cells x 0-2, y 0-1: centres 0.5-2.5 / 0.5-1.5 of a 6 × 4 map over a 64 × 48 frame.
    expected = (0.5 * 64 / 6, 2.5 * 64 / 6, 6, 18)  # rounded to 2 decimals
    assert (min(xs), max(xs), min(ys), max(ys)) == pytest.approx(expected, abs=0.005)
    assert size > plain_size


def test_bad_mask_format_is_refused() -> None:
    with pytest.raises(ValueError, match="masks must be one of rle, polygons, both"):
        JsonLinesSink(io.StringIO(), masks="png")


def test_mask_keys_belong_to_jsonl_sinks() -> None:
    from pydantic import ValidationError

    from visionflow.config.pipeline import SinkConfig

    assert SinkConfig(type="jsonl", path="m.jsonl", masks="both").masks == "both"
    with pytest.raises(ValidationError, match="belong to jsonl sinks, not video"):
        SinkConfig(type="video", path="out.mp4", segmentation_masks=True)
