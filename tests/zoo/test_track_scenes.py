"""Generated tracking scenes: identities, visibility behind pillars, leaving and coming back."""

from __future__ import annotations

import numpy as np
import pytest

from visionflow.errors import ConfigError
from visionflow.zoo.track_scenes import SCENES, track_scene


def test_a_scene_is_a_pure_function_of_its_seed() -> None:
    a, b = track_scene("crossing", 3, 40), track_scene("crossing", 3, 40)
    (img_a, gt_a), (img_b, gt_b) = a.frame(20), b.frame(20)
    assert np.array_equal(img_a, img_b)
    assert np.array_equal(gt_a.xyxy, gt_b.xyxy)
    assert np.array_equal(gt_a.object_id, gt_b.object_id)
    assert img_a.shape == (360, 640, 3)
    assert img_a.dtype == np.uint8


def test_objects_behind_a_pillar_are_hidden_and_keep_their_identity() -> None:
    scene = track_scene("occlusion", 0, 200)
    seen: dict[int, list[float]] = {}
    for t in range(200):
        gt = scene.frame(t)[1]
        assert np.all((gt.visible >= 0) & (gt.visible <= 1))
        for k, v in zip(gt.object_id.tolist(), gt.visible.tolist(), strict=True):
            seen.setdefault(k, []).append(v)
    # every object crosses the picture: fully visible, then fully hidden, then visible again
    hidden_then_back = [
        k for k, vs in seen.items() if any(v == 0 for v in vs) and max(vs[vs.index(0.0) :]) > 0.9
    ]
    assert len(hidden_then_back) >= 3, {k: min(vs) for k, vs in seen.items()}


def test_objects_leave_the_picture_and_come_back_with_the_same_identity() -> None:
    scene = track_scene("leave_return", 0, 200)
    present = np.zeros((200, len(scene.trajectories)), bool)
    for t in range(200):
        present[t, scene.frame(t)[1].object_id] = True
    gaps = [np.flatnonzero(np.diff(col.astype(int)) == 1) for col in present.T]
    assert sum(len(g) >= 1 for g in gaps) >= 3  # out and back in


def test_unknown_scenes_are_refused_with_the_names_allowed() -> None:
    with pytest.raises(ConfigError, match="crossing"):
        track_scene("nope")
    assert "stop_go" in SCENES
    with pytest.raises(ConfigError, match="0 to 9"):
        track_scene("crossing", 0, 10).frame(10)
