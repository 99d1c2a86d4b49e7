"""Stream costs and their placement on workers (no Ray needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from visionflow.cluster.placement import StreamCost, least_loaded, measure, place
from visionflow.zoo.scenes import write_clip


def test_a_file_is_measured_from_its_header_and_a_camera_counts_as_1080p30(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", 320, 180, 5, fps=25)
    cost = measure(str(clip), models=2)
    assert (cost.fps, cost.width, cost.height, cost.measured) == (25.0, 320, 180, True)
    assert cost.cost == pytest.approx(25 * 320 * 180 * 2 / 1e6)
    camera = measure("rtsp://camera.invalid/stream")
    assert (camera.width, camera.height, camera.fps, camera.measured) == (1920, 1080, 30.0, False)
    assert measure(f"file://{clip}").cost == pytest.approx(25 * 320 * 180 / 1e6)


def test_largest_streams_go_first_to_the_least_loaded_worker() -> None:
    costs = {0: 62.2, 1: 27.6, 2: 62.2, 3: 27.6, 4: 6.9, 5: 6.9}  # 1080p, 720p, 360p at 30
    placed = place(costs, ["a", "b"])
    loads = {w: sum(c for s, c in costs.items() if placed[s] == w) for w in ("a", "b")}
    assert loads == pytest.approx({"a": 96.7, "b": 96.7})
    assert placed[0] != placed[2]  # the two 1080p streams apart


def test_existing_load_and_capacity_are_respected() -> None:
    placed = place({0: 1.0, 1: 1.0, 2: 1.0}, ["a", "b"], loads={"a": 5.0}, capacity=2)
    assert sorted(placed.values()) == ["a", "b", "b"]
    with pytest.raises(ValueError, match="do not fit 2 workers of 1 streams"):
        place({0: 1.0, 1: 1.0, 2: 1.0}, ["a", "b"], capacity=1)
    assert least_loaded({"a": 1.0, "b": 1.0}, {"a": 1, "b": 0}) == "b"
    assert least_loaded({"a": 1.0}, {"a": 2}, capacity=2) is None


def test_cost_counts_every_model() -> None:
    assert StreamCost(30, 1920, 1080, models=3).cost == pytest.approx(3 * 62.208)
