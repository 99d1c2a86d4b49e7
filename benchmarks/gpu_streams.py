"""gpu-streams benchmark (shared/bench.md): N streams of one 1080p30 H.264 clip on an NVIDIA GPU.

Workload: N ∈ {1, 16, 64} streams of one clip made on the machine with NVENC (1920x1080, 30 fps,
4 Mb/s, no B-frames; ``--size 720p`` for 1280x720 at 2 Mb/s), each decoded by its own NVDEC
decoder (PyNvVideoCodec demuxer + decoder, one Python thread per stream), every decoded NV12
surface copied on the GPU into its stream's slot of a reused batch buffer (three batches in a
ring, as nvstreammux's batch of one frame per source) → NV12 → letterboxed RGB 640x640 FP16 on the
GPU (BT.709, bilinear, symmetric padding) → YOLOv8n-architecture detector, **random weights**
(speed does not depend on them), exported to ONNX, converted by visionflow's ONNX → torch
converter, FP16, channels-last, one CUDA graph for the batch → YOLO parser and nvinfer clustering
(pre-cluster 0.25, NMS 0.45, top-K 300) on the GPU → the final objects of the batch copied to the
host in one copy and turned into per-stream ``Detections`` (metadata). No drawing, no tracker.

Measured for each N in the same process, in this order: ``decode`` — decode and batch assembly
alone (the consumer releases each full batch at once); ``model`` — the model alone, CUDA-graph
replays at batch N; ``compute`` — preprocessing + model + parsing + clustering + host copy on a
fixed batch; ``e2e`` — the whole workload. Each stream decodes ``--frames`` frames (the clip is
reopened when it is shorter); the first ``--warmup`` batches are not timed. Figures: fps over
all streams, efficiency = e2e ÷ min(decode, model), streams held in real time = e2e ÷ 30,
latency p50/p95 from a frame's decoded copy to its metadata, peak GPU memory (torch allocations,
and the device's used memory from ``nvidia-smi`` after e2e, NVDEC surfaces included), GPU name.

``--osd`` adds the ``gpu-osd`` row: ``osd`` — the e2e workload plus its output path, measured
right after e2e in the same process: every batch's frames composed into one 1920x1080 mosaic on
the GPU (:class:`~visionflow.mux.gpu_tiler.GpuTiler`, NV12 → RGB at the tile's size), each
stream's objects drawn there (:class:`~visionflow.osd.gpu_draw.GpuOSD`: borders and label tags;
the ``--osd-objects`` most confident objects of each stream, 20 by default, since a random-weight
model's object counts are not a scene's), and the mosaic encoded by NVENC (H.264, 8 Mb/s) where
the GPU has an encoder — an H100 or H200 has none, and then the row says so and measures the
composing and drawing alone. Figures: osd fps, its cost against e2e (1 − osd ÷ e2e), the copies
of frames to the host made on the way (0 when the path stays on the GPU).

Run on the GPU machine: ``python benchmarks/gpu_streams.py [--streams 1,16,64 --size 1080p]``.
Needs torch with CUDA, PyNvVideoCodec (``visionflow[nvidia]``) and the ONNX of the detector
(``--model``; made with :func:`visionflow.zoo.yolov8.export_yolov8_onnx` when missing).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

SIZES = {"1080p": (1920, 1080, 4_000_000), "720p": (1280, 720, 2_000_000)}
NET = 640


# ----------------------------------------------------------------------------- the clip


def make_clip(path: Path, width: int, height: int, frames: int, bitrate: int) -> Path:
    """A moving scene encoded with NVENC (H.264, 30 fps, no B-frames); returns the file."""
    import torch

    from visionflow.core.batch import Batch
    from visionflow.core.frame import Frame, PixelFormat
    from visionflow.sinks.nvenc import NvencSink
    from visionflow.zoo.scenes import render_scene

    base, _ = render_scene(np.random.default_rng(0), width, height, max_objects=12)
    scene = torch.from_numpy(base).cuda()
    sink = NvencSink(path, codec="h264", bitrate=bitrate, fps=30)
    sink.start()
    for i in range(frames):
        pixels = torch.roll(scene, shifts=(2 * i, 5 * i), dims=(0, 1)).contiguous()
        frame = Frame(pixels, PixelFormat.RGB24, 0, i, pts=i, time_base=Fraction(1, 30))
        sink.process(Batch([frame]))
    sink.stop()
    return path if sink.writer != "elementary" else path.with_suffix(".h264")


# ----------------------------------------------------------------------------- batches


class BatchRing:
    """Batch buffers shared by the decoder threads and the consumer: frame ``f`` of stream ``s``
    goes to slot ``s`` of buffer ``f % depth``, once the consumer has released round
    ``f - depth``; the consumer takes round ``f`` when every stream has written it."""

    def __init__(self, streams: int, depth: int = 3) -> None:
        self.streams, self.depth = streams, depth
        self.buffers: list[Any] = []
        self.ready_at = np.zeros((depth, streams))
        self.filled = [0] * depth
        self.done = 0
        self.cond = threading.Condition()
        self.failed: BaseException | None = None

    def put(self, stream: int, frame: int, view: Any, cuda_stream: Any) -> None:
        import torch

        with self.cond:
            while frame >= self.done + self.depth and self.failed is None:
                self.cond.wait()
            if not self.buffers:
                self.buffers = [
                    torch.empty((self.streams, *view.shape), dtype=view.dtype, device=view.device)
                    for _ in range(self.depth)
                ]
        b = frame % self.depth
        self.buffers[b][stream].copy_(view, non_blocking=True)
        cuda_stream.synchronize()  # the decoder may reuse its surface from here on
        self.ready_at[b, stream] = time.perf_counter()
        with self.cond:
            self.filled[b] += 1
            if self.filled[b] == self.streams:
                self.cond.notify_all()

    def take(self, round_: int) -> Any:
        b = round_ % self.depth
        with self.cond:
            while self.filled[b] < self.streams and self.failed is None:
                self.cond.wait()
            if self.failed is not None:
                raise RuntimeError("a decoder failed") from self.failed
        return self.buffers[b]

    def release(self, round_: int) -> None:
        with self.cond:
            self.filled[round_ % self.depth] = 0
            self.done = round_ + 1
            self.cond.notify_all()

    def fail(self, exc: BaseException) -> None:
        with self.cond:
            self.failed = exc
            self.cond.notify_all()


def decode_stream(clip: Path, stream: int, frames: int, ring: BatchRing) -> None:
    """One stream: demux + NVDEC decode ``frames`` frames into the ring (reopening the clip)."""
    import PyNvVideoCodec as nvc  # noqa: N813
    import torch

    cuda_stream = torch.cuda.Stream()
    made = 0
    try:
        with torch.cuda.stream(cuda_stream):
            while made < frames:
                demuxer = nvc.CreateDemuxer(filename=str(clip))
                decoder = nvc.CreateDecoder(
                    gpuid=0,
                    codec=demuxer.GetNvCodecId(),
                    cudastream=cuda_stream.cuda_stream,
                    usedevicememory=True,
                )
                packets = [*demuxer, nvc.PacketData()]
                for packet in packets:
                    for surface in decoder.Decode(packet):
                        view = torch.from_dlpack(surface)
                        if view.dim() == 3 and view.shape[-1] == 1:
                            view = view[..., 0]
                        ring.put(stream, made, view, cuda_stream)
                        made += 1
                        if made >= frames:
                            return
    except BaseException as exc:
        ring.fail(exc)
        raise


# ----------------------------------------------------------------------------- processes


def coded_shape(clip: Path) -> tuple[int, int]:
    """The NV12 surface shape NVDEC gives for ``clip`` (decodes its first frame)."""
    import PyNvVideoCodec as nvc  # noqa: N813
    import torch

    demuxer = nvc.CreateDemuxer(filename=str(clip))
    decoder = nvc.CreateDecoder(gpuid=0, codec=demuxer.GetNvCodecId(), usedevicememory=True)
    for packet in [*demuxer, nvc.PacketData()]:
        for surface in decoder.Decode(packet):
            view = torch.from_dlpack(surface)
            return (int(view.shape[0]), int(view.shape[1]))
    raise RuntimeError(f"{clip}: no frame decoded")


class _WorkerRing:
    """A decode process's side of a :class:`ProcessRing`: its own GPU ring, shared counters."""

    def __init__(self, ring: Any, worker: int, first: int, shared: dict[str, Any]) -> None:
        self.ring, self.worker, self.first = ring, worker, first
        self.depth = ring.shape[0]
        self.shared = shared
        self.lock = threading.Lock()

    def put(self, stream: int, frame: int, view: Any, cuda_stream: Any) -> None:
        shared = self.shared
        while frame >= shared["done"].value + self.depth:
            time.sleep(0.0002)
        b = frame % self.depth
        self.ring[b, stream - self.first].copy_(view, non_blocking=True)
        cuda_stream.synchronize()
        shared["ready_at"][b * shared["streams"] + stream] = time.perf_counter()
        with self.lock:
            shared["filled"][self.worker * self.depth + b] += 1

    def fail(self, exc: BaseException) -> None:
        self.shared["failed"].value = 1


