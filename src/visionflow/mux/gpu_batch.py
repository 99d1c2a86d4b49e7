"""Batches of device frames in preallocated, reused buffers (nvstreammux's batched surfaces).

When the sources deliver frames as torch tensors on a GPU (NVDEC, or PyAV decode + upload), the
stream muxer copies each batch's frames into one ``(N, rows, W)`` tensor taken from a
:class:`SlotRing`: a small set of preallocated tensors of one shape, handed out in turn. A slot is
reused once nothing refers to it any more (no frame of an earlier batch is alive), so in a steady
pipeline no memory is allocated per frame or per batch; the ring grows only while the pipeline's
queues fill up, and says how often it grew (:attr:`SlotRing.allocations`).

Every frame of a batch is a view of its slot (``frame.data = slot[i]``), so an element that wants
the whole batch as one tensor gets it without a copy from :func:`stacked`.

With the muxer's ``width``/``height`` set, frames are scaled on the device while they are copied
(bilinear, as the CPU muxer; letterboxed with black when ``enable_padding``): NV12 frames plane by
plane (luma at full, chroma at half resolution), RGB/BGR/GRAY frames per channel.

The buffers live on the frames' device; everything here also runs on CPU tensors (tests).
Consumers that read a frame on a CUDA stream other than the current one must synchronise with it
before they drop the frame: reuse follows the order of the current stream.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from visionflow.core.batch import Batch
from visionflow.core.frame import Frame, PixelFormat
from visionflow.core.geometry import Letterbox

log = logging.getLogger(__name__)

DEFAULT_MAX_SLOTS = 64
"""Slots of one shape a ring holds at most; past it, slots are allocated per use (and logged)."""


def _use_count(tensor: torch.Tensor) -> int:
    """How many tensors (views included) share ``tensor``'s storage, plus a constant."""
    return int(torch._C._storage_Use_Count(tensor.untyped_storage()._cdata))


class SlotRing:
    """Preallocated tensors of one shape, dtype and device, reused once no view of them is alive.

    :meth:`acquire` returns a *view* of a free slot; the slot stays taken while that view (or any
    view made from it) exists. When every slot is taken a new one is allocated (counted in
    :attr:`allocations`), up to ``max_slots``; beyond that a tensor is allocated per use and a
    warning is logged once.

    Args:
        shape: the shape of one slot.
        dtype: element type.
        device: where the slots live (``"cuda:0"``, ``"cpu"``…).
        slots: slots allocated at once.
        max_slots: most slots kept.
    """

    def __init__(
        self,
        shape: Sequence[int],
        dtype: torch.dtype = torch.uint8,
        device: torch.device | str = "cpu",
        *,
        slots: int = 2,
        max_slots: int = DEFAULT_MAX_SLOTS,
    ) -> None:
        if slots < 1 or max_slots < slots:
            raise ValueError(f"need 1 <= slots <= max_slots, got {slots} and {max_slots}")
        self.shape = tuple(int(s) for s in shape)
        self.dtype = dtype
        self.device = torch.device(device)
        self.max_slots = max_slots
        self.allocations = 0
        self.overflows = 0
        self._slots: list[torch.Tensor] = []
        self._idle: list[int] = []  # the use count of each slot when nothing else refers to it
        self._next = 0
        self._lock = threading.Lock()
        for _ in range(slots):
            self._grow()

    def __len__(self) -> int:
        return len(self._slots)

    def _grow(self) -> torch.Tensor:
        slot = torch.empty(self.shape, dtype=self.dtype, device=self.device)
        self._slots.append(slot)
        self._idle.append(_use_count(slot))
        self.allocations += 1
        return slot

    def free(self) -> int:
        """Slots not referred to by any view now."""
        with self._lock:
            return sum(
                _use_count(s) <= idle for s, idle in zip(self._slots, self._idle, strict=True)
            )

    def acquire(self) -> torch.Tensor:
        """A view of a free slot (its contents are whatever was last written there)."""
        with self._lock:
            n = len(self._slots)
            for k in range(n):
                i = (self._next + k) % n
                if _use_count(self._slots[i]) <= self._idle[i]:
                    self._next = (i + 1) % n
                    return self._slots[i].view(self.shape)
            if n < self.max_slots:
                self._next = 0
                return self._grow().view(self.shape)
            self.overflows += 1
            if self.overflows == 1:
                log.warning(
                    "all %d batch buffers of shape %s are in use; allocating per batch "
                    "(a consumer keeps frames alive)",
                    n, self.shape,
                )  # fmt: skip
        return torch.empty(self.shape, dtype=self.dtype, device=self.device)


def stacked(frames: Sequence[Frame]) -> torch.Tensor | None:
    """The frames as one ``(N, …)`` tensor without a copy, when they are consecutive views of one
    batch buffer (as :class:`GpuBatcher` makes them); else None."""
    if not frames:
        return None
    first = frames[0].data
    if not isinstance(first, torch.Tensor):
        return None
    base = first._base
    if base is None or base.dim() != first.dim() + 1:
        return None
    step = first.numel()
    start = first.storage_offset() - base.storage_offset()
    if start % step:
        return None
    i0 = start // step
    for k, frame in enumerate(frames):
        data = frame.data
        if (
            not isinstance(data, torch.Tensor)
            or data._base is not base
            or data.shape != first.shape
            or data.storage_offset() - base.storage_offset() != (i0 + k) * step
        ):
            return None
    return base[i0 : i0 + len(frames)]


