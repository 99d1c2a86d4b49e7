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


def _masks(n: int, size: tuple[int, int], value: float) -> np.ndarray:
    return np.full((n, *size), value, np.float32)


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        (None, None, None),
        # a detector (no masks) followed by instance segmentation: the masks are kept
        (None, (4, 4), [0.0, 0.0, 2.0, 2.0, 2.0]),
        ((4, 4), None, [1.0, 1.0, 0.0, 0.0, 0.0]),
        ((4, 4), (4, 4), [1.0, 1.0, 2.0, 2.0, 2.0]),
    ],
)
def test_concat_keeps_masks_of_any_part(
    first: tuple[int, int] | None, second: tuple[int, int] | None, expected: list[float] | None
) -> None:
    a = make(2).replace(masks=None if first is None else _masks(2, first, 1.0), mask_threshold=0.3)
    b = make(3).replace(masks=None if second is None else _masks(3, second, 2.0))
    joined = Detections.concat([a, b])
    if expected is None:
        assert joined.masks is None
        return
    assert joined.masks is not None
    assert joined.masks.shape == (5, 4, 4)
    assert joined.masks.dtype == np.float32
    assert joined.masks[:, 0, 0].tolist() == expected
    assert (joined.masks == joined.masks[:, :1, :1]).all()  # each mask is uniform
    assert joined.mask_threshold == (0.3 if first is not None else 0.5)


def test_concat_resizes_masks_of_different_sizes_to_the_largest() -> None:
    a = make(1).replace(masks=_masks(1, (2, 8), 1.0))
    b = make(2).replace(masks=_masks(2, (6, 3), 0.5))
    joined = Detections.concat([a, Detections.empty(), b])
    assert joined.masks is not None
    assert joined.masks.shape == (3, 6, 8)
    assert joined.masks[0].tolist() == np.ones((6, 8)).tolist()
    assert joined.masks[1:].tolist() == np.full((2, 6, 8), 0.5).tolist()


@pytest.mark.parametrize(
    ("dtype", "fill"),
    [
        (np.float32, np.nan),
        (np.float64, np.nan),
        (np.int32, -1),
        (np.int64, -1),
        (np.uint8, 255),
        (np.uint64, 2**64 - 1),
        (np.bool_, False),
        (np.dtype("<U5"), ""),
        (np.dtype("S3"), b""),
        (np.dtype("datetime64[ms]"), np.datetime64("NaT")),
        (object, None),
    ],
)
@pytest.mark.parametrize("missing_from", ["first", "second", "neither"])
def test_concat_keeps_extra_columns_and_fills_missing_rows(
    dtype: type, fill: object, missing_from: str
) -> None:
    values = np.array([1, 0, 1], dtype=np.int64).astype(dtype)
    a, b = make(2), make(3)
    if missing_from != "first":
        a = a.replace(extra={"col": values[:2]})
    if missing_from != "second":
        b = b.replace(extra={"col": values})
    joined = Detections.concat([a, b])
    column = joined.extra["col"]
    assert column.dtype == np.dtype(dtype)
    expected = {
        "first": [fill, fill, *values.tolist()],
        "second": [*values[:2].tolist(), fill, fill, fill],
        "neither": [*values[:2].tolist(), *values.tolist()],
    }[missing_from]
    got = column.tolist()
    for g, e in zip(got, expected, strict=True):
        if isinstance(e, float) and np.isnan(e):
            assert np.isnan(g)
        elif isinstance(e, np.datetime64):
            assert g is None  # NaT reads back as None
        else:
            assert g == e
            assert type(g) is type(e)


def test_concat_extra_columns_keep_shape_and_widen_dtypes() -> None:
    a = make(2).replace(extra={"embedding": np.ones((2, 3), np.float16), "n": np.int32([1, 2])})
    b = make(1).replace(extra={"n": np.int64([3])})
    joined = Detections.concat([a, b])
    assert joined.extra["n"].dtype == np.int64
    assert joined.extra["n"].tolist() == [1, 2, 3]
    embedding = joined.extra["embedding"]
    assert embedding.shape == (3, 3)
    assert embedding.dtype == np.float16
    assert np.isnan(embedding[2]).all()
    assert (embedding[:2] == 1).all()


def test_concat_refuses_extra_columns_of_different_row_shapes() -> None:
    a = make(1).replace(extra={"embedding": np.ones((1, 3))})
    b = make(1).replace(extra={"embedding": np.ones((1, 4))})
    with pytest.raises(ValueError, match="different shapes") as err:
        Detections.concat([a, b])
    assert str(err.value) == (
        "extra column 'embedding' has rows of different shapes: (None, 3), (None, 4)"
    )


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
