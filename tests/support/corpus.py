"""Where the tests find DeepStream's own config files.

* :data:`DATA` (``tests/data/deepstream``) ships the few real DeepStream configs that tests read
  one by one (see its ``SOURCES.txt``): those tests run from the repository alone.
* :data:`CORPUS` is the whole corpus, ``../shared/corpus/deepstream`` beside the repository, or
  the folder named by the environment variable ``VISIONFLOW_CORPUS``. Tests that walk every
  corpus file are parametrised from the lists shipped in :data:`DATA`, so without the corpus they
  are still collected, and each one skips with :data:`NEEDS_CORPUS`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

ENV = "VISIONFLOW_CORPUS"
DATA = Path(__file__).resolve().parents[1] / "data" / "deepstream"
_DEFAULT = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "deepstream"
CORPUS = Path(os.environ.get(ENV) or _DEFAULT).resolve()
PRESENT = CORPUS.is_dir()
NEEDS_CORPUS = (
    f"needs the DeepStream corpus at {CORPUS}: ../shared/corpus/deepstream beside the "
    f"repository, or set {ENV} to its folder"
)

needs_corpus = pytest.mark.skipif(not PRESENT, reason=NEEDS_CORPUS)
"""Marks a test that reads the whole corpus."""


def listed(name: str) -> list[str]:
    """The corpus-relative paths listed in ``DATA / name`` (``#`` starts a comment)."""
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def corpus_params(list_name: str, select: Callable[[Path], bool] | None = None) -> list:
    """``pytest.param(path, id=relative path)`` for the corpus files a test walks.

    With the corpus present: the files ``select`` accepts, found in it (every file by default).
    Without: the paths listed in ``DATA / list_name``, each marked to skip with
    :data:`NEEDS_CORPUS`, so they are collected and reported as skipped.
    """
    if PRESENT:
        found = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name != "SOURCES.txt")
        chosen = [p for p in found if select is None or select(p)]
        return [pytest.param(p, id=str(p.relative_to(CORPUS))) for p in chosen]
    skip = pytest.mark.skip(reason=NEEDS_CORPUS)
    return [pytest.param(CORPUS / name, id=name, marks=skip) for name in listed(list_name)]
