"""The backend protocol: load a model, describe its tensors, run a batch."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from visionflow.errors import BackendError
from visionflow.registry import Registry


@dataclass(frozen=True)
class TensorSpec:
    """Name, shape and element type of a model input or output.

    ``shape`` holds None for dynamic dimensions (a dynamic batch axis is ``shape[0] is None``).
    """

    name: str
    shape: tuple[int | None, ...]
    dtype: np.dtype

    @property
    def batch(self) -> int | None:
        """The fixed batch size, or None when the batch axis is dynamic."""
        return self.shape[0] if self.shape else None


class Backend(ABC):
    """A loaded model ready to run batches on one device.

    Subclasses register in :data:`BACKENDS` and are built by :func:`load_backend`; each loads its
    model, passes the model's tensor specs to ``Backend.__init__`` and implements :meth:`run`.
    ``infer`` takes and returns host arrays; a device backend may accept device tensors as well.
    """

    name: str = "backend"

    def __init__(
        self,
        model: Path,
        device: str,
        inputs: Sequence[TensorSpec],
        outputs: Sequence[TensorSpec],
    ) -> None:
        self.model = model
        self.device = device
        self._inputs = list(inputs)
        self._outputs = list(outputs)

    @property
    def inputs(self) -> list[TensorSpec]:
        """The model's inputs, in binding order."""
        return self._inputs

    @property
    def outputs(self) -> list[TensorSpec]:
        """The model's outputs, in binding order."""
        return self._outputs

    @abstractmethod
    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one batch exactly as given (no padding); outputs in binding order."""

    @contextmanager
    def runtime_errors(self, runtime: str, feeds: Mapping[str, np.ndarray]) -> Iterator[None]:
        """Translate what ``runtime`` raises during a run into a :class:`BackendError` that
        names the model and the shapes of ``feeds``."""
        try:
            yield
        except Exception as exc:  # runtimes raise exception types of their own
            shapes = {k: tuple(v.shape) for k, v in feeds.items()}
            raise BackendError(
                f"{runtime} failed on {self.model.name} with inputs {shapes}: {exc}"
            ) from exc

    @property
    def max_batch(self) -> int | None:
        """The fixed batch size of the model, or None when its batch axis is dynamic."""
        return self.inputs[0].batch if self.inputs else None

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run a batch of any size: a fixed-batch model gets padded (and split) batches.

        Padding rows are zeros and their outputs are discarded.
        """
        fixed = self.max_batch
        n = len(next(iter(feeds.values())))
        if fixed is None or n == fixed:
            return self.run(feeds)
        parts: list[dict[str, np.ndarray]] = []
        for start in range(0, n, fixed):
            chunk = {k: v[start : start + fixed] for k, v in feeds.items()}
            size = len(next(iter(chunk.values())))
            if size < fixed:
                chunk = {
                    k: np.concatenate([v, np.zeros((fixed - size, *v.shape[1:]), v.dtype)])
                    for k, v in chunk.items()
                }
            out = self.run(chunk)
            parts.append({k: v[:size] for k, v in out.items()})
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def describe(self) -> dict[str, Any]:
        """A JSON-friendly description (for ``doctor``, reports and logs)."""
        return {
            "backend": self.name,
            "model": str(self.model),
            "device": self.device,
            "inputs": [(t.name, t.shape, str(t.dtype)) for t in self.inputs],
            "outputs": [(t.name, t.shape, str(t.dtype)) for t in self.outputs],
        }

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.model.name} on {self.device}>"


BACKENDS: Registry[type[Backend]] = Registry("backend")


def load_backend(
    model: str | Path,
    backend: str = "onnxruntime",
    *,
    device: str = "cpu",
    allow_fallback: bool = False,
    **options: Any,
) -> Backend:
    """Load ``model`` with the named backend on ``device``.

    Raises :class:`~visionflow.errors.DeviceUnavailableError` when the device cannot be used,
    unless ``allow_fallback`` (then it warns, naming the device asked for and the one used).
    """
    cls = BACKENDS.get(backend)
    return cls(Path(model), device=device, allow_fallback=allow_fallback, **options)  # type: ignore[call-arg]
