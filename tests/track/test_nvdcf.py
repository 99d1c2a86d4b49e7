"""The nvdcf tracker: appearance keeps identities where motion alone loses them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from visionflow.core.batch import Batch
from visionflow.core.frame import Frame, PixelFormat
from visionflow.core.meta import Detections
from visionflow.track import (
    ALGORITHMS,
    REID_EMBEDDING,
    NvDCFTracker,
    Tracker,
    TrackerAlgorithm,
    preset,
)
from visionflow.track.appearance import features, similarity

RED, BLUE, GREEN = (220, 40, 40), (40, 60, 220), (40, 200, 60)
SIZE = 40


def canvas(seed: int) -> np.ndarray:
    """A 640x360 grey, noisy background."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(110, 12, (360, 640, 3)), 0, 255).astype(np.uint8)


def scene(
    objects: Sequence[tuple[float, float, tuple[int, int, int]] | None], seed: int
) -> tuple[np.ndarray, Detections]:
    """A frame with filled squares at ``(x, y, colour)`` (None: hidden), and the detector's
    boxes of the visible ones (what a perfect detector reports)."""
    image = canvas(seed)
    boxes = []
    for obj in objects:
        if obj is None:
            continue
        x, y, colour = obj
        x0, y0 = round(x), round(y)
        image[y0 : y0 + SIZE, x0 : x0 + SIZE] = colour
        boxes.append([x0, y0, x0 + SIZE, y0 + SIZE])
    n = len(boxes)
    return image, Detections(
        np.asarray(boxes, np.float32).reshape(n, 4),
        confidence=np.full(n, 0.9, np.float32),
        class_id=np.zeros(n, np.int32),
    )


def tracker(algorithm: str, **fields: object) -> TrackerAlgorithm:
    return ALGORITHMS.get(algorithm)(preset(algorithm, **fields))  # type: ignore[arg-type]


def ids_of(
    t: TrackerAlgorithm, frames: list[tuple[np.ndarray, Detections]]
) -> list[dict[tuple[int, int], int]]:
    """Per frame: reported box left x, top y (rounded) → id."""
    out = []
    for image, dets in frames:
        got = t.update(dets, True, image)
        out.append({(round(float(b[0])), round(float(b[1]))): int(i)
                    for b, i in zip(got.xyxy, got.tracker_id, strict=True)})  # fmt: skip
    return out


def id_at(frame: dict, x: float, y: float) -> int | None:
    """The id reported nearest ``(x, y)`` (within 25 px)."""
    near = [(abs(k[0] - x) + abs(k[1] - y), v) for k, v in frame.items()]
    near = [n for n in near if n[0] <= 25]
    return min(near)[1] if near else None


def occlusion_jump(hidden: int) -> list[tuple[np.ndarray, Detections]]:
    """A red square moves right, is hidden for ``hidden`` frames, and reappears 80 px lower and
    30 px short of where it was going (where its motion does not predict it); a blue square
    crosses the picture far away all along."""
    frames = []
    for f in range(60):
        red: tuple[float, float, tuple[int, int, int]] | None
        if f < 20:
            red = (100 + 4 * f, 100, RED)
        elif f < 20 + hidden:
            red = None
        else:
            red = (100 + 4 * f - 30, 180, RED)
        blue = (560 - 3 * f, 280, BLUE)
        frames.append(scene([red, blue], seed=f))
    return frames


def test_an_object_back_from_occlusion_off_its_predicted_path_keeps_its_id_with_nvdcf() -> None:
    hidden = 12  # under maxShadowTrackingAge (30 in NVIDIA's NvDCF_perf settings)
    frames = occlusion_jump(hidden)

    dcf = ids_of(tracker("nvdcf"), frames)
    sort = ids_of(tracker("nvsort"), frames)

    before = id_at(dcf[19], 176, 100)
    assert before is not None
    back = 20 + hidden + 8  # reported again once re-associated (no new probation)
    assert id_at(dcf[back], 4 * back + 70, 180) == before
    assert id_at(dcf[59], 4 * 59 + 70, 180) == before
    # the motion model alone does not find it again: a new id
    sort_before = id_at(sort[19], 176, 100)
    assert sort_before is not None
    assert id_at(sort[59], 4 * 59 + 70, 180) not in (None, sort_before)
    # the blue square kept one id throughout, with both
    assert len({id_at(f, 560 - 3 * k, 280) for k, f in enumerate(dcf[10:], 10)}) == 1