def _plane_resize(src: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(C, H, W) uint8 → (C, h, w) uint8, bilinear like OpenCV's INTER_LINEAR (pixel centres,
    no antialiasing), rounded to the nearest level."""
    if tuple(src.shape[-2:]) == size:
        return src
    planes = src.unsqueeze(0).float()
    out = F.interpolate(planes, size=size, mode="bilinear", align_corners=False)
    return out.squeeze(0).round_().clamp_(0, 255).to(torch.uint8)


def scale_into(
    dst: torch.Tensor,
    src: torch.Tensor,
    fmt: PixelFormat,
    *,
    padding: bool,
    full_range: bool = False,
) -> None:
    """Scale one frame ``src`` into ``dst`` (both in layout ``fmt``, on one device), stretched or
    letterboxed (centred, black around it) as the stream muxer does."""
    if fmt is PixelFormat.NV12:
        h_src, w_src = src.shape[0] * 2 // 3, src.shape[1]
        h_dst, w_dst = dst.shape[0] * 2 // 3, dst.shape[1]
    else:
        h_src, w_src = src.shape[:2]
        h_dst, w_dst = dst.shape[:2]
    left = top = 0
    w, h = w_dst, h_dst
    if padding:
        place = Letterbox.place((w_src, h_src), (0, 0, w_dst, h_dst), (w_dst, h_dst))
        (w, h), left, top = place.scaled_size, int(place.pad_left), int(place.pad_top)
        if fmt is PixelFormat.NV12:  # chroma is subsampled: keep the picture on even pixels
            w, h, left, top = w - w % 2, h - h % 2, left - left % 2, top - top % 2
    if fmt is PixelFormat.NV12:
        y_dst, uv_dst = dst[:h_dst], dst[h_dst:].view(h_dst // 2, w_dst // 2, 2)
        y_src, uv_src = src[:h_src], src[h_src:].view(h_src // 2, w_src // 2, 2)
        if padding:
            y_dst.fill_(0 if full_range else 16)
            uv_dst.fill_(128)
        y_dst[top : top + h, left : left + w] = _plane_resize(y_src.unsqueeze(0), (h, w))[0]
        uv = _plane_resize(uv_src.permute(2, 0, 1), (h // 2, w // 2)).permute(1, 2, 0)
        uv_dst[top // 2 : top // 2 + h // 2, left // 2 : left // 2 + w // 2] = uv
        return
    if padding:
        dst.fill_(0)
    chw = src.unsqueeze(-1) if src.dim() == 2 else src
    resized = _plane_resize(chw.permute(2, 0, 1), (h, w)).permute(1, 2, 0)
    target = dst[top : top + h, left : left + w]
    target.copy_(resized if dst.dim() == 3 else resized[..., 0])


class GpuBatcher:
    """Copies the frames of a batch into reused device buffers (one ring per frame shape).

    Args:
        batch_size: frames per batch at most (the first dimension of every buffer); None: as
            many as come (buffers of the next power of two).
        width, height: scale every frame to this size when both are > 0.
        enable_padding: letterbox instead of stretching when scaling.
        slots: buffers allocated at once per shape.
        max_slots: most buffers kept per shape.
    """

    def __init__(
        self,
        batch_size: int | None,
        width: int = 0,
        height: int = 0,
        enable_padding: bool = False,
        *,
        slots: int = 2,
        max_slots: int = DEFAULT_MAX_SLOTS,
    ) -> None:
        self.batch_size = batch_size
        self.width = width
        self.height = height
        self.enable_padding = enable_padding
        self.slots = slots
        self.max_slots = max_slots
        self.rings: dict[tuple[Any, ...], SlotRing] = {}

    @property
    def allocations(self) -> int:
        """Buffers allocated so far, over every shape."""
        return sum(r.allocations for r in self.rings.values())

    def _target_shape(self, frame: Frame) -> tuple[int, ...]:
        shape = tuple(int(s) for s in frame.data.shape)
        if self.width <= 0 or self.height <= 0:
            return shape
        rows = self.height * 3 // 2 if frame.format is PixelFormat.NV12 else self.height
        return (rows, self.width, *shape[2:])

    def assemble(self, frames: Sequence[Frame], index: int = 0) -> Batch:
        """The batch of ``frames``, each copied (and scaled) into a slot of a reused buffer."""
        groups: dict[tuple[Any, ...], list[int]] = {}
        frames = [
            f.with_pixels(torch.from_numpy(f.data)) if not isinstance(f.data, torch.Tensor) else f
            for f in frames
        ]
        for i, frame in enumerate(frames):
            data = frame.data
            key = (self._target_shape(frame), data.dtype, str(data.device), frame.format)
            groups.setdefault(key, []).append(i)
        out: list[Frame] = list(frames)
        for key, members in groups.items():
            shape, dtype, device, fmt = key
            capacity = self.batch_size or 1 << (len(members) - 1).bit_length()
            ring = self.rings.get((capacity, *key))
            if ring is None:
                ring = self.rings[(capacity, *key)] = SlotRing(
                    (capacity, *shape),
                    dtype,
                    device,
                    slots=self.slots,
                    max_slots=self.max_slots,
                )
            buffer = ring.acquire()
            for slot, i in enumerate(members):
                frame = frames[i]
                view = buffer[slot]
                if tuple(frame.data.shape) == shape:
                    view.copy_(frame.data, non_blocking=True)
                else:
                    scale_into(
                        view,
                        frame.data,
                        fmt,
                        padding=self.enable_padding,
                        full_range=frame.full_range,
                    )
                out[i] = frame.with_pixels(view)
        return Batch(out, index=index)
