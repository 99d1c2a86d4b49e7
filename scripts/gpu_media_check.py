"""Measure the GPU media path on an NVIDIA machine: NVDEC, batching, preprocessing, OSD + NVENC.

Run on the GPU machine (PyNvVideoCodec and torch with CUDA importable)::

    PYTHONUNBUFFERED=1 python3 scripts/gpu_media_check.py --out results.json

It makes a 1080p30 H.264 clip (4 Mb/s) with NVENC, then prints as it goes and writes one JSON:

* what PyNvVideoCodec reports of the clip (codec, colour space and range);
* NVDEC decode fps through :class:`~visionflow.media.nvdec.NvdecSource` for 1 and 16 streams
  (one thread per stream, frames copied into their slots), and for 1 stream the bare
  PyNvVideoCodec loop (no copy) for comparison;
* the stream muxer's GPU batching (:class:`~visionflow.mux.gpu_batch.GpuBatcher`) in frames/s;
* NV12 1080p → 640×640 letterboxed FP16 input (:class:`GpuPreprocessor`) at batch 16 and 64;
* GPU vs CPU preprocessing on the same decoded frames (the CPU path: OpenCV's NV12 → RGB, then
  the CPU ``Preprocessor``), in input levels;
* GPU OSD (10 boxes with tags) + NVENC on 1080p frames, fps.
"""

from __future__ import annotations

import argparse
import json
import platform
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from visionflow.core.batch import Batch
from visionflow.core.frame import Frame, PixelFormat, device_copies
from visionflow.core.meta import Detections
from visionflow.infer.gpu_preprocess import GpuPreprocessor
from visionflow.infer.preprocess import Preprocessor, PreprocessSpec
from visionflow.media.nvdec import NvdecSource, colorimetry, load_pynvvideocodec
from visionflow.mux.gpu_batch import GpuBatcher
from visionflow.osd.gpu_draw import GpuOSD
from visionflow.sinks.nvenc import NvencSink

W, H = 1920, 1080


def log(**figures: Any) -> None:
    print(json.dumps(figures), flush=True)


