"""Fixtures of the zoo tests: the PP-OCR package and fonts, each skipping with what it needs."""

from __future__ import annotations

import pytest

NEEDS_RAPIDOCR = (
    "needs rapidocr-onnxruntime, whose package holds the PP-OCR models: "
    "pip install 'visionflow[ocr]' (the test extra installs it)"
)


@pytest.fixture
def rapidocr() -> None:
    """Skip unless rapidocr-onnxruntime is installed."""
    pytest.importorskip("rapidocr_onnxruntime", reason=NEEDS_RAPIDOCR)


@pytest.fixture
def fonts() -> None:
    """Skip unless Pillow and a TrueType font are there (Debian: fonts-dejavu-core)."""
    pytest.importorskip("PIL", reason="needs Pillow (it comes with visionflow[ocr])")
    from visionflow.zoo.text_scenes import find_fonts

    try:
        find_fonts()
    except FileNotFoundError as exc:
        pytest.skip(f"needs a TrueType font: {exc}")