def test_an_object_hidden_longer_than_max_shadow_tracking_age_gets_a_new_id() -> None:
    frames = occlusion_jump(hidden=12)
    t = tracker("nvdcf", max_shadow_tracking_age=8, reassoc_gallery_age=0)

    ids = ids_of(t, frames)

    assert id_at(ids[59], 4 * 59 + 70, 180) not in (None, id_at(ids[19], 176, 100))


def test_a_terminated_target_that_comes_back_takes_its_id_again_from_the_gallery() -> None:
    frames = occlusion_jump(hidden=12)
    t = tracker("nvdcf", max_shadow_tracking_age=8)  # terminated 9 frames after it hid

    ids = ids_of(t, frames)

    before = id_at(ids[19], 176, 100)
    assert before is not None
    # back on frame 32, a new target on probation (3 frames), then confirmed with the old id
    assert id_at(ids[32 + 3], 4 * 35 + 70, 180) in (None, before)
    assert id_at(ids[59], 4 * 59 + 70, 180) == before
    assert id_at(ids[40], 4 * 40 + 70, 180) == before
    # the blue square is no candidate: it kept its own id
    assert len({id_at(f, 560 - 3 * k, 280) for k, f in enumerate(ids[10:], 10)}) == 1


def test_a_gallery_entry_is_forgotten_after_reassoc_gallery_age() -> None:
    frames = occlusion_jump(hidden=12)
    t = tracker("nvdcf", max_shadow_tracking_age=2, reassoc_gallery_age=5)

    ids = ids_of(t, frames)

    assert id_at(ids[59], 4 * 59 + 70, 180) not in (None, id_at(ids[19], 176, 100))


def missed_for(frames_missed: range) -> list[tuple[np.ndarray, Detections]]:
    """A red square moving right and down; the detector misses it on ``frames_missed``
    although it is in the picture."""
    out = []
    for f in range(40):
        image, dets = scene([(100 + 5 * f, 100 + 2 * f, RED)], seed=f)
        out.append((image, dets[:0] if f in frames_missed else dets))
    return out


def test_the_visual_tracker_reports_a_target_the_detector_missed_where_it_is() -> None:
    frames = missed_for(range(20, 28))
    t = tracker("nvdcf")
    reported = [t.update(dets, True, image) for image, dets in frames]

    for f in range(20, 28):
        got = reported[f]
        assert len(got) == 1, f  # followed, not in shadow tracking
        assert got.tracker_id[0] == reported[19].tracker_id[0]
        assert got.confidence[0] == np.float32(-0.1)  # a tracker-only object
        assert got.extra["tracker_confidence"][0] >= 0.2
        x, y = float(got.xyxy[0, 0]), float(got.xyxy[0, 1])
        assert abs(x - (100 + 5 * f)) <= 4, (f, x)
        assert abs(y - (100 + 2 * f)) <= 4, (f, y)
    assert reported[30].tracker_id[0] == reported[19].tracker_id[0]


def test_without_visual_tracker_or_under_min_tracker_confidence_a_missed_target_is_shadow() -> None:
    frames = missed_for(range(20, 28))
    for fields in ({"visual_tracker": False}, {"min_tracker_confidence": 1.0}):
        t = tracker("nvdcf", **fields)
        reported = [t.update(dets, True, image) for image, dets in frames]
        assert all(len(reported[f]) == 0 for f in range(20, 28)), fields
        assert reported[30].tracker_id[0] == reported[19].tracker_id[0]  # shadow tracking


