"""Tracker quality and cost: every algorithm on generated scenes with true identities, and per
frame at 10, 100 and 500 objects on one CPU core.

**Quality.** The scenes of :mod:`visionflow.zoo.track_scenes` (``--scenes``, default all; seeds
``--seeds``; ``--scene-frames`` frames each) are run through the bundled detector (its real
detections, not the truth) and then each tracker with NVIDIA's sample settings (``preset``;
``nvdcf`` also gets the frames' pixels), and the :data:`VARIANTS` (``nvdcf-anyclass``:
``checkClassMatch: 0``).
TrackEval scores the tracks (HOTA, DetA, AssA; CLEAR's MOTA and ID switches; Identity's IDF1),
per scene and all sequences combined. As in MOTChallenge, objects less than
``MIN_VISIBLE`` visible are not in the truth, and tracker boxes that match them are dropped.
The detector's own recall and precision are printed beside. The analytics element then counts
crossings of a line through the middle (one rule each way) and objects in the left half; the
truth counts each object once per direction, as nvdsanalytics counts a track once per line;
per tracker, the totals (counted, true, and the sum of |counted − true| so that errors which
cancel still show) without and with the tracker's past-frame data.

**Cost.** Only the tracker runs (no decoding, no detector): a seeded synthetic stream of N
objects on a 1920x1080 canvas, each moving at its own constant velocity with ±1.5 px box jitter,
bouncing off the borders; every detection is dropped with probability 5 % (shadow tracking at
work), confidences are uniform in [0.3, 1.0], classes 0–2. Algorithms that use pixels
(``nvdcf``) get each frame's picture, every object drawn as a box of its own colour on a fixed
noisy background (drawing is not timed; computing the appearance features is). The first
``--warmup`` frames (targets being created and on probation) are not timed; then each of
``--frames`` frames is timed alone (``time.perf_counter``) and the median and 90th percentile
per frame are reported, with the median CPU time of the frame (``time.thread_time``: on a
machine shared with other work, the time the core spent on the tracker, without the slices it
gave to other processes) and the mean number of reported objects as a sanity check that the
tracker tracks. Each algorithm runs
with NVIDIA's sample settings, ``max_targets_per_stream`` raised to twice the objects so that
every object is tracked. The process is pinned to one core for this part and BLAS threads are
limited to one, as are OpenCV's (``nvdcf`` calls it), as the issue's target ("on one core")
asks.

Run ``python benchmarks/tracking.py`` (needs the ``eval`` extra: TrackEval); ``--no-cost`` for
the quality part alone, ``--scenes`` with no name for the cost alone. The last line is one JSON
object.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402 - after the thread limits, which NumPy reads at import
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from visionflow.core.meta import Detections  # noqa: E402
from visionflow.track import ALGORITHMS, preset  # noqa: E402

WIDTH, HEIGHT = 1920.0, 1080.0


def stream(num_objects: int, seed: int) -> Iterator[tuple[Detections, np.ndarray]]:
    """Endless frames of ``num_objects`` moving boxes, as a detector would report them, and the
    picture: each object a box of its own colour on a fixed noisy background."""
    rng = np.random.default_rng(seed)
    background = rng.integers(60, 180, (int(HEIGHT), int(WIDTH), 3), dtype=np.uint8)
    colours = rng.integers(0, 256, (num_objects, 3), dtype=np.uint8)
    size = rng.uniform(24, 80, (num_objects, 2))
    pos = rng.uniform(0, 1, (num_objects, 2)) * ([WIDTH, HEIGHT] - size)
    vel = rng.uniform(-6, 6, (num_objects, 2))
    classes = rng.integers(0, 3, num_objects).astype(np.int32)
    while True:
        pos += vel
        for axis, limit in ((0, WIDTH), (1, HEIGHT)):
            low, high = pos[:, axis] < 0, pos[:, axis] + size[:, axis] > limit
            vel[low | high, axis] *= -1
            pos[:, axis] = np.clip(pos[:, axis], 0, limit - size[:, axis])
        seen = rng.random(num_objects) >= 0.05
        jitter = rng.uniform(-1.5, 1.5, (num_objects, 4))
        boxes = np.concatenate([pos, pos + size], axis=1) + jitter
        image = background.copy()
        for k, (x0, y0) in enumerate(pos.astype(int).tolist()):
            x1, y1 = (pos[k] + size[k]).astype(int).tolist()
            image[y0:y1, x0:x1] = colours[k]
        dets = Detections(
            boxes[seen].astype(np.float32),
            confidence=rng.uniform(0.3, 1.0, int(seen.sum())).astype(np.float32),
            class_id=classes[seen],
        )
        yield dets, image


def measure(algorithm: str, num_objects: int, frames: int, warmup: int) -> dict[str, Any]:
    config = preset(algorithm, max_targets_per_stream=2 * num_objects)  # type: ignore[arg-type]
    tracker = ALGORITHMS.get(algorithm)(config)
    source = stream(num_objects, seed=num_objects)
    for _ in range(warmup):
        tracker.update(*_inputs(next(source), tracker.needs_pixels))
    times, cpu, reported = [], [], []
    for _ in range(frames):
        dets, _, image = _inputs(next(source), tracker.needs_pixels)
        start, start_cpu = time.perf_counter(), time.thread_time()
        out = tracker.update(dets, True, image)
        cpu.append(time.thread_time() - start_cpu)
        times.append(time.perf_counter() - start)
        reported.append(len(out))
    times_ms = sorted(t * 1e3 for t in times)
    return {
        "algorithm": algorithm,
        "objects": num_objects,
        "median_ms": round(statistics.median(times_ms), 4),
        "p90_ms": round(times_ms[int(0.9 * (len(times_ms) - 1))], 4),
        "median_cpu_ms": round(statistics.median(cpu) * 1e3, 4),
        "reported_mean": round(statistics.fmean(reported), 1),
        "targets_end": len(tracker),
    }


def _inputs(
    frame: tuple[Detections, np.ndarray], pixels: bool
) -> tuple[Detections, bool, np.ndarray | None]:
    return frame[0], True, frame[1] if pixels else None


LINE = (320, 0, 320, 360)  # the middle of the 640x360 scenes, pointing down
LEFT_HALF = [(0, 0), (320, 0), (320, 360), (0, 360)]


def detect(scene: Any) -> tuple[list[Detections], list[Any], list[np.ndarray]]:
    """The bundled detector's real outputs on every frame of ``scene``, the truth and the
    pictures (RGB)."""
    from visionflow.core.batch import Batch
    from visionflow.core.frame import Frame, PixelFormat
    from visionflow.infer.element import Infer
    from visionflow.zoo import bundled_config

    infer = Infer(bundled_config("shapes_det"))
    infer.start()
    frames = [scene.frame(t) for t in range(scene.num_frames)]
    dets: list[Detections] = []
    for i in range(0, len(frames), 4):
        chunk = frames[i : i + 4]
        batch = Batch([Frame(f[0], PixelFormat.RGB24, 0, i + j) for j, f in enumerate(chunk)])
        dets += [meta.detections for meta in infer.process(batch).meta.frames]
    return dets, [f[1] for f in frames], [f[0] for f in frames]


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from visionflow.core.geometry import box_iou

    return box_iou(a, b) if len(a) and len(b) else np.zeros((len(a), len(b)), np.float32)


def trackeval_data(truth: list[Any], tracks: list[Detections]) -> dict[str, Any]:
    """One sequence in TrackEval's form, MOTChallenge's way: ground truth is every object at
    least ``MIN_VISIBLE`` visible; a tracker box that matches (IoU ≥ 0.5, Hungarian over all
    objects) a mostly hidden object is removed rather than counted as a false positive."""
    from scipy.optimize import linear_sum_assignment

    from visionflow.zoo.track_scenes import MIN_VISIBLE

    gt_ids, trk_ids, sims = [], [], []
    for gt, out in zip(truth, tracks, strict=True):
        boxes, ids = out.xyxy, out.tracker_id
        iou = _iou(gt.xyxy, boxes)
        hidden = gt.visible < MIN_VISIBLE
        if hidden.any() and len(boxes):
            rows, cols = linear_sum_assignment(-iou)
            good = iou[rows, cols] >= 0.5
            drop = cols[good & hidden[rows]]
            keep = np.ones(len(boxes), bool)
            keep[drop] = False
            boxes, ids, iou = boxes[keep], ids[keep], iou[:, keep]
        gt_ids.append(gt.object_id[~hidden])
        trk_ids.append(np.asarray(ids, np.int64))
        sims.append(iou[~hidden])
    gt_map = {v: i for i, v in enumerate(sorted({int(x) for a in gt_ids for x in a}))}
    trk_map = {v: i for i, v in enumerate(sorted({int(x) for a in trk_ids for x in a}))}
    return {
        "num_timesteps": len(truth),
        "num_gt_ids": len(gt_map),
        "num_tracker_ids": len(trk_map),
        "num_gt_dets": sum(len(a) for a in gt_ids),
        "num_tracker_dets": sum(len(a) for a in trk_ids),
        "gt_ids": [np.array([gt_map[int(x)] for x in a], int) for a in gt_ids],
        "tracker_ids": [np.array([trk_map[int(x)] for x in a], int) for a in trk_ids],
        "similarity_scores": sims,
    }


def detector_figures(truth: list[Any], dets: list[Detections]) -> dict[str, int]:
    """The detector's own part: visible objects found (IoU ≥ 0.5, one box each), boxes on no
    object (false positives: the trackers can only pass these on)."""
    from scipy.optimize import linear_sum_assignment

    from visionflow.zoo.track_scenes import MIN_VISIBLE

    found = visible = false = boxes = 0
    for gt, d in zip(truth, dets, strict=True):
        iou = _iou(gt.xyxy, d.xyxy)
        rows, cols = linear_sum_assignment(-iou) if iou.size else ([], [])
        good = [(r, c) for r, c in zip(rows, cols, strict=True) if iou[r, c] >= 0.5]
        shown = gt.visible >= MIN_VISIBLE
        visible += int(shown.sum())
        found += sum(bool(shown[r]) for r, _ in good)
        boxes += len(d)
        false += len(d) - len(good)
    return {"visible": visible, "found": found, "boxes": boxes, "false": false}


VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "nvdcf-anyclass": ("nvdcf", {"check_class_match": False}),
}
"""Quality rows beyond NVIDIA's presets: name → (algorithm, settings changed). ``nvdcf`` with
``checkClassMatch: 0`` (a DeepStream key; NVIDIA's sample sets 1): the detector's class of a
partly hidden shape is unreliable, and with the class check a target cannot take the object's
detections of another class."""


def track(
    algorithm: str, dets: list[Detections], images: list[np.ndarray]
) -> tuple[list[Detections], list[list[dict[str, Any]]]]:
    """``dets`` through a fresh tracker with NVIDIA's sample settings of ``algorithm`` (or a
    name of :data:`VARIANTS`; given the pictures when it uses pixels, as the element gives
    them): the reported objects and the past-frame data of every frame."""
    algorithm, changes = VARIANTS.get(algorithm, (algorithm, {}))
    tracker = ALGORITHMS.get(algorithm)(preset(algorithm, **changes))  # type: ignore[arg-type]
    tracks, past = [], []
    for d, image in zip(dets, images, strict=True):
        tracks.append(tracker.update(d, True, image if tracker.needs_pixels else None))
        past.append(tracker.past_frame)
    return tracks, past


def counts(
    truth: list[Any], tracks: list[Detections], past: list[list[dict[str, Any]]] | None = None
) -> dict[str, Any]:
    """Line crossings (each way) and ROI occupancy from the analytics element on the tracks,
    and the same from the truth: an object counts once per direction, as nvdsanalytics counts
    a track once per line; the ROI holds the objects at least ``MIN_VISIBLE`` visible. With
    ``past`` (the tracker's past-frame data per frame), the analytics read it
    (``use_past_frame``): crossings made on probation count too."""
    from fractions import Fraction

    from visionflow.analytics import Analytics
    from visionflow.analytics.config import AnalyticsConfig
    from visionflow.analytics.geometry import anchors, in_polygon, side
    from visionflow.core.meta import FrameMeta
    from visionflow.track import PAST_FRAME
    from visionflow.zoo.track_scenes import MIN_VISIBLE

    config = AnalyticsConfig.model_validate(
        {
            "osd_mode": 0,
            "use_past_frame": past is not None,
            "streams": {
                0: {
                    "rois": [{"label": "Left", "polygon": LEFT_HALF}],
                    "lines": [
                        {"label": "Rightward", "direction": (0, 0, 10, 0), "line": LINE},
                        {"label": "Leftward", "direction": (10, 0, 0, 0), "line": LINE},
                    ],
                }
            },
        }
    )
    analytics = Analytics(config)
    roi_errors = []
    last = None
    for t, (gt, out) in enumerate(zip(truth, tracks, strict=True)):
        meta = FrameMeta(
            source_id=0, frame_num=t, width=640, height=360, source_width=640,
            source_height=360, pts=t, time_base=Fraction(1, 30), detections=out,
        )  # fmt: skip
        if past is not None and past[t]:
            meta.user[PAST_FRAME] = past[t]
        analytics.analyse(meta)
        last = meta.analytics[-1]
        shown = gt.visible >= MIN_VISIBLE
        inside = int(in_polygon(anchors(gt.xyxy[shown]), LEFT_HALF).sum()) if shown.any() else 0
        roi_errors.append(last.objects_in_roi["Left"] - inside)
    previous: dict[int, int] = {}
    right: set[int] = set()
    left: set[int] = set()
    for gt in truth:
        if not len(gt):
            continue
        for k, s in zip(gt.object_id.tolist(), side(anchors(gt.xyxy), LINE).tolist(), strict=True):
            if s and previous.get(k, 0) and s != previous[k]:
                (right if s < 0 else left).add(k)
            if s:
                previous[k] = s
    errors = np.abs(np.array(roi_errors))
    assert last is not None
    return {
        "rightward": [int(last.line_counts["Rightward"]), len(right)],
        "leftward": [int(last.line_counts["Leftward"]), len(left)],
        "roi_exact": round(float(np.mean(errors == 0)), 3),
        "roi_mae": round(float(errors.mean()), 3),
    }


def quality(scenes: list[str], seeds: list[int], frames: int) -> dict[str, Any]:
    """HOTA, IDF1, MOTA, ID switches per tracker (TrackEval, all sequences combined) and per
    scene, and the analytics counts against the truth."""
    try:
        from trackeval.metrics import CLEAR, HOTA, Identity
    except ImportError as err:
        raise SystemExit(
            f"the quality part needs TrackEval (pip install -e '.[eval]'): {err}"
        ) from err

    from visionflow.zoo.track_scenes import track_scene

    metrics = (HOTA(), CLEAR({"PRINT_CONFIG": False}), Identity({"PRINT_CONFIG": False}))
    names = [*ALGORITHMS.names(), *VARIANTS]
    per: dict[str, dict[str, dict[str, Any]]] = {a: {} for a in names}
    line: dict[str, list[dict[str, Any]]] = {a: [] for a in names}
    detect_s = 0.0
    detector: dict[str, dict[str, Any]] = {}
    for name in scenes:
        for seed in seeds:
            start = time.perf_counter()
            dets, truth, images = detect(track_scene(name, seed, frames))
            detect_s += time.perf_counter() - start
            total = detector.setdefault(name, {"visible": 0, "found": 0, "boxes": 0, "false": 0})
            for key, value in detector_figures(truth, dets).items():
                total[key] += value
            for algorithm in names:
                tracks, past = track(algorithm, dets, images)
                data = trackeval_data(truth, tracks)
                per[algorithm][f"{name}-{seed}"] = {
                    type(m).__name__: m.eval_sequence(data) for m in metrics
                }
                with_past = counts(truth, tracks, past)
                line[algorithm].append(
                    {
                        "scene": name,
                        "seed": seed,
                        **counts(truth, tracks),
                        "past_frame": {k: with_past[k] for k in ("rightward", "leftward")},
                    }
                )
    summary: dict[str, Any] = {}
    for algorithm, sequences in per.items():
        combined = {
            type(m).__name__: m.combine_sequences(
                {k: v[type(m).__name__] for k, v in sequences.items()}
            )
            for m in metrics
        }
        scene_rows = {}
        for name in scenes:
            part = {k: v for k, v in sequences.items() if k.startswith(f"{name}-")}
            scene_rows[name] = _figures(
                {
                    type(m).__name__: m.combine_sequences(
                        {k: v[type(m).__name__] for k, v in part.items()}
                    )
                    for m in metrics
                }
            )
        summary[algorithm] = {
            **_figures(combined),
            "scenes": scene_rows,
            "counts": line[algorithm],
            "count_errors": _count_errors(line[algorithm]),
        }
    for total in detector.values():
        total["recall"] = round(total["found"] / max(total["visible"], 1), 3)
        total["precision"] = round(1 - total["false"] / max(total["boxes"], 1), 3)
    return {"detector_s": round(detect_s, 1), "detector": detector, "trackers": summary}


def _count_errors(rows: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Line-crossing totals of one tracker: crossings counted and true, and the sum of
    |counted − true| over scenes, seeds and directions (so errors that cancel still count),
    without and with past-frame data — apart for ``occlusion`` (a pillar on the line) and the
    scenes without occlusion at the line."""
    out: dict[str, dict[str, int]] = {}
    for row in rows:
        part = out.setdefault(
            "occlusion" if row["scene"] == "occlusion" else "no_occlusion",
            {"counted": 0, "true": 0, "errors": 0, "errors_past_frame": 0},
        )
        for way in ("rightward", "leftward"):
            counted, true = row[way]
            part["counted"] += counted
            part["true"] += true
            part["errors"] += abs(counted - true)
            part["errors_past_frame"] += abs(row["past_frame"][way][0] - true)
    return out


def _figures(res: dict[str, Any]) -> dict[str, Any]:
    return {
        "HOTA": round(float(np.mean(res["HOTA"]["HOTA"])), 3),
        "DetA": round(float(np.mean(res["HOTA"]["DetA"])), 3),
        "AssA": round(float(np.mean(res["HOTA"]["AssA"])), 3),
        "IDF1": round(float(res["Identity"]["IDF1"]), 3),
        "MOTA": round(float(res["CLEAR"]["MOTA"]), 3),
        "IDSW": int(res["CLEAR"]["IDSW"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300, help="timed frames per cost case")
    parser.add_argument("--warmup", type=int, default=30, help="untimed frames first")
    parser.add_argument("--objects", type=int, nargs="+", default=[10, 100, 500])
    parser.add_argument("--algorithms", nargs="+", default=ALGORITHMS.names())
    parser.add_argument("--scenes", nargs="*", default=None, help="quality scenes (default all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--scene-frames", type=int, default=200, help="frames per scene")
    parser.add_argument("--no-cost", action="store_true", help="only the quality part")
    args = parser.parse_args()
    from visionflow.zoo.track_scenes import SCENES

    scenes = list(SCENES) if args.scenes is None else args.scenes
    report: dict[str, Any] = {
        "benchmark": "tracking",
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    if scenes:
        found = quality(scenes, args.seeds, args.scene_frames)
        report["quality"] = {"scenes": scenes, "seeds": args.seeds, "frames": args.scene_frames}
        report["quality"].update(found)
        print(f"{'tracker':<15}{'HOTA':>7}{'DetA':>7}{'AssA':>7}{'IDF1':>7}{'MOTA':>7}{'IDSW':>6}")
        for algorithm, row in found["trackers"].items():
            for label, r in [("all", row), *row["scenes"].items()]:
                print(
                    f"{algorithm if label == 'all' else '  ' + label:<15}{r['HOTA']:>7.3f}"
                    f"{r['DetA']:>7.3f}{r['AssA']:>7.3f}{r['IDF1']:>7.3f}{r['MOTA']:>7.3f}"
                    f"{r['IDSW']:>6}"
                )
        print("detector alone: recall of visible objects, precision of its boxes")
        for name, d in found["detector"].items():
            print(f"  {name:<14}recall {d['recall']:.3f}  precision {d['precision']:.3f}")
        print("line crossings counted/true (rightward, leftward); ROI frames exact, mean |error|")
        for algorithm, row in found["trackers"].items():
            for part, e in row["count_errors"].items():
                print(
                    f"{algorithm:<15}{part:<14}counted {e['counted']}/{e['true']}, errors "
                    f"{e['errors']} ({e['errors_past_frame']} with past-frame data)"
                )
            for c in row["counts"]:
                print(
                    f"{algorithm:<15}{c['scene']:<14}{c['seed']:>3}  "
                    f"→ {c['rightward'][0]}/{c['rightward'][1]}  ← {c['leftward'][0]}/"
                    f"{c['leftward'][1]}  ROI {c['roi_exact']:.2f} {c['roi_mae']:.2f}"
                )
    if not args.no_cost:
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        import cv2

        cv2.setNumThreads(1)  # one core: OpenCV's worker threads would only contend on it
        results = [
            measure(algorithm, n, args.frames, args.warmup)
            for algorithm in args.algorithms
            for n in args.objects
        ]
        print(
            f"{'algorithm':<10}{'objects':>8}{'median ms':>11}{'p90 ms':>9}{'CPU ms':>9}"
            f"{'reported':>10}"
        )
        for r in results:
            print(
                f"{r['algorithm']:<10}{r['objects']:>8}{r['median_ms']:>11.3f}"
                f"{r['p90_ms']:>9.3f}{r['median_cpu_ms']:>9.3f}{r['reported_mean']:>10.1f}"
            )
        report["frames"] = args.frames
        report["results"] = results
    print(json.dumps(report))


if __name__ == "__main__":
    main()
