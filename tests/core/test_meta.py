from __future__ import annotations

import numpy as np
import pytest

from visionflow.core.meta import UNTRACKED, ClassifierLabel, Detections


def make(n: int = 3) -> Detections:
    xyxy = np.arange(n * 4, dtype=np.float32).reshape(n, 4)
    return Detections(
        xyxy=xyxy,
        confidence=np.linspace(0.5, 0.9, n),
        class_id=np.arange(n),
        labels=tuple(f"c{i}" for i in range(n)),
        parent=[-1] + [0] * (n - 1),
    )


def test_defaults_fill_columns() -> None:
    dets = Detections(np.zeros((2, 4)))
    assert dets.confidence.tolist() == pytest.approx([-0.1, -0.1])
    assert dets.tracker_id.tolist() == [UNTRACKED, UNTRACKED]
    assert dets.parent.tolist() == [-1, -1]
    assert dets.labels == ("", "")
    assert dets.xyxy.dtype == np.float32
    assert dets.class_id.dtype == np.int32


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"xyxy": np.zeros((3, 5))}, r"xyxy must have shape \(N, 4\), got \(3, 5\)"),
        (
            {"xyxy": np.zeros((2, 4)), "confidence": [1.0]},
            r"confidence must have shape \(2,\), got \(1,\)",
        ),
        ({"xyxy": np.zeros((2, 4)), "labels": ("a",)}, "labels must have 2 entries, got 1"),
        (
            {"xyxy": np.zeros((2, 4)), "masks": np.zeros((1, 4, 4))},
            r"masks must have shape \(2, mh, mw\)",
        ),
    ],
)
def test_validation_messages(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Detections(**kwargs)


def test_columns_are_immutable() -> None:
    dets = make()
    with pytest.raises(ValueError, match="read-only"):
        dets.xyxy[0, 0] = 5
    with pytest.raises(AttributeError):
        dets.confidence = np.zeros(3)  # type: ignore[misc]


def test_selection_remaps_parents() -> None:
    dets = make(4)
    picked = dets[np.array([False, True, True, False])]
    assert len(picked) == 2
    assert picked.labels == ("c1", "c2")
    assert picked.parent.tolist() == [-1, -1]  # parent 0 was not selected
    kept = dets[[0, 2]]
    assert kept.parent.tolist() == [-1, 0]


def test_concat_shifts_parents_and_keeps_order() -> None:
    a, b = make(2), make(3)
    joined = Detections.concat([a, b])
    assert len(joined) == 5
    assert joined.parent.tolist() == [-1, 0, -1, 2, 2]
    assert joined.labels == ("c0", "c1", "c0", "c1", "c2")


def test_replace_and_classifications_view() -> None:
    dets = make(2)
    label = ClassifierLabel(component_id=2, attribute=0, class_id=3, confidence=0.8, label="red")
    tracked = dets.replace(tracker_id=[7, 8]).with_classifications({1: [label]})
    assert dets.tracker_id.tolist() == [UNTRACKED, UNTRACKED]
    objects = list(tracked.objects())
    assert objects[1].tracker_id == 8
    assert objects[1].classifications == (label,)
    assert objects[0].classifications == ()
    assert objects[1].ltwh == pytest.approx((4.0, 5.0, 2.0, 2.0))


def test_area() -> None:
    dets = Detections(np.array([[0, 0, 10, 5], [5, 5, 4, 4]], np.float32))
    assert dets.area.tolist() == [50.0, 0.0]
