"""The pipeline on a GPU device: sources, muxer, OSD and video sink keep frames on the GPU."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from support.gpu_media import gpu_problem, nvenc_clip, nvenc_missing
from visionflow.osd.element import OSD
from visionflow.sinks.video import VideoFileSink


def test_cpu_pipelines_keep_their_elements(tmp_path: Path) -> None:
    from visionflow.app import _gpu_twins

    elements = [OSD(), VideoFileSink(tmp_path / "a.mp4")]
    assert _gpu_twins(elements, "cpu") == elements


def test_gpu_device_takes_the_gpu_osd_and_says_why_a_sink_stays(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("torch")
    from visionflow.app import _gpu_twins
    from visionflow.osd.gpu_draw import GpuOSD

    osd = OSD(border_width=3, display_text=False)
    sink = VideoFileSink(tmp_path / "a.avi", codec="mpeg4")
    with caplog.at_level(logging.WARNING):
        twins = _gpu_twins([osd, sink], "cuda:0")
    assert isinstance(twins[0], GpuOSD)
    assert twins[0].cpu.border_width == 3
    assert twins[0].cpu.display_text is False
    assert twins[1] is sink  # NVENC writes neither MPEG-4 Part 2 nor AVI
    assert "encoded on the CPU" in caplog.text
    assert "mpeg4" in caplog.text


def test_a_gpu_without_nvenc_keeps_an_h264_sink_on_the_cpu_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("torch")
    from visionflow.app import _gpu_twins
    from visionflow.sinks.nvenc import nvenc_problem

    problem = nvenc_problem(0)
    if problem is None:
        pytest.skip("this GPU has NVENC: tests/test_app_gpu.py's GPU test covers it")
    sink = VideoFileSink(tmp_path / "a.mp4")
    with caplog.at_level(logging.WARNING):
        twins = _gpu_twins([sink], "cuda:0")
    assert twins[0] is sink  # chosen up front, not failed on the first frame
    assert problem in caplog.text  # "... needs PyNvVideoCodec ..." or "NVENC cannot start ..."


@pytest.mark.gpu
@pytest.mark.skipif(gpu_problem() is not None, reason=str(gpu_problem()))
def test_pipeline_on_cuda_decodes_draws_and_encodes_without_host_copies(tmp_path: Path) -> None:
    import numpy as np

    from visionflow.app import App
    from visionflow.config.pipeline import PipelineConfig
    from visionflow.core.batch import Batch
    from visionflow.core.frame import device_copies
    from visionflow.core.meta import Detections
    from visionflow.media.nvdec import NvdecSource
    from visionflow.osd.gpu_draw import GpuOSD
    from visionflow.sinks.nvenc import NvencSink

    clips = [nvenc_clip(tmp_path / f"in{i}.mp4", frames=30) for i in range(2)]
    out = tmp_path / "out.mp4"
    cfg = PipelineConfig.model_validate(
        {
            "device": "cuda",
            "sources": [{"uri": str(c)} for c in clips],
            "osd": {},
            "sinks": [{"type": "video", "path": str(out), "source_id": 0}],
        }
    )
    app = App.from_config(cfg)
    assert all(isinstance(s, NvdecSource) for s in app.pipeline.sources)

    def boxes(batch: Batch) -> None:
        for meta in batch.meta.frames:
            meta.detections = Detections(np.array([[40, 30, 200, 180]], np.float32), class_id=[1])

    names = [e.name for e in app.pipeline.elements]
    osd = next(e for e in app.pipeline.elements if isinstance(e, GpuOSD))
    app.pipeline.add_probe(osd.name, boxes, where="before")
    copies = device_copies()
    report = app.run()
    assert report.outcome == "ok", names
    assert report.frames_out == 60
    if nvenc_missing() is None:
        assert device_copies() == copies  # decode, batch, draw, encode: all on the GPU
        sink = next(e for e in app.pipeline.elements if isinstance(e, NvencSink))
        written = out if sink.writer != "elementary" else out.with_suffix(".h264")
    else:  # a GPU without NVENC (H100, H200): the CPU encoder, chosen up front
        assert not any(isinstance(e, NvencSink) for e in app.pipeline.elements), names
        assert device_copies() - copies == 30  # the encoded stream's frames, and only those
        written = out
    decoded = list(NvdecSource(written).frames())
    assert len(decoded) == 30


def test_a_gpu_pipeline_is_built_without_pyav(tmp_path: Path) -> None:
    """NVDEC → GPU OSD → metadata needs no PyAV (the project's GPU machine has none): building it
    must not import PyAV (the NVDEC choice is forced: this machine may have no GPU)."""
    import subprocess
    import sys

    script = f"""
import sys
sys.modules["av"] = None  # any 'import av' now fails
import visionflow.media.select as select
select.choose = lambda *a, **k: select.Choice("nvdec", "cuda:0", "NVDEC available")
from visionflow.app import App
from visionflow.config.pipeline import PipelineConfig
cfg = PipelineConfig.model_validate({{
    "device": "cuda", "sources": [{{"uri": {str(tmp_path / "a.mp4")!r}}}], "osd": {{}},
    "sinks": [{{"type": "jsonl", "path": {str(tmp_path / "m.jsonl")!r}}}],
}})
app = App.from_config(cfg)
print(sorted(type(e).__name__ for e in app.pipeline.elements))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["['GpuOSD',", "'JsonLinesSink']"]
