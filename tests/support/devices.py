"""The devices a GPU element's tests run on: CPU torch tensors everywhere, CUDA where a GPU is
(those variants carry the ``gpu`` mark and skip, naming what they need, elsewhere)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=[
            pytest.mark.gpu,
            pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
        ],
    ),
]
