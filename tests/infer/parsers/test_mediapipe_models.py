"""MediaPipe's own TFLite models, where a copy is at hand: the selfie segmenter (custom op
``Convolution2DTransposeBias``) converts with parity against the TFLite interpreter, and the
short-range face detector runs with docs/parsers.md's ``blazeface.yml`` verbatim.

The models ship inside the ``mediapipe`` wheel up to 0.10.x (``mediapipe/modules/``); nothing is
downloaded here. Point ``MEDIAPIPE_MODULES_DIR`` at such a ``modules`` folder (for example
unpacked from ``pip download mediapipe==0.10.14 --no-deps``), or install that wheel.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")

DOCS = Path(__file__).resolve().parents[3] / "docs" / "parsers.md"
CLI = "import sys; from visionflow.cli import main; sys.argv[0] = 'visionflow'; sys.exit(main())"


def modules_dir() -> Path | None:
    given = os.environ.get("MEDIAPIPE_MODULES_DIR")
    if given:
        return Path(given)
    spec = importlib.util.find_spec("mediapipe")  # finds the package without importing it
    if spec is not None and spec.submodule_search_locations:
        folder = Path(next(iter(spec.submodule_search_locations))) / "modules"
        return folder if folder.is_dir() else None
    return None


MODULES = modules_dir()
pytestmark = pytest.mark.skipif(
    MODULES is None,
    reason="needs MediaPipe's TFLite models: set MEDIAPIPE_MODULES_DIR to the 'modules' folder "
    "of a mediapipe 0.10.x wheel",
)


def model(relative: str) -> Path:
    assert MODULES is not None
    path = MODULES / relative
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return path


def test_selfie_segmenter_with_its_custom_op_converts_with_parity(tmp_path: Path) -> None:
    from visionflow.convert.importers import import_model
    from visionflow.convert.importers.tflite_custom import read_custom_ops

    source = model("selfie_segmentation/selfie_segmentation.tflite")
    assert {op.code for op in read_custom_ops(source)} == {"Convolution2DTransposeBias"}
    result = import_model(source, output=tmp_path / "selfie.onnx")
    assert result.parity is not None
    assert result.parity.passed, result.parity
    assert result.input_layout == "NHWC"


def drawn_face(path: Path) -> dict[str, tuple[int, int]]:
    """A 256×256 cartoon face; returns where its features were drawn."""
    import cv2

    image = np.full((256, 256, 3), (200, 210, 220), np.uint8)
    cv2.ellipse(image, (128, 128), (60, 80), 0, 0, 360, (140, 170, 220), -1)
    for x in (103, 153):
        cv2.ellipse(image, (x, 110), (12, 7), 0, 0, 360, (255, 255, 255), -1)
        cv2.circle(image, (x, 110), 5, (40, 30, 20), -1)
        cv2.line(image, (x - 14, 92), (x + 14, 90), (40, 40, 60), 4)
    cv2.line(image, (128, 115), (122, 145), (100, 120, 170), 3)
    cv2.line(image, (122, 145), (134, 147), (100, 120, 170), 3)
    cv2.ellipse(image, (128, 168), (22, 8), 0, 0, 180, (60, 60, 160), -1)
    cv2.ellipse(image, (128, 60), (65, 30), 0, 180, 360, (30, 30, 40), -1)
    cv2.imwrite(str(path), image)
    return {"eye_1": (103, 110), "eye_2": (153, 110), "nose": (125, 140), "mouth": (128, 168)}


def test_blazeface_with_the_documented_config_finds_a_face_and_its_landmarks(
    tmp_path: Path,
) -> None:
    shutil.copy(model("face_detection/face_detection_short_range.tflite"), tmp_path)
    text = DOCS.read_text()
    config = re.search(r"```yaml\n(# blazeface\.yml\n.*?)```", text, flags=re.S)
    assert config is not None
    (tmp_path / "blazeface.yml").write_text(config.group(1))
    (tmp_path / "face_labels.txt").write_text("face\n")
    drawn = drawn_face(tmp_path / "face.png")
    command = ["infer", "-c", "blazeface.yml", "-i", "face.png", "-m", "f.jsonl", "--no-progress"]
    done = subprocess.run(
        [sys.executable, "-c", CLI, *command],
        cwd=tmp_path,
        env={**os.environ, "VISIONFLOW_CACHE": str(tmp_path / "cache")},
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert done.returncode == 0, done.stderr
    (face,) = json.loads((tmp_path / "f.jsonl").read_text())["objects"]
    assert face["label"] == "face"
    assert face["confidence"] > 0.8
    box = face["bbox"]
    assert 55 < box["left"] < 80
    assert 60 < box["top"] < 90
    assert 100 < box["width"] < 160
    keypoints = np.array(face["keypoints"])
    assert keypoints.shape == (6, 2)
    # BlazeFace's order: two eyes, nose tip, mouth centre, two ear tragions.
    for point, feature in zip(keypoints[:4], ("eye_1", "eye_2", "nose", "mouth"), strict=True):
        assert np.hypot(*(point - drawn[feature])) < 8, (feature, point)