def test_the_visual_tracker_lets_go_of_a_target_that_is_gone() -> None:
    # the square leaves the picture's content: from frame 20 on it is not drawn at all
    frames = []
    for f in range(40):
        image, dets = scene([(100 + 5 * f, 100 + 2 * f, RED)] if f < 20 else [], seed=f)
        frames.append((image, dets))
    t = tracker("nvdcf")
    reported = [t.update(dets, True, image) for image, dets in frames]

    assert len(reported[19]) == 1
    assert sum(len(r) for r in reported[20:]) <= 2  # the background does not look like it


def test_a_different_looking_object_does_not_take_a_lost_targets_id() -> None:
    # as occlusion_jump, but a green square appears where the red one would come back
    frames = []
    for f in range(60):
        red = (100 + 4 * f, 100, RED) if f < 20 else None
        green = (100 + 4 * f - 30, 180, GREEN) if f >= 32 else None
        frames.append(scene([red, green], seed=f))

    ids = ids_of(tracker("nvdcf"), frames)

    assert id_at(ids[59], 4 * 59 + 70, 180) not in (None, id_at(ids[19], 176, 100))


def crossing(swap: bool) -> list[tuple[np.ndarray, Detections]]:
    """A red and a blue square move right side by side at one speed, their paths meet and run
    together (the front one hides the other for 10 frames), then part: with ``swap`` each leaves
    on the other's lane, so its motion says nothing of which is which."""
    frames = []
    for f in range(70):
        x = 60 + 5 * f
        if f < 20:
            gap = 60 - 3 * f  # lanes converge
        elif f < 30:
            gap = 0
        else:
            gap = min(3 * (f - 30), 60) * (-1 if swap else 1)
        red = (x, 150 - gap, RED)
        blue = (x, 150 + gap, BLUE)
        both = [blue, red] if 20 <= f < 30 else [red, blue]  # red in front while merged
        image, dets = scene(both, seed=f)
        if 20 <= f < 30:
            dets = dets[np.array([1])]  # only the front one is seen
        frames.append((image, dets))
    return frames


def test_two_crossing_objects_of_different_colours_keep_their_ids_with_nvdcf() -> None:
    sort_kept = []
    for swap in (False, True):
        ids = ids_of(tracker("nvsort"), crossing(swap))
        sort_kept.append(id_at(ids[69], 60 + 5 * 69, 150 + (60 if swap else -60)) == 0)
    assert not all(sort_kept)  # motion alone swaps them (measured: in both cases)
    for swap in (False, True):
        frames = crossing(swap)
        ids = ids_of(tracker("nvdcf"), frames)
        red_lane = 150 + (60 if swap else -60)
        blue_lane = 150 - (60 if swap else -60)
        red, blue = id_at(ids[15], 135, 150 - 15), id_at(ids[15], 135, 150 + 15)
        assert None not in (red, blue), ids[15]
        assert red != blue
        assert id_at(ids[69], 60 + 5 * 69, red_lane) == red, (swap, ids[69])
        assert id_at(ids[69], 60 + 5 * 69, blue_lane) == blue, (swap, ids[69])


def test_appearance_features_tell_colours_apart_and_stay_under_noise() -> None:
    image, dets = scene([(100, 100, RED), (300, 100, BLUE), (500, 100, RED)], seed=0)
    noisy = np.clip(image + np.random.default_rng(1).normal(0, 10, image.shape), 0, 255)
    f, valid = features(image, dets.xyxy)
    g, _ = features(noisy.astype(np.uint8), dets.xyxy)

    sim = similarity(f, g)
    assert valid.all()
    assert min(sim[0, 0], sim[0, 2], sim[1, 1]) > 0.9  # same colour, noise added
    assert max(sim[0, 1], sim[1, 2]) < 0.5  # red and blue


