"""The zoo's PP-OCR chain against RapidOCR's own pipeline on rendered text (and ground truth).

Rendered scenes: words and numbers in DejaVu fonts, tilted up to ±15° on noisy backgrounds; the
third scene is turned 180° so the direction classifier and the crop rotation matter.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from visionflow.zoo import ocr_parity as op


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> tuple[Path, list]:
    pytest.importorskip("rapidocr_onnxruntime", reason="needs rapidocr-onnxruntime: "
                        "pip install 'visionflow[ocr]' (the test extra installs it)")  # fmt: skip
    pytest.importorskip("PIL", reason="needs Pillow (it comes with visionflow[ocr])")
    from visionflow.zoo.text_scenes import find_fonts, render_text_scene

    try:
        find_fonts()
    except FileNotFoundError as exc:
        pytest.skip(f"needs a TrueType font: {exc}")
    folder = tmp_path_factory.mktemp("ocr")
    truth = []
    for seed in (11, 12, 13):
        image, lines = render_text_scene(seed, lines=4)
        quads = [line.quad for line in lines]
        if seed == 13:
            image = np.ascontiguousarray(image[::-1, ::-1])
            quads = [np.array([1279, 719], np.float32) - q for q in quads]
        cv2.imwrite(str(folder / f"scene_{seed}.png"), image[..., ::-1])
        truth.append([(q, line.text) for q, line in zip(quads, lines, strict=True)])
    return folder, truth


def test_same_texts_as_rapidocr_and_close_to_the_truth(scenes) -> None:
    folder, truth = scenes
    ours, report = op.visionflow_ocr(folder, backend="onnxruntime")
    theirs = op.rapidocr_ocr(sorted(folder.glob("*.png")))
    parity = op.compare(ours, theirs)
    assert report.frames_out == 3
    assert parity.found_a == parity.found_b == parity.matched  # every text found by both
    assert parity.equal_strings >= parity.matched - 1
    accuracy, found, lines = op.character_accuracy(ours, truth)
    theirs_accuracy, _, _ = op.character_accuracy(theirs, truth)
    assert found >= lines - 1
    assert accuracy >= theirs_accuracy - 0.02
    # the upside-down scene was read upright
    upside_down = {t.text for t in ours[2]}
    assert len(upside_down & {text for _, text in truth[2]}) >= 3


def test_polygon_iou_and_matching() -> None:
    a = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], np.float32)
    b = a + np.array([5, 0], np.float32)
    assert op.polygon_iou(a, a) == pytest.approx(1.0)
    assert op.polygon_iou(a, b) == pytest.approx(50 / 150)
    assert op.match([a, b], [b, a + 100]) == [(1, 0)]
    assert op.edit_distance("kitten", "sitting") == 3
