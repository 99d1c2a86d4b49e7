"""Make the GPU tests' clips here (PyAV's x264/x265), for a GPU machine with neither NVENC nor PyAV.

    VISIONFLOW_GPU_CLIPS=.gpu-clips python scripts/gpu_clips.py

Writes ``clip-{frames}-{W}x{H}-{codec}.mp4`` files that ``tests/support/gpu_media.nvenc_clip``
copies instead of encoding when ``VISIONFLOW_GPU_CLIPS`` names their folder on the GPU machine.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.gpu_media import nvenc_clip

# (frames, codec) of every nvenc_clip call in the tests, at the default 320x240
CLIPS = [(40, "h264"), (40, "hevc"), (30, "h264"), (60, "h264"), (20, "h264"), (5, "h264")]

if __name__ == "__main__":
    folder = Path(os.environ.get("VISIONFLOW_GPU_CLIPS", ".gpu-clips"))
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["VISIONFLOW_GPU_CLIPS"] = "/nonexistent"  # encode, don't copy
    for frames, codec in CLIPS:
        path = nvenc_clip(folder / f"clip-{frames}-320x240-{codec}.mp4", frames=frames, codec=codec)
        print(path, path.stat().st_size)