def test_the_element_gives_nvdcf_the_frame_pixels() -> None:
    frames = occlusion_jump(hidden=12)
    element = Tracker(preset("nvdcf"))
    element.start()
    last = None
    for k, (image, dets) in enumerate(frames):
        batch = Batch([Frame(image, PixelFormat.RGB24, 0, k)])
        batch.meta.frames[0].detections = dets
        last = element.process(batch).meta.frames[0].detections
    stream = element.streams[0]
    assert isinstance(stream, NvDCFTracker)
    assert stream.has_feature.all()
    assert last is not None
    # the red square came back with the id it had (0: the first target started)
    ids = dict(zip(np.round(last.xyxy[:, 1]).tolist(), last.tracker_id.tolist(), strict=True))
    assert ids[180.0] == 0


def test_a_detection_where_the_visual_tracker_finds_a_lost_target_is_taken_by_it() -> None:
    # on frame 20 the detector gives the red square a box of 40x22 (size similarity 0.55, under
    # NvDCF_perf's minMatchingScore4SizeSimilarity 0.6): association refuses the pair, but the
    # visual tracker finds the target where that box lies (IoU 0.55 > minIouDiff4NewTarget 0.5)
    frames = missed_for(range(0))
    image, dets = frames[20]
    squashed = dets.xyxy.copy()
    squashed[0, 3] = squashed[0, 1] + 22
    frames[20] = (image, dets.replace(xyxy=squashed))
    t = tracker("nvdcf")

    reported = [t.update(d, True, im) for im, d in frames[:22]]

    got = reported[20]
    assert got.tracker_id.tolist() == [reported[19].tracker_id[0]]  # no new target beside it
    assert got.confidence[0] == np.float32(0.9)  # the detection, not a tracker-only object
    assert len(t) == 1


def same_colour_return() -> list[tuple[np.ndarray, Detections]]:
    """As ``crossing(swap=False)`` but both squares red: they meet, run together, and part
    back to their own lanes — where their motion did not lead, and their colours cannot tell."""
    frames = []
    for image, dets in crossing(swap=False):
        image = image.copy()
        image[np.all(image == BLUE, axis=2)] = RED
        frames.append((image, dets))
    return frames


def with_embeddings(frames: list[tuple[np.ndarray, Detections]]) -> list:
    """Each detection gets a re-identification embedding of its true object (0: the square on
    the upper lane, y = 150 − gap; while they are merged only object 0 is seen)."""
    out = []
    for f, (image, dets) in enumerate(frames):
        gap = 60 - 3 * f if f < 20 else 0 if f < 30 else min(3 * (f - 30), 60)
        rows = []
        for box in dets.xyxy:
            lower = abs(box[1] - (150 + gap)) < abs(box[1] - (150 - gap))
            rows.append(np.eye(8, dtype=np.float32)[1 if lower and not 20 <= f < 30 else 0])
        emb = np.asarray(rows, np.float32).reshape(len(dets), 8)
        out.append((image, dets.replace(extra={REID_EMBEDDING: emb})))
    return out


def test_user_embeddings_keep_identities_that_colours_cannot() -> None:
    frames = same_colour_return()

    colour_only = ids_of(tracker("nvdcf"), frames)
    embedded = ids_of(tracker("nvdcf"), with_embeddings(frames))

    first = id_at(embedded[15], 135, 150 - 15)  # object 0, upper lane
    second = id_at(embedded[15], 135, 150 + 15)
    assert None not in (first, second)
    assert first != second
    assert id_at(embedded[69], 60 + 5 * 69, 150 - 60) == first, embedded[69]
    assert id_at(embedded[69], 60 + 5 * 69, 150 + 60) == second, embedded[69]
    # the colour feature alone: the upper square does not end with its id
    first_colour = id_at(colour_only[15], 135, 150 - 15)
    assert id_at(colour_only[69], 60 + 5 * 69, 150 - 60) != first_colour, colour_only[69]


def test_embeddings_cannot_start_after_colour_tracking() -> None:
    t = tracker("nvdcf")
    image, dets = scene([(100, 100, RED)], seed=0)
    t.update(dets, True, image)
    emb = dets.replace(extra={REID_EMBEDDING: np.ones((1, 4), np.float32)})
    with pytest.raises(ValueError, match="reid_embedding"):
        t.update(emb, True, image)
