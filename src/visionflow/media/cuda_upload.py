"""Host frames uploaded to a GPU: the fallback of the GPU path where NVDEC cannot decode.

:class:`UploadSource` wraps any host source (PyAV video decode, images, synthetic frames) and
yields its frames as torch tensors on a CUDA device, in the same layout (RGB24 from PyAV): each
frame is copied into a slot of a reused device buffer ring, so nothing is allocated per frame.
The pixels are exactly the CPU path's, so GPU preprocessing of these frames matches the CPU
preprocessing up to resampling. Everything else — errors, reconnection of live streams, end of
stream, timestamps — is the wrapped source's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from visionflow.core.frame import Frame
from visionflow.core.source import Source


class UploadSource(Source):
    """Frames of ``inner`` copied to ``device`` (see the module doc).

    Args:
        inner: the host source.
        device: a torch device (``"cuda:0"``; ``"cpu"`` gives host torch tensors, for tests).
        slots: device buffers allocated at once per frame shape.
    """

    kind = "upload"

    def __init__(self, inner: Source, device: Any = "cuda", *, slots: int = 4) -> None:
        super().__init__(inner.uri, inner.source_id)
        import torch

        self.inner = inner
        self.device = torch.device(device)
        self.slots = slots
        self._rings: dict[tuple[Any, ...], Any] = {}

    # the pipeline assigns source ids and asks whether a source is live: both are the inner's
    @property
    def source_id(self) -> int:
        return self.inner.source_id

    @source_id.setter
    def source_id(self, value: int) -> None:
        if hasattr(self, "inner"):
            self.inner.source_id = value

    @property
    def live(self) -> bool:
        return self.inner.live

    @live.setter
    def live(self, value: bool) -> None:
        self.inner.live = value

    @property
    def lost(self) -> bool:
        return self.inner.lost

    @property
    def num_frames(self) -> int | None:
        return self.inner.num_frames

    def frames(self) -> Iterator[Frame]:
        import torch

        from visionflow.mux.gpu_batch import SlotRing

        for frame in self.inner.frames():
            host = torch.from_numpy(frame.data)
            key = (tuple(host.shape), host.dtype)
            ring = self._rings.get(key)
            if ring is None:
                ring = self._rings[key] = SlotRing(
                    host.shape, host.dtype, self.device, slots=self.slots
                )
            slot = ring.acquire()
            slot.copy_(host)
            yield frame.with_pixels(slot)

    def interrupt(self) -> None:
        self.inner.interrupt()

    def close(self) -> None:
        self.inner.close()

    def __repr__(self) -> str:
        return f"<UploadSource {self.inner!r} → {self.device}>"