def make_clip(path: Path, frames: int) -> Path:
    """A moving, textured 1080p30 picture encoded by NVENC at 4 Mb/s."""
    yy, xx = torch.meshgrid(
        torch.arange(H, device="cuda", dtype=torch.float32),
        torch.arange(W, device="cuda", dtype=torch.float32),
        indexing="ij",
    )
    noise = (
        torch.rand((H // 8, W // 8), device="cuda").repeat_interleave(8, 0).repeat_interleave(8, 1)
    )
    sink = NvencSink(path, codec="h264", bitrate=4_000_000, fps=30)
    sink.start()
    for i in range(frames):
        r = (xx + 4 * i) % 256
        g = (yy + 2 * i) % 256
        b = 128 + 100 * torch.sin((xx + yy + 8 * i) / 60)
        rgb = torch.stack([r, g, b], -1) * 0.8 + noise[..., None] * 50
        x0 = (37 * i) % (W - 300)
        rgb[300:600, x0 : x0 + 300] = torch.tensor([250.0, 40.0, 40.0], device="cuda")
        frame = Frame(rgb.clamp(0, 255).to(torch.uint8), PixelFormat.RGB24, 0, i, pts=i,
                      time_base=Fraction(1, 30))  # fmt: skip
        sink.process(Batch([frame]))
    sink.stop()
    log(step="clip", frames=frames, writer=sink.writer, bytes=path.stat().st_size)
    return path if sink.writer != "elementary" else path.with_suffix(".h264")


def describe(clip: Path) -> dict[str, Any]:
    nvc = load_pynvvideocodec()
    demuxer = nvc.CreateDemuxer(filename=str(clip))
    info: dict[str, Any] = {"codec": str(demuxer.GetNvCodecId())}
    for name in ("ColorSpace", "ColorRange", "FrameRate", "BitDepth", "ChromaFormat", "Width",
                 "Height"):  # fmt: skip
        try:
            info[name] = str(getattr(demuxer, name)())
        except Exception as exc:
            info[name] = f"n/a ({type(exc).__name__})"
    info["colorimetry"] = colorimetry(demuxer)
    info["demuxer_methods"] = [m for m in dir(demuxer) if not m.startswith("_")]
    caps = nvc.GetDecoderCaps(
        gpuid=0,
        codec=demuxer.GetNvCodecId(),
        chromaformat=demuxer.ChromaFormat(),
        bitdepth=demuxer.BitDepth(),
    )
    info["decoder_caps"] = {k: str(v) for k, v in dict(caps).items()} if caps else {}
    return info


def decode_fps(clip: Path, streams: int) -> dict[str, Any]:
    counts = [0] * streams
    errors: list[str] = []

    def run(k: int) -> None:
        try:
            for _frame in NvdecSource(clip, source_id=k).frames():
                counts[k] += 1
        except Exception as exc:  # reported, not raised: the figure shows it
            errors.append(repr(exc))

    threads = [threading.Thread(target=run, args=(k,)) for k in range(streams)]
    torch.cuda.synchronize()
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    return {"streams": streams, "frames": sum(counts), "fps": round(sum(counts) / elapsed, 1),
            "errors": errors[:3]}  # fmt: skip


def bare_decode_fps(clip: Path) -> dict[str, Any]:
    nvc = load_pynvvideocodec()
    demuxer = nvc.CreateDemuxer(filename=str(clip))
    decoder = nvc.CreateDecoder(gpuid=0, codec=demuxer.GetNvCodecId(), usedevicememory=True)
    n = 0
    start = time.perf_counter()
    for packet in demuxer:
        n += len(decoder.Decode(packet))
    torch.cuda.synchronize()
    return {"frames": n, "fps": round(n / (time.perf_counter() - start), 1)}


def decoded_frames(clip: Path, count: int) -> list[Frame]:
    frames = []
    for frame in NvdecSource(clip).frames():
        frames.append(frame.with_pixels(frame.data.clone()))
        if len(frames) == count:
            break
    return frames


def batching(frames: list[Frame], batch: int, rounds: int = 50) -> dict[str, Any]:
    batcher = GpuBatcher(batch)
    group = (frames * (batch // len(frames) + 1))[:batch]
    for _ in range(3):
        batcher.assemble(group)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(rounds):
        out = batcher.assemble(group)
        del out
    torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    return {"batch": batch, "frames_per_s": round(batch * rounds / elapsed, 1),
            "buffers_allocated": batcher.allocations}  # fmt: skip


def preprocessing(
    frames: list[Frame], batch: int, exact: bool = True, rounds: int = 20
) -> dict[str, Any]:
    spec = PreprocessSpec(640, 640, net_scale_factor=1 / 255, maintain_aspect_ratio=True,
                          symmetric_padding=True, dtype=np.dtype(np.float16))  # fmt: skip
    pre = GpuPreprocessor(spec, exact=exact)
    group = (frames * (batch // len(frames) + 1))[:batch]
    rois = [(0, 0, W, H)] * batch
    for _ in range(3):
        pre(group, rois)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(rounds):
        pre(group, rois)
    torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    return {"batch": batch, "exact": exact, "img_per_s": round(batch * rounds / elapsed, 1),
            "peak_mem_mb": round(torch.cuda.max_memory_allocated() / 2**20)}  # fmt: skip


def gpu_vs_cpu(frames: list[Frame]) -> dict[str, Any]:
    spec = PreprocessSpec(640, 640, net_scale_factor=1 / 255, maintain_aspect_ratio=True,
                          symmetric_padding=True)  # fmt: skip
    rois = [(0, 0, W, H)] * len(frames)
    # the CPU path on these frames: OpenCV's NV12 → RGB (BT.601, limited) + Preprocessor
    host = [f.to_numpy() for f in frames]
    cpu, _ = Preprocessor(spec)(host, rois)
    as601 = [f.with_pixels(f.data) for f in frames]
    for f in as601:
        f.color_matrix, f.full_range = "bt601", False
    gpu, _ = GpuPreprocessor(spec)(as601, rois)
    diff = np.abs(gpu.cpu().numpy().astype(np.float64) - cpu) * 255
    on_cpu, _ = GpuPreprocessor(spec)([f.with_pixels(f.data.cpu()) for f in as601], rois)
    same = (on_cpu - gpu.cpu()).abs().max().item() * 255
    # the same RGB pixels on both sides: only resampling differs
    uploaded = [Frame(torch.from_numpy(h).cuda(), PixelFormat.RGB24, 0, 0) for h in host]
    rgb_gpu, _ = GpuPreprocessor(spec)(uploaded, rois)
    rgb_diff = np.abs(rgb_gpu.cpu().numpy().astype(np.float64) - cpu) * 255
    fast, _ = GpuPreprocessor(spec, exact=False)(as601, rois)
    fast_diff = np.abs(fast.cpu().numpy().astype(np.float64) - cpu) * 255
    return {
        "fast_nv12_vs_opencv_rgb_levels": {"max": round(fast_diff.max(), 3),
                                           "mean": round(fast_diff.mean(), 4),
                                           "p99": round(float(np.percentile(fast_diff, 99)), 3)},
        "frames": len(frames),
        "nv12_vs_opencv_rgb_levels": {"max": round(diff.max(), 3), "mean": round(diff.mean(), 4),
                                      "p99": round(float(np.percentile(diff, 99)), 3)},
        "same_rgb_levels": {"max": round(rgb_diff.max(), 3), "mean": round(rgb_diff.mean(), 4)},
        "cuda_vs_cpu_torch_levels": round(same, 4),
    }  # fmt: skip


def osd_nvenc(frames: list[Frame], count: int, out: Path) -> dict[str, Any]:
    osd = GpuOSD()
    sink = NvencSink(out, codec="h264", bitrate=8_000_000, fps=30)
    sink.start()
    rng = np.random.default_rng(0)
    boxes = rng.uniform(0, 1, (10, 4)) * [W - 200, H - 200, 0, 0]
    boxes[:, 2:] = boxes[:, :2] + rng.uniform(60, 200, (10, 2))
    copies = device_copies()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for i in range(count):
        batch = Batch([frames[i % len(frames)]])
        batch.meta.frames[0].detections = Detections(
            boxes.astype(np.float32) + i % 7, class_id=list(range(10)),
            confidence=np.full(10, 0.8, np.float32), labels=tuple(f"obj{k}" for k in range(10)),
        )  # fmt: skip
        sink.process(osd.process(batch))
    sink.stop()
    torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    size = out.stat().st_size if out.exists() else 0
    return {"frames": count, "fps": round(count / elapsed, 1), "writer": sink.writer,
            "host_copies": device_copies() - copies, "bytes": size}  # fmt: skip


def step(results: dict[str, Any], name: str, fn: Any, *args: Any) -> Any:
    """Run one measurement; a failure is recorded and printed, and the others still run."""
    try:
        value = fn(*args)
    except Exception as exc:
        value = {"error": f"{type(exc).__name__}: {exc}"}
    results[name] = value
    log(step=name, result=value if name != "clip" else "…")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("gpu_media.json"))
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--clip", type=Path, help="a 1080p H.264 clip (a GPU without NVENC)")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "gpu": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
    }
    log(**results)
    work = args.out.parent
    clip = args.clip or make_clip(work / "clip1080.mp4", args.frames)
    info = step(results, "clip", describe, clip)
    log(step="describe", **{k: v for k, v in info.items() if k != "demuxer_methods"})
    step(results, "bare_decode_1", bare_decode_fps, clip)
    for streams in (1, 16):
        step(results, f"decode_{streams}", decode_fps, clip, streams)
    frames = decoded_frames(clip, 16)
    for b in (16, 64):
        step(results, f"batching_{b}", batching, frames, b)
        for exact in (True, False):
            step(results, f"preprocess_{b}_{'exact' if exact else 'fast'}", preprocessing,
                 frames, b, exact)  # fmt: skip
    step(results, "gpu_vs_cpu", gpu_vs_cpu, frames[:8])
    step(results, "osd_nvenc", osd_nvenc, frames, 150, work / "osd.mp4")
    args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps({k: v for k, v in results.items() if k != "clip"}))


if __name__ == "__main__":
    main()
