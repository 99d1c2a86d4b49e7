"""Fixtures of the serve tests: real clips, and a real pipeline serving its API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="needs the serve extra (fastapi, uvicorn)")
pytest.importorskip("uvicorn", reason="needs the serve extra (fastapi, uvicorn)")

from support.serving import Served, ServeFactory, pipeline_config, start_served, write_clips


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three real H.264 clips of moving shapes (320x192, 60 frames each)."""
    return write_clips(tmp_path_factory.mktemp("clips"))


@pytest.fixture
def serve(clips: list[Path]) -> Iterator[ServeFactory]:
    """``serve(config=None, token=None, view=False)``: build the app (keep_alive), run it in a
    thread, serve its API on a free port; everything is stopped after the test."""
    started: list[Served] = []

    def start(config: Any = None, **options: Any) -> Served:
        served = start_served(config or pipeline_config(clips[:1]), **options)
        started.append(served)
        return served

    yield start
    for served in started:
        served.close()
