"""visionflow — DeepStream-style video analytics in Python.

The main entry points are importable from the package itself (lazily, so ``import visionflow``
stays fast)::

    import visionflow as vf

    sources = [vf.open_source("clip.mp4")]
    pipe = vf.Pipeline(sources, [vf.Infer("detector.yml"), vf.JsonLinesSink("out.jsonl")])
    report = pipe.run()
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Batch": "visionflow.core.batch",
    "Frame": "visionflow.core.frame",
    "Detections": "visionflow.core.meta",
    "FrameMeta": "visionflow.core.meta",
    "Element": "visionflow.core.element",
    "Sink": "visionflow.core.element",
    "Source": "visionflow.core.source",
    "Pipeline": "visionflow.core.pipeline",
    "PipelineReport": "visionflow.core.pipeline",
    "StreamMux": "visionflow.mux.streammux",
    "Tiler": "visionflow.mux.tiler",
    "Infer": "visionflow.infer.element",
    "InferConfig": "visionflow.infer.config",
    "load_infer_config": "visionflow.config.infer_loader",
    "OSD": "visionflow.osd.element",
    "open_source": "visionflow.media.uri",
    "VideoFileSink": "visionflow.sinks.video",
    "JsonLinesSink": "visionflow.sinks.metadata",
    "FakeSink": "visionflow.sinks.fake",
    "load_app": "visionflow.app",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'visionflow' has no attribute '{name}'")
