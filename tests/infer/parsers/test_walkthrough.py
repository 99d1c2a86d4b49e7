"""docs/parsers.md §6-7 run as a user would: the page's files written verbatim, its commands typed.

A YOLO (PyTorch → ONNX), an SSD in BlazeFace's layout (TensorFlow → TFLite) and a segmenter
(PyTorch → ONNX) run with configs only; then the custom-parser example. The files come from the
page's ``<!-- file: NAME -->`` blocks and the commands from its ``bash`` blocks, so page and code
cannot drift apart; the models are built by ``tests/support/square_models.py``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")

from support.square_models import (
    SQUARE,
    square_blazeface,
    square_image,
    square_segmenter,
    square_single_box,
    square_yolo,
)
from visionflow.core.masks import rle_decode

DOCS = Path(__file__).resolve().parents[3] / "docs" / "parsers.md"
CLI = "import sys; from visionflow.cli import main; sys.argv[0] = 'visionflow'; sys.exit(main())"
BOX = {"left": 40.0, "top": 32.0, "width": 48.0, "height": 32.0}


def page_files(text: str) -> dict[str, str]:
    return dict(re.findall(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```", text, flags=re.S))


def page_commands(text: str) -> list[list[str]]:
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["visionflow"]:
                commands.append(words)
    return commands


def run(folder: Path, words: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VISIONFLOW_CACHE": str(folder / "cache")}
    return subprocess.run(
        [sys.executable, "-c", CLI, *words[1:]],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )


def objects(path: Path) -> list[dict[str, Any]]:
    (line,) = path.read_text().splitlines()
    return list(json.loads(line)["objects"])


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("walkthrough")
    for name, body in page_files(DOCS.read_text()).items():
        (folder / name).write_text(body)
    square_image(folder / "square.png")
    square_yolo(folder / "yolo.onnx")
    square_blazeface(folder / "face.tflite")
    square_segmenter(folder / "segmenter.onnx")
    square_single_box(folder / "single_box.onnx")
    for words in page_commands(DOCS.read_text()):
        done = run(folder, words)
        assert done.returncode == 0, f"{shlex.join(words)}\n{done.stdout}\n{done.stderr}"
    return folder


def test_the_page_has_the_walkthrough() -> None:
    text = DOCS.read_text()
    assert {"yolo.yml", "face.yml", "segmenter.yml", "my_parsers.py"} <= set(page_files(text))
    assert [w[1] for w in page_commands(text)] == ["infer", "infer", "run", "infer"]


def test_yolo_with_class_agnostic_nms_gives_one_object(folder: Path) -> None:
    (found,) = objects(folder / "yolo.jsonl")
    assert (found["label"], found["confidence"], found["bbox"]) == ("square", 0.9, BOX)
    # The page's claim: without class_agnostic_nms both classes stay.
    config = (folder / "yolo.yml").read_text().replace("class_agnostic_nms: true\n", "")
    (folder / "yolo_per_class.yml").write_text(config)
    words = [
        "visionflow",
        "infer",
        "-c",
        "yolo_per_class.yml",
        "-i",
        "square.png",
        "-m",
        "pc.jsonl",
    ]
    assert run(folder, words).returncode == 0
    assert sorted(o["label"] for o in objects(folder / "pc.jsonl")) == ["box", "square"]


def test_tflite_ssd_with_generated_anchors_and_weighted_nms(folder: Path) -> None:
    (face,) = objects(folder / "face.jsonl")
    assert face["label"] == "face"
    assert face["confidence"] == pytest.approx(1 / (1 + np.exp(-5)), abs=1e-4)
    assert face["bbox"] == pytest.approx(BOX, abs=0.01)
    np.testing.assert_allclose(face["keypoints"], [[40, 32], [88, 64]], atol=0.01)


def test_segmentation_masks_in_json_lines(folder: Path) -> None:
    (line,) = (folder / "segments.jsonl").read_text().splitlines()
    (seg,) = json.loads(line)["segmentation"]
    assert (seg["classes_present"], seg["class_counts"]) == ([0, 1], {"0": 928, "1": 96})
    x1, y1, x2, y2 = (v // 4 for v in SQUARE)  # the map is a quarter of the input
    expected = np.zeros((32, 32), bool)
    expected[y1:y2, x1:x2] = True
    np.testing.assert_array_equal(rle_decode(seg["masks"]["1"]["rle"], 32, 32), expected)
    (outline,) = seg["masks"]["1"]["polygons"]
    xs, ys = outline[::2], outline[1::2]
    assert (min(xs), min(ys), max(xs), max(ys)) == (42.0, 34.0, 86.0, 62.0)


def test_custom_parser_file_from_the_page(folder: Path) -> None:
    (found,) = objects(folder / "single_box.jsonl")
    assert (found["label"], found["confidence"], found["bbox"]) == ("face", 0.8, BOX)
