"""The demo: detect shapes in a generated clip with the bundled model, offline, on the CPU.

It writes into one folder: ``input.mp4`` (the generated 960x540 clip of moving circles, squares
and triangles over a textured background), ``annotated.mp4`` (the same clip with the detections
drawn: boxes, class labels and confidences) and ``metadata.jsonl`` (one JSON line per frame with
every object, schema ``visionflow.frame/1``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from visionflow.app import App
from visionflow.config.pipeline import (
    InferStageConfig,
    OSDConfig,
    PipelineConfig,
    SinkConfig,
    SourceConfig,
    StreamMuxConfig,
)
from visionflow.core.pipeline import PipelineReport
from visionflow.zoo import bundled_config
from visionflow.zoo.scenes import write_clip

SEED = 7
"""Seed of the demo's :class:`~visionflow.zoo.scenes.MovingScene` (its ground truth)."""


@dataclass(frozen=True)
class DemoResult:
    """Where the demo wrote its outputs and what it found."""

    clip: Path
    video: Path
    metadata: Path
    report: PipelineReport
    objects: int


def run_demo(
    output_dir: str | Path = "visionflow-demo",
    *,
    num_frames: int = 240,
    width: int = 960,
    height: int = 540,
    progress: bool = False,
) -> DemoResult:
    """Generate the clip, run the bundled detector over it and write video + metadata."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    clip = write_clip(out / "input.mp4", width, height, num_frames, fps=30, seed=SEED)
    video, metadata = out / "annotated.mp4", out / "metadata.jsonl"
    config = PipelineConfig(
        sources=[SourceConfig(uri=str(clip))],
        streammux=StreamMuxConfig(batch_size=4, batched_push_timeout=-1),
        infer=[InferStageConfig(config=bundled_config("shapes_det"))],
        osd=OSDConfig(),
        sinks=[SinkConfig(type="jsonl", path=metadata), SinkConfig(type="video", path=video)],
    )
    report = App.from_config(config).run(progress=progress)
    with metadata.open(encoding="utf-8") as lines:
        objects = sum(len(json.loads(line)["objects"]) for line in lines)
    return DemoResult(clip, video, metadata, report, objects)
