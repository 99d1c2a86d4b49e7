"""The README's first command, as a user runs it: ``visionflow demo`` in an empty folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from visionflow.core.geometry import box_iou
from visionflow.demo import SEED
from visionflow.zoo.scenes import CLASSES, MovingScene

FRAMES, WIDTH, HEIGHT = 240, 960, 540  # the demo's defaults


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


@pytest.mark.slow
def test_visionflow_demo_writes_an_annotated_video_and_metadata(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("visionflow")  # the console script pip installed
    assert script.is_file(), f"no console script at {script}"
    result = subprocess.run(
        [str(script), "demo", "--no-progress"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = tmp_path / "visionflow-demo"
    assert f"annotated video: {Path('visionflow-demo') / 'annotated.mp4'}" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["annotated.mp4", "input.mp4", "metadata.jsonl"]

    annotated, original = decode(out / "annotated.mp4"), decode(out / "input.mp4")
    assert len(annotated) == len(original) == FRAMES
    assert annotated[0].shape == (HEIGHT, WIDTH, 3)

    records = [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]
    assert [r["frame_num"] for r in records] == list(range(FRAMES))
    assert all(r["schema"] == "visionflow.frame/1" for r in records)
    objects = sum(len(r["objects"]) for r in records)
    assert f"objects found:   {objects} in {FRAMES} frames" in result.stdout

    # The objects are the shapes of the generated scene: the detections are right (box and
    # class), the shapes at least half visible are found, the two small triangles (28 and 34 px)
    # included, few detections name a shape's class wrongly, and in about half the frames the
    # count per class is the scene's (a shape under 20 % visible behind others may go uncounted;
    # the misses are frames where shapes overlap).
    scene = MovingScene(SEED, WIDTH, HEIGHT)
    right = found = shown = small_found = small = confused = circle_as_square = 0
    wrong_counts = []
    for record in records:
        truth = scene.frame(record["frame_num"])[1]
        visible = scene.visibility(record["frame_num"])
        boxes = np.array(
            [
                [b["left"], b["top"], b["left"] + b["width"], b["top"] + b["height"]]
                for b in (o["bbox"] for o in record["objects"])
            ],
            np.float32,
        ).reshape(-1, 4)
        labels = [o["label"] for o in record["objects"]]
        assert set(labels) <= set(CLASSES)
        overlap = box_iou(boxes, truth.xyxy) >= 0.5
        same = overlap & (np.array(labels)[:, None] == np.array(CLASSES)[truth.class_id][None, :])
        right += int(same.any(axis=1).sum())
        wrong = overlap.any(axis=1) & ~same.any(axis=1)
        confused += int(wrong.sum())
        on_circle = (overlap & (truth.class_id == CLASSES.index("circle"))[None, :]).any(axis=1)
        circle_as_square += int((wrong & on_circle & (np.array(labels) == "square")).sum())
        seen = visible >= 0.5
        found += int(same.any(axis=0)[seen].sum())
        shown += int(seen.sum())
        tiny = seen & (truth.xyxy[:, 2] - truth.xyxy[:, 0] < 60)
        small_found += int(same.any(axis=0)[tiny].sum())
        small += int(tiny.sum())
        counts = np.array([labels.count(name) for name in CLASSES])
        must = np.bincount(truth.class_id[seen], minlength=len(CLASSES))
        may = np.bincount(truth.class_id[visible >= 0.2], minlength=len(CLASSES))
        if np.any((counts < must) | (counts > may)):
            wrong_counts.append(record["frame_num"])
    # measured (640x384 model, fine-tuned a third time, 2026-12-08): 99.5 % right, 0.15 %
    # confused (2: one triangle partly hidden behind the square, frames 124-125, called
    # "square"; no circle called "square"), 96.8 % found, small 91 %, counts wrong in 44 frames;
    # the weights before: 99.3 %, 0.4 % (5), 96.2 %, 90 %, 50 frames; before them: 98.3 %, 0.8 %
    # (6 circles called "square"), 95.7 %, 90 %, 64 frames; then 94.8 %, 3.4 %, 92.7 %, 87 %, 123
    # frames; the 320x320 model: 92.2 %, 5.3 %, 64 %, 3 %, 239 frames
    assert right / objects >= 0.985, f"{right} of {objects} detections match a shape"
    assert confused <= 0.005 * objects, f"{confused} detections name the wrong class"
    assert circle_as_square <= 2, f"{circle_as_square} circles called 'square'"
    assert found / shown >= 0.955, f"{found} of {shown} shapes at least half visible found"
    assert small_found / small >= 0.89, f"{small_found} of {small} small triangles found"
    assert len(wrong_counts) <= 55, f"class counts wrong in {len(wrong_counts)} frames"

    first = records[0]["objects"][0]["bbox"]
    top, left, right = (
        round(first["top"]),
        round(first["left"]),
        round(first["left"] + first["width"]),
    )
    border = (slice(top, top + 2), slice(left + 4, right - 4))  # the box's top edge, drawn
    difference = np.abs(annotated[0][border].astype(int) - original[0][border].astype(int))
    assert difference.mean() > 40