def decode_worker(
    worker: int,
    clip: str,
    first: int,
    count: int,
    frames: int,
    shape: tuple[int, int],
    shared: dict[str, Any],
    handles: Any,
) -> None:
    """A decode process: ``count`` streams from ``first`` on, one thread each, into a GPU ring
    whose handle goes to the consumer through ``handles`` (CUDA IPC)."""
    import torch

    depth = shared["depth"]
    ring = torch.empty((depth, count, *shape), dtype=torch.uint8, device="cuda")
    handles.put((worker, ring))
    writer = _WorkerRing(ring, worker, first, shared)
    threads = [
        threading.Thread(target=decode_stream, args=(Path(clip), first + k, frames, writer))
        for k in range(count)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    while not shared["stop"].is_set():  # the consumer reads the ring until it says stop
        time.sleep(0.01)


class ProcessRing:
    """Batches assembled from several decode processes (``--processes``): each process decodes
    its share of the streams with one thread per stream into its own GPU ring; the consumer
    sees the rings through CUDA IPC and concatenates one round of every ring into the batch."""

    def __init__(self, clip: Path, streams: int, frames: int, processes: int) -> None:
        import torch.multiprocessing as mp

        ctx = mp.get_context("spawn")
        self.depth, self.streams, self.processes = 3, streams, processes
        self.shared = {
            "depth": self.depth,
            "streams": streams,
            "filled": ctx.Array("i", processes * self.depth, lock=False),
            "done": ctx.Value("i", 0, lock=False),
            "ready_at": ctx.Array("d", self.depth * streams, lock=False),
            "failed": ctx.Value("i", 0, lock=False),
            "stop": ctx.Event(),
        }
        self.counts = [streams // processes + (w < streams % processes) for w in range(processes)]
        starts = np.concatenate([[0], np.cumsum(self.counts)[:-1]])
        handles = ctx.Queue()
        shape = coded_shape(clip)
        self.workers = [
            ctx.Process(
                target=decode_worker,
                args=(
                    w,
                    str(clip),
                    int(starts[w]),
                    self.counts[w],
                    frames,
                    shape,
                    self.shared,
                    handles,
                ),
                daemon=True,
            )
            for w in range(processes)
        ]
        for p in self.workers:
            p.start()
        rings = dict(handles.get(timeout=120) for _ in range(processes))
        self.rings = [rings[w] for w in range(processes)]

    @property
    def ready_at(self) -> np.ndarray:
        return np.frombuffer(self.shared["ready_at"], dtype=np.float64).reshape(
            self.depth, self.streams
        )

    def take(self, round_: int) -> Any:
        import torch

        b = round_ % self.depth
        filled = self.shared["filled"]
        while any(filled[w * self.depth + b] < self.counts[w] for w in range(self.processes)):
            if self.shared["failed"].value:
                raise RuntimeError("a decode process failed")
            time.sleep(0.0002)
        return torch.cat([ring[b] for ring in self.rings])

    def release(self, round_: int) -> None:
        b = round_ % self.depth
        for w in range(self.processes):
            self.shared["filled"][w * self.depth + b] = 0
        self.shared["done"].value = round_ + 1

    def close(self) -> None:
        self.shared["stop"].set()
        for p in self.workers:
            p.join(timeout=30)


# ----------------------------------------------------------------------------- GPU stages


class Preprocess:
    """NV12 (N, H·3/2, W) uint8 → letterboxed RGB (N, 3, 640, 640) FP16 in [0, 1] (BT.709
    limited range, bilinear, symmetric padding), into one reused buffer."""

    def __init__(self, streams: int, width: int, height: int) -> None:
        import torch

        scale = min(NET / width, NET / height)
        self.size = (round(height * scale), round(width * scale))
        self.top = (NET - self.size[0]) // 2
        self.left = (NET - self.size[1]) // 2
        self.height = height
        self.out = torch.zeros((streams, 3, NET, NET), dtype=torch.float16, device="cuda")
        self.out = self.out.contiguous(memory_format=torch.channels_last)
        self.matrix = torch.tensor(
            [[1.164, 0.0, 1.793], [1.164, -0.213, -0.533], [1.164, 2.112, 0.0]],
            dtype=torch.float16,
            device="cuda",
        )

    def __call__(self, nv12: Any) -> Any:
        import torch
        import torch.nn.functional as F

        n, h = nv12.shape[0], self.height
        coded = nv12.shape[1] * 2 // 3  # the luma plane may be taller than the picture (1088)
        y = nv12[:, :h].unsqueeze(1).half()
        uv = nv12[:, coded : coded + h // 2].reshape(n, h // 2, -1, 2).permute(0, 3, 1, 2).half()
        y = F.interpolate(y, self.size, mode="bilinear", align_corners=False) - 16
        uv = F.interpolate(uv, self.size, mode="bilinear", align_corners=False) - 128
        yuv = torch.cat([y, uv], 1)
        rgb = torch.einsum("ck,nkhw->nchw", self.matrix, yuv).mul_(1 / 255).clamp_(0, 1)
        top, left = self.top, self.left
        self.out[:, :, top : top + self.size[0], left : left + self.size[1]] = rgb
        return self.out


class Detector:
    """Model + GPU parsing and clustering; ``__call__`` returns per-stream object counts."""

    def __init__(self, model: Path, streams: int) -> None:
        from visionflow.infer.backends.torch import TorchBackend
        from visionflow.infer.cluster import ClusterMode, ClusterParams
        from visionflow.infer.parsers.base import NetworkInfo, ParseContext

        self.backend = TorchBackend(model, "cuda", precision="fp16", batch=streams)
        self.name = self.backend.inputs[0].name
        nc = int(self.backend.outputs[0].shape[1] or 84) - 4
        self.ctx = ParseContext(NetworkInfo(NET, NET, 3), nc, np.full(nc, 0.25, np.float32))
        self.params = ClusterParams.uniform(nc, pre_cluster=0.25, nms_iou=0.45, topk=300)
        self.mode = ClusterMode.NMS
        self.streams = streams

    def model(self, x: Any) -> Any:
        return self.backend.run_device({self.name: x})

    def __call__(self, x: Any) -> list[Any]:
        from visionflow.core.meta import Detections
        from visionflow.infer.gpu_cluster import gpu_cluster
        from visionflow.infer.gpu_parse import gpu_yolov8

        outputs = self.model(x)
        found = gpu_yolov8(outputs, self.ctx)
        kept = gpu_cluster(found, self.params, self.mode, self.streams)  # the one host copy
        return [Detections(xyxy=k.xyxy, confidence=k.confidence, class_id=k.class_id) for k in kept]


class Output:
    """gpu-osd's output path (see the module doc): tile, draw, encode a batch with its objects."""

    def __init__(
        self, streams: int, size: tuple[int, int], prep: Preprocess, workdir: Path, limit: int
    ) -> None:
        from visionflow.mux.gpu_tiler import GpuTiler
        from visionflow.osd.gpu_draw import GpuOSD
        from visionflow.sinks.nvenc import NvencSink, nvenc_problem

        self.streams, self.size, self.limit = streams, size, limit
        self.tiler = GpuTiler(width=1920, height=1080, device="cuda")
        self.osd = GpuOSD()
        scale = prep.size[1] / size[0]
        self.shift = np.array([prep.left, prep.top, prep.left, prep.top], np.float32)
        self.scale = np.float32(scale)
        problem = nvenc_problem(0)
        self.sink: Any = None
        if problem is None:
            path = workdir / f"osd_{streams}.mp4"
            self.sink = NvencSink(path, codec="h264", bitrate=8_000_000, fps=30)
            self.sink.start()
        self.encoder = "NVENC H.264, 8 Mb/s" if problem is None else f"none ({problem})"
        self.count = 0
        self.drawn = 0

    def __call__(self, nv12: Any, found: list[Any]) -> None:
        import torch

        from visionflow.core.batch import Batch
        from visionflow.core.frame import Frame, PixelFormat

        height = self.size[1]
        coded = nv12.shape[1] * 2 // 3  # the luma plane may be taller than the picture (1088)
        frames = []
        for s in range(self.streams):
            picture = torch.cat([nv12[s, :height], nv12[s, coded : coded + height // 2]])
            frame = Frame(picture, PixelFormat.NV12, s, self.count, pts=self.count)
            frame.time_base, frame.color_matrix = Fraction(1, 30), "bt709"
            frames.append(frame)
        batch = Batch(frames)
        for meta, dets in zip(batch.meta.frames, found, strict=True):
            shown = dets[np.argsort(-dets.confidence, kind="stable")[: self.limit]]
            meta.detections = shown.replace(xyxy=(shown.xyxy - self.shift) / self.scale)
            self.drawn += len(shown)
        out = self.osd.process(self.tiler.process(batch))
        if self.sink is not None:
            self.sink.process(out)
        self.count += 1

    def close(self) -> None:
        if self.sink is not None:
            self.sink.stop()


# ----------------------------------------------------------------------------- runs


def run_streams(
    clip: Path, streams: int, frames: int, warmup: int, work: Any | None, processes: int = 1
) -> dict[str, Any]:
    """Decode ``streams`` × ``frames``; ``work(batch)`` on each full batch (None: decode alone).
    Returns fps over the timed rounds and per-frame latencies (decoded → metadata)."""
    import torch

    ring: Any
    threads: list[threading.Thread] = []
    if processes > 1:
        ring = ProcessRing(clip, streams, frames, processes)
    else:
        ring = BatchRing(streams)
        threads = [
            threading.Thread(target=decode_stream, args=(clip, s, frames, ring), daemon=True)
            for s in range(streams)
        ]
    for t in threads:
        t.start()
    latencies: list[np.ndarray] = []
    objects = 0
    consumer = torch.cuda.Stream()
    start = 0.0
    with torch.cuda.stream(consumer):
        for r in range(frames):
            batch = ring.take(r)
            if r == warmup:
                start = time.perf_counter()
            if work is not None:
                result = work(batch)
                objects += sum(len(d) for d in result)
            else:
                consumer.synchronize()
            now = time.perf_counter()
            if r >= warmup:
                latencies.append(now - ring.ready_at[r % ring.depth])
            ring.release(r)
    elapsed = time.perf_counter() - start
    for t in threads:
        t.join()
    if processes > 1:
        ring.close()
    lat = np.concatenate(latencies) * 1000
    timed = (frames - warmup) * streams
    return {
        "fps": timed / elapsed,
        "seconds": elapsed,
        "frames_timed": timed,
        "latency_ms_p50": float(np.percentile(lat, 50)),
        "latency_ms_p95": float(np.percentile(lat, 95)),
        "objects": objects,
    }


def time_gpu(fn: Any, batch: int, iterations: int) -> float:
    """Images per second of ``fn()`` (one batch), after three warm-up calls."""
    import torch

    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iterations):
        fn()
    torch.cuda.synchronize()
    return batch * iterations / (time.perf_counter() - start)


def smi_memory() -> float | None:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
        return float(out.split()[0])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def measure(
    clip: Path,
    model: Path,
    streams: int,
    frames: int,
    warmup: int,
    size: tuple[int, int],
    processes: int = 1,
    osd: tuple[Path, int] | None = None,
) -> dict[str, Any]:
    """decode, model, compute and e2e at ``streams`` streams, and with ``osd`` (work directory,
    objects drawn per stream) the output path too (see the module docstring)."""
    import torch

    from visionflow.core.frame import device_copies

    width, height = size
    decode = run_streams(clip, streams, frames, warmup, None, processes)
    torch.cuda.reset_peak_memory_stats()
    built = time.perf_counter()
    detector = Detector(model, streams)
    prep = Preprocess(streams, width, height)
    fixed = torch.randint(
        0, 255, (streams, height * 3 // 2, width), dtype=torch.uint8, device="cuda"
    )
    x = prep(fixed)
    detector.model(x)  # captures the CUDA graph
    setup = time.perf_counter() - built
    iterations = max(10, 2000 // streams)
    model_fps = time_gpu(lambda: detector.model(x), streams, iterations)
    compute_fps = time_gpu(lambda: detector(prep(fixed)), streams, iterations)
    e2e = run_streams(clip, streams, frames, warmup, lambda b: detector(prep(b)), processes)
    row = {
        "streams": streams,
        "decode_fps": decode["fps"],
        "model_fps": model_fps,
        "compute_fps": compute_fps,
        "e2e_fps": e2e["fps"],
        "efficiency": e2e["fps"] / min(decode["fps"], model_fps),
        "realtime_streams": e2e["fps"] / 30,
        "latency_ms_p50": e2e["latency_ms_p50"],
        "latency_ms_p95": e2e["latency_ms_p95"],
        "decode_latency_ms_p50": decode["latency_ms_p50"],
        "peak_torch_mib": torch.cuda.max_memory_allocated() / 2**20,
        "device_used_mib": smi_memory(),
        "model_setup_s": setup,
        "objects": e2e["objects"],
        "decode_processes": processes,
    }
    if osd is not None:
        output = Output(streams, size, prep, *osd)

        def with_output(batch: Any) -> list[Any]:
            found = detector(prep(batch))
            output(batch, found)
            return found

        copies = device_copies()
        drawn = run_streams(clip, streams, frames, warmup, with_output, processes)
        output.close()
        row.update(
            osd_fps=drawn["fps"],
            osd_cost=1 - drawn["fps"] / e2e["fps"],
            osd_latency_ms_p50=drawn["latency_ms_p50"],
            osd_latency_ms_p95=drawn["latency_ms_p95"],
            osd_objects_drawn=output.drawn,
            osd_encoder=output.encoder,
            osd_host_copies=device_copies() - copies,
            osd_gpu_fallbacks=output.osd.host_fallbacks,
        )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", default="1,16,64", help="comma-separated stream counts")
    parser.add_argument("--size", choices=sorted(SIZES), default="1080p")
    parser.add_argument("--frames", type=int, default=300, help="frames decoded per stream")
    parser.add_argument("--clip-frames", type=int, default=300, help="frames in the clip")
    parser.add_argument(
        "--clip", type=Path, default=None, help="an H.264 clip to use (GPUs without NVENC: H100)"
    )
    parser.add_argument("--warmup", type=int, default=30, help="untimed batches")
    parser.add_argument("--model", type=Path, default=None, help="YOLOv8n ONNX (made if absent)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--osd", action="store_true", help="add gpu-osd: tile, draw, encode")
    parser.add_argument(
        "--osd-objects", type=int, default=20, help="objects drawn per stream (gpu-osd)"
    )
    parser.add_argument(
        "--processes", type=int, default=1, help="decode processes (CUDA IPC) for N > 1"
    )
    args = parser.parse_args()

    import torch

    width, height, bitrate = SIZES[args.size]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="gpu-streams-"))
    workdir.mkdir(parents=True, exist_ok=True)
    model = args.model or workdir / "yolov8n.onnx"
    if not model.is_file():
        from visionflow.zoo.yolov8 import export_yolov8_onnx

        export_yolov8_onnx(model, scale="n", num_classes=80, imgsz=NET)
    start = time.perf_counter()
    clip = args.clip or make_clip(
        workdir / f"clip_{args.size}.mp4", width, height, args.clip_frames, bitrate
    )
    print(f"clip {clip.name}: {args.clip_frames} frames in {time.perf_counter() - start:.1f} s")
    gpu = torch.cuda.get_device_name(0)
    results = []
    print(
        f"{'N':>4} {'decode':>8} {'model':>8} {'compute':>8} {'e2e':>8} {'eff':>5} "
        f"{'RT':>5} {'p50 ms':>7} {'p95 ms':>7} {'peak MiB':>8}"
    )
    for streams in [int(s) for s in args.streams.split(",")]:
        warmup = min(args.warmup, args.frames // 3)
        processes = min(args.processes, streams)
        osd = (workdir, args.osd_objects) if args.osd else None
        row = measure(clip, model, streams, args.frames, warmup, (width, height), processes, osd)
        results.append(row)
        print(
            f"{streams:>4} {row['decode_fps']:>8.0f} {row['model_fps']:>8.0f} "
            f"{row['compute_fps']:>8.0f} {row['e2e_fps']:>8.0f} {row['efficiency']:>5.2f} "
            f"{row['realtime_streams']:>5.1f} "
            f"{row['latency_ms_p50']:>7.1f} {row['latency_ms_p95']:>7.1f} "
            f"{row['peak_torch_mib']:>8.0f}",
            flush=True,
        )
        if args.osd:
            print(
                f"     gpu-osd: {row['osd_fps']:.0f} fps (cost {row['osd_cost']:.0%} of e2e), "
                f"{row['osd_objects_drawn']} objects drawn, encoder {row['osd_encoder']}, "
                f"host copies {row['osd_host_copies']}",
                flush=True,
            )
        torch.cuda.empty_cache()
    summary = {
        "benchmark": "gpu-streams + gpu-osd" if args.osd else "gpu-streams",
        "gpu": gpu,
        "torch": torch.__version__,
        "size": args.size,
        "clip": {
            "width": width,
            "height": height,
            "fps": 30,
            "bitrate": bitrate,
            "codec": "h264",
            "bframes": 0,
            "frames": args.clip_frames,
        },
        "frames_per_stream": args.frames,
        "warmup_batches": args.warmup,
        "decode": "PyNvVideoCodec demuxer + NVDEC decoder per stream, one thread per stream, "
        f"{args.processes} process(es)",
        "model": "YOLOv8n architecture, 640x640, 80 classes, RANDOM weights; ONNX -> visionflow "
        "torch converter, FP16, channels-last, CUDA graph",
        "post": "GPU YOLO parse + NMS clustering (pre 0.25, IoU 0.45, top-K 300), one host copy",
        "osd": (
            f"GpuTiler 1920x1080 mosaic + GpuOSD (the {args.osd_objects} most confident objects "
            "per stream) + NVENC where the GPU has one"
            if args.osd
            else None
        ),
        "results": results,
        "median_of": 1,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
