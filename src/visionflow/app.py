"""Building and running a pipeline from configuration.

A visionflow pipeline YAML and a deepstream-app config both become a :class:`PipelineConfig`; this
module turns that into a running :class:`~visionflow.core.pipeline.Pipeline`: sources → streammux
→ primary inference → tracker → secondary inference → analytics → metadata sinks → tiler → OSD
→ video sinks. Metadata sinks sit before the tiler so they see every stream in its own coordinates.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from visionflow.config.pipeline import (
    AnalyticsStageConfig,
    PipelineConfig,
    SinkConfig,
    TrackerStageConfig,
    load_pipeline_config,
)
from visionflow.core.batch import Batch
from visionflow.core.element import Element
from visionflow.core.pipeline import Pipeline, PipelineReport
from visionflow.core.source import Source
from visionflow.errors import ConfigError
from visionflow.mux.streammux import StreamMux

if TYPE_CHECKING:
    from visionflow.record import SmartRecorder
    from visionflow.sinks.video import VideoFileSink


_METADATA = ("jsonl", "broker")
"""Sink types that take metadata per stream (placed before the tiler)."""


class App:
    """A configured pipeline, ready to run."""

    def __init__(self, pipeline: Pipeline, config: PipelineConfig) -> None:
        self.pipeline = pipeline
        self.config = config

    @classmethod
    def from_config(cls, config: PipelineConfig, *, keep_alive: bool = False) -> App:
        """Build the pipeline; ``keep_alive`` keeps it running, for sources to join at run time,
        until it is stopped (``visionflow serve``)."""
        from visionflow.infer.element import Infer
        from visionflow.media.select import open_device_source

        sources = [
            open_device_source(
                s.uri,
                i,
                device=config.device,
                decoder=s.decoder,
                loop=s.loop,
                live=s.live,
                timeout=s.timeout,
                reconnect_attempts=s.reconnect_attempts,
            )
            for i, s in enumerate(config.sources)
        ]
        mux_cfg = config.streammux
        mux = StreamMux(
            batch_size=mux_cfg.batch_size,  # None: a frame of every source running
            batched_push_timeout=mux_cfg.batched_push_timeout,
            width=mux_cfg.width,
            height=mux_cfg.height,
            enable_padding=mux_cfg.enable_padding,
        )
        elements: list[Element] = []
        for i, stage in enumerate(config.infer):
            overrides = stage.model_dump(
                include={
                    "batch_size",
                    "interval",
                    "gie_unique_id",
                    "operate_on_gie_id",
                    "operate_on_class_ids",
                    "process_mode",
                    "box_geometry",
                },
                exclude_none=True,
            )
            elements.append(
                Infer(
                    stage.config,
                    name=stage.name or ("infer" if i == 0 else f"infer{i + 1}"),
                    device=stage.device,
                    backend=stage.backend,
                    allow_fallback=stage.allow_fallback,
                    threads=stage.threads,
                    overrides=overrides,
                )
            )
        if config.tracker is not None:  # after the primary stage, as deepstream-app links it
            elements.insert(min(1, len(elements)), _tracker(config.tracker))
        if config.analytics is not None:  # after the secondary stages, as deepstream-app links it
            elements.append(_analytics(config.analytics))
        recorders = _recorders(config, sources)
        if recorders:  # after the analytics (its events), before the metadata sinks (its files)
            from visionflow.record import SmartRecord

            elements.append(SmartRecord(recorders))
        outputs = any(s.type in _METADATA for s in config.sinks)
        if config.analytics is not None and outputs:  # analytics results become events
            from visionflow.brokers import AnalyticsEvents

            elements.append(AnalyticsEvents())
        # metadata sinks: before the tiler, each stream in its own coordinates
        elements += [_sink(s, i) for i, s in enumerate(config.sinks) if s.type in _METADATA]
        if config.tiler is not None and config.tiler.enable:
            from visionflow.mux.tiler import Tiler

            t = config.tiler
            elements.append(Tiler(rows=t.rows, columns=t.columns, width=t.width, height=t.height))
        if config.osd is not None and config.osd.enable:
            from visionflow.osd import OSD

            o = config.osd
            elements.append(
                OSD(
                    display_text=o.display_text,
                    display_bbox=o.display_bbox,
                    display_mask=o.display_mask,
                    border_width=o.border_width,
                )
            )
        elements += [_sink(s, i) for i, s in enumerate(config.sinks) if s.type not in _METADATA]
        elements = _gpu_twins(elements, config.device)
        pipeline = Pipeline(
            sources,
            elements,
            mux=mux,
            queue_size=config.queue_size,
            keep_alive=keep_alive,
            max_sources=config.api.max_sources if config.api is not None else None,
        )
        for probe in config.probes:
            pipeline.add_probe(probe.element, _import_callable(probe.function), probe.where)
        return cls(pipeline, config)

    def run(self, *, progress: bool = False) -> PipelineReport:
        """Run to the end of every stream (Ctrl-C drains and returns an interrupted report)."""
        if not progress:
            return self.pipeline.run()
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        stats = self.pipeline.stats
        columns = (
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, transient=True) as bar:
            task = bar.add_task("frames", total=self.pipeline.num_frames)

            def advance(_: Batch) -> None:
                bar.update(task, completed=stats.total_out + stats.total_dropped)

            return self.pipeline.run(on_batch=advance)


def _sink(cfg: SinkConfig, index: int) -> Element:
    name = f"{cfg.type}sink{index}"
    sink: Element
    if cfg.type == "fake":
        from visionflow.sinks.fake import FakeSink

        sink = FakeSink()
    elif cfg.type == "broker" and cfg.broker is not None:
        from visionflow.brokers import BrokerSink

        sink = BrokerSink(cfg.broker, cfg.messages)
    elif cfg.path is None:  # never a silent fakesink: that would write nothing and exit 0
        raise ConfigError(f"a {cfg.type} sink needs a path", key=f"sinks.{index}.path")
    elif cfg.type == "video":
        from visionflow.sinks.video import VideoFileSink  # PyAV

        sink = VideoFileSink(
            cfg.path, codec=cfg.codec, bitrate=cfg.bitrate, source_id=cfg.source_id
        )
    else:
        from visionflow.sinks.metadata import JsonLinesSink

        sink = JsonLinesSink(cfg.path, masks=cfg.masks, segmentation_masks=cfg.segmentation_masks)
    sink.name = name
    return sink


def _recorders(config: PipelineConfig, sources: list[Source]) -> dict[int, SmartRecorder]:
    """A smart recorder for every source with ``smart_record``, tapping its packets."""
    recorders: dict[int, SmartRecorder] = {}
    for i, (cfg, source) in enumerate(zip(config.sources, sources, strict=True)):
        if cfg.smart_record is None:
            continue
        from visionflow.media import VideoSource  # PyAV: only where a stream is recorded
        from visionflow.record import SmartRecorder

        if not isinstance(source, VideoSource):
            raise ConfigError(
                f"smart_record needs a video file or stream, not '{cfg.uri}' "
                f"({type(source).__name__}: there are no compressed packets to record)",
                key=f"sources.{i}.smart_record",
            )
        recorders[i] = SmartRecorder(i, cfg.smart_record)
        source.tap = recorders[i]
    return recorders


def _gpu_twins(elements: list[Element], device: str) -> list[Element]:
    """With a GPU ``device``, the tiler, the OSD and the video file sinks become their GPU twins
    (composing, drawing and NVENC on device frames: nothing is pulled to the host); a sink NVENC
    cannot take (codec, container, no PyNvVideoCodec) stays as it is, which is logged."""
    if not device.startswith("cuda"):
        return elements
    import logging
    import sys

    from visionflow.errors import SinkError
    from visionflow.mux.tiler import Tiler
    from visionflow.osd.element import OSD

    # a VideoFileSink exists only if its module (and PyAV with it) was imported: a GPU machine
    # without PyAV runs NVDEC → GPU → metadata pipelines, so PyAV is not imported here
    video = sys.modules.get("visionflow.sinks.video")

    out: list[Element] = []
    for element in elements:
        if type(element) is Tiler:
            from visionflow.mux.gpu_tiler import GpuTiler

            element = GpuTiler(
                element.rows,
                element.columns,
                element.width,
                element.height,
                element.name,
                device=device,
            )
        elif type(element) is OSD:
            from visionflow.osd.gpu_draw import GpuOSD

            element = GpuOSD(
                element.name,
                display_text=element.display_text,
                display_bbox=element.display_bbox,
                display_mask=element.display_mask,
                display_segmentation=element.display_segmentation,
                border_width=element.border_width,
                text_scale=element.text_scale,
                class_colors=element.palette,
                class_bg_colors=element.class_bg_colors,
                show_clock=element.show_clock,
            )
        elif video is not None and type(element) is video.VideoFileSink:
            from visionflow.sinks.nvenc import CODECS, CONTAINERS, NvencSink, nvenc_problem

            sink = cast("VideoFileSink", element)
            codec = {"libx264": "h264", "libx265": "hevc"}.get(sink.encoder, sink.encoder)
            suffix = sink.path.suffix.lower()
            gpu = int(device.partition(":")[2] or 0)
            try:
                if codec not in CODECS or (suffix and suffix not in CONTAINERS):
                    raise SinkError(f"NVENC does not write {codec} to '{suffix}' files")
                problem = nvenc_problem(gpu)
                if problem is not None:
                    raise SinkError(problem)
            except SinkError as exc:
                logging.getLogger(__name__).warning(
                    "%s: encoded on the CPU (frames copied to the host): %s", sink.name, exc
                )
            else:
                nvenc = NvencSink(
                    sink.path, codec=codec, bitrate=sink.bitrate, source_id=sink.source_id, gpu=gpu
                )
                nvenc.name = sink.name
                element = nvenc
        out.append(element)
    return out


def _tracker(stage: TrackerStageConfig) -> Element:
    """The tracker element of a ``tracker`` stage: the file's config (or the ``algorithm``
    preset) with the settings the stage gives over it."""
    from visionflow.compat.deepstream.tracker import tracker_config
    from visionflow.track import Tracker, TrackerConfig, preset

    given = stage.model_dump(include=stage.model_fields_set - {"config", "name"})
    base = tracker_config(stage.config) if stage.config is not None else preset(stage.algorithm)
    config = TrackerConfig.model_validate({**base.model_dump(), **given})
    return Tracker(config, name=stage.name)


def _analytics(stage: AnalyticsStageConfig) -> Element:
    """The analytics element of an ``analytics`` stage: the file's rules (or none) with the
    settings the stage gives over them."""
    from visionflow.analytics import Analytics, AnalyticsConfig
    from visionflow.compat.deepstream.analytics import analytics_config

    given = stage.model_dump(include=stage.model_fields_set - {"config", "name"})
    base = analytics_config(stage.config) if stage.config is not None else AnalyticsConfig()
    config = AnalyticsConfig.model_validate({**base.model_dump(), **given})
    return Analytics(config, name=stage.name)


def _import_callable(ref: str) -> Callable[..., Any]:
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"'{ref}' must look like 'package.module:function'", key="function")
    try:
        module = importlib.import_module(module_name)
        obj: Any = reduce(getattr, attr.split("."), module)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load '{ref}': {exc}", key="function") from None
    if not callable(obj):
        raise ConfigError(f"'{ref}' is not callable", key="function")
    return obj


def load_config(path: str | Path) -> PipelineConfig:
    """Read a visionflow pipeline YAML or a deepstream-app config file."""
    path = Path(path)
    if path.suffix.lower() in (".yml", ".yaml") and not _looks_like_deepstream_app(path):
        return load_pipeline_config(path)
    from visionflow.compat.deepstream.app import read_deepstream_app

    config, _report = read_deepstream_app(path)
    return config


def load_app(path: str | Path, *, keep_alive: bool = False) -> App:
    """Build an app from a visionflow pipeline YAML or a deepstream-app config file."""
    return App.from_config(load_config(path), keep_alive=keep_alive)


def _looks_like_deepstream_app(path: Path) -> bool:
    """A visionflow pipeline file has a top-level ``sources`` list; deepstream-app files do not
    (they have ``source0``, ``source-list``, ``application`` … groups)."""
    from visionflow.config.text import read_config_text
    from visionflow.config.yamlio import compose, construct

    try:
        node = compose(read_config_text(path), str(path))
        data = None if node is None else construct(node, str(path))
    except ConfigError:  # the pipeline reader reports it, naming the place
        return False
    return isinstance(data, dict) and "sources" not in data
