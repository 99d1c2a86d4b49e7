"""The visionflow pipeline file (``visionflow run pipeline.yml``): a typed, validated model.

Example::

    sources:
      - uri: clips/street.mp4
      - uri: rtsp://camera-2/stream
    streammux: {batch_size: 2, batched_push_timeout: 40000}
    infer:
      - config: models/detector.yml      # visionflow YAML or a DeepStream nvinfer file
    osd: {}
    sinks:
      - {type: video, path: out/annotated.mp4}
      - {type: jsonl, path: out/metadata.jsonl}

Relative paths are resolved against the folder of the pipeline file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from visionflow.analytics.config import AnalyticsConfig
from visionflow.brokers.config import BrokerConfig, MessagesConfig
from visionflow.cluster.config import ClusterConfig
from visionflow.config.yamlio import load_yaml, validate
from visionflow.record.config import SmartRecordConfig
from visionflow.track.config import Algorithm, TrackerConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(_Strict):
    """One input stream."""

    uri: str = Field(
        description="File, folder or glob of images, or any URI FFmpeg opens (rtsp, http, file)."
    )
    loop: bool = Field(
        False, description="Restart a file source at its end (DeepStream file-loop)."
    )
    live: bool | None = Field(
        None, description="Treat as live (drop oldest frames when behind); default: by URI scheme."
    )
    timeout: float = Field(
        10.0,
        gt=0,
        description="Network streams: seconds without data (opening or reading) before the "
        "stream counts as lost; a live stream that is down at the start is waited for as long.",
    )
    reconnect_attempts: int = Field(
        -1,
        ge=-1,
        description="Live network streams (RTSP, HTTP cameras…): reconnections in a row of a lost "
        "stream before the source gives up; -1: never give up, 0: never reconnect.",
    )
    decoder: Literal["auto", "nvdec", "pyav"] = Field(
        "auto",
        description="Video decoding with a GPU `device`: nvdec (NVIDIA's hardware decoder "
        "through PyNvVideoCodec), pyav (FFmpeg on the CPU, frames uploaded), or auto (NVDEC "
        "where it works, else pyav; the choice is logged). With device cpu: auto or pyav.",
    )
    smart_record: SmartRecordConfig | None = Field(
        None,
        description="Event-triggered recording of this source's compressed stream "
        "(DeepStream smart record; docs/recording.md).",
    )


class StreamMuxConfig(_Strict):
    """Batching across streams (DeepStream ``[streammux]``)."""

    batch_size: int | None = Field(
        None, ge=1, le=1024, description="Frames per batch; default: the number of sources."
    )
    batched_push_timeout: int = Field(
        40_000,
        ge=-1,
        description="µs to wait for a full batch after its first frame; -1 waits for a full batch.",
    )
    width: int = Field(0, ge=0, description="Scale every frame to this width (0: keep sizes).")
    height: int = Field(0, ge=0, description="Scale every frame to this height (0: keep sizes).")
    enable_padding: bool = Field(
        False, description="Keep aspect ratio with black padding when scaling."
    )


class InferStageConfig(_Strict):
    """One inference element; values here override the model config (as deepstream-app does)."""

    config: Path = Field(
        description="The model config: visionflow YAML or a DeepStream nvinfer file (INI/YAML); "
        "may be left out when ``model`` is given."
    )
    model: str | None = Field(
        None,
        description="A model-zoo entry (``visionflow models list``) whose ready config this "
        "stage runs, instead of ``config``.",
    )
    name: str | None = Field(None, description="Element name (default: infer, infer2, …).")
    device: str = Field("cpu", description="cpu, cuda, cuda:N …")
    backend: str = Field(
        "auto",
        description="Inference backend: onnxruntime, openvino, or auto (the fastest installed "
        "for the device: OpenVINO on the CPU where installed, else ONNX Runtime).",
    )
    allow_fallback: bool = Field(
        False, description="Run on the CPU with a warning when the device is unavailable."
    )
    threads: int = Field(0, ge=0, description="Backend threads (0: the runtime's default).")
    batch_size: int | None = Field(
        None, ge=1, le=1024, description="Override of the model config's batch size."
    )
    interval: int | None = Field(
        None, ge=0, description="Override: batches skipped between inferences."
    )
    gie_unique_id: int | None = Field(
        None, ge=1, description="Override of the element's unique id."
    )
    operate_on_gie_id: int | None = Field(
        None, description="Override (secondary): only objects of this producer."
    )
    operate_on_class_ids: list[int] | None = Field(
        None, description="Override (secondary): only these classes."
    )
    process_mode: Literal["primary", "secondary"] | None = Field(
        None,
        description="Override: whole frames (primary) or crops of upstream objects (secondary).",
    )
    box_geometry: Literal["deepstream", "clipped"] | None = Field(
        None,
        description=(
            "Override: detector boxes as nvinfer attaches them (deepstream, what nvinfer files "
            "get) or clipped to the frame (clipped, visionflow YAML's default)."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _from_zoo(cls, data: Any) -> Any:
        return _zoo_config(data)


def _zoo_config(data: Any) -> Any:
    """``model: NAME`` → ``config:`` the zoo entry's ready config (both given: an error)."""
    if not isinstance(data, dict) or data.get("model") is None:
        return data
    if data.get("config") is not None:
        raise ValueError("give either config or model, not both")
    from visionflow.errors import ModelNotFoundError
    from visionflow.zoo.catalog import entry

    try:
        zoo = entry(str(data["model"]))
    except ModelNotFoundError as exc:  # pydantic reports ValueErrors only
        raise ValueError(str(exc)) from None
    if zoo.stages:
        raise ValueError(
            f"zoo entry '{zoo.name}' is a chain: give one stage per entry ({', '.join(zoo.stages)})"
        )
    reason = zoo.unavailable_reason()
    if reason is not None:
        raise ValueError(f"zoo model '{zoo.name}' {reason}")
    return {**data, "config": zoo.config_path()}


class OSDConfig(_Strict):
    """Drawing of metadata onto frames (DeepStream ``[osd]``)."""

    enable: bool = Field(True, description="Draw at all.")
    display_text: bool = Field(
        True,
        description="Draw a tag per object: label, confidence, tracking id, classifier labels.",
    )
    display_bbox: bool = Field(True, description="Draw box borders.")
    display_mask: bool = Field(True, description="Paint instance masks.")
    border_width: int | None = Field(
        None, ge=1, description="Border thickness in pixels (default: from the frame size)."
    )


class TilerConfig(_Strict):
    """Composition of all streams into one picture (DeepStream ``[tiled-display]``)."""

    enable: bool = Field(True, description="Compose the streams into one picture.")
    rows: int = Field(0, ge=0, description="Grid rows (0: automatic).")
    columns: int = Field(0, ge=0, description="Grid columns (0: automatic).")
    width: int = Field(1280, ge=16, description="Width of the composed picture.")
    height: int = Field(720, ge=16, description="Height of the composed picture.")


class TrackerStageConfig(TrackerConfig):
    """Object tracking after the primary inference (DeepStream ``[tracker]``)."""

    # Settings given here override the file's; without a file, ``algorithm`` picks the preset
    # the other settings start from (visionflow.app._tracker).

    algorithm: Algorithm = Field(
        "nvsort",
        description="Without a file: the algorithm whose NVIDIA sample settings the stage "
        "starts from (iou, nvsort or nvdcf); with one: overrides the file's choice.",
    )
    config: Path | None = Field(
        None,
        description="A DeepStream low-level tracker YAML (NvMultiObjectTracker's "
        "ll-config-file); the keys visionflow honours set the tracker.",
    )
    name: str = Field("tracker", description="Element name.")


class AnalyticsStageConfig(AnalyticsConfig):
    """Video analytics after inference and tracking (DeepStream ``nvdsanalytics``): ROIs,
    overcrowding, line crossing and direction. The rules come from a DeepStream nvdsanalytics
    file, or are given here (``streams``); settings given here override the file's."""

    config: Path | None = Field(
        None, description="A DeepStream nvdsanalytics config file (INI or YAML)."
    )
    name: str = Field("analytics", description="Element name.")


class SinkConfig(_Strict):
    """An output: an encoded video file, metadata as JSON Lines, messages to a broker, or
    nothing (fakesink)."""

    type: Literal["video", "jsonl", "broker", "fake"] = Field(
        description="video: an encoded file; jsonl: one JSON line per frame; broker: events or "
        "metadata as messages to MQTT, AMQP, Redis or Kafka (docs/events.md); fake: discard."
    )
    path: Path | None = Field(None, description="Output file (video, jsonl).")
    source_id: int | None = Field(
        None, description="Video: only this stream (default: every frame, e.g. the tiler's)."
    )
    codec: Literal["h264", "h265", "hevc", "mpeg4"] = Field("h264", description="Video codec.")
    bitrate: int | None = Field(
        None, ge=1, description="Video bit rate in bit/s (default: constant quality)."
    )
    masks: Literal["rle", "polygons", "both"] = Field(
        "rle",
        description="JSON Lines: instance masks as COCO RLE, polygons in frame pixels, or both "
        "(docs/metadata-schema.md).",
    )
    segmentation_masks: bool = Field(
        False,
        description="JSON Lines: also write each semantic segmentation map's classes as masks "
        "(in the masks format); off by default, as it makes lines large.",
    )
    broker: BrokerConfig | None = Field(
        None, description="Broker: where messages go (protocol, host, port, topic, spool)."
    )
    messages: MessagesConfig | None = Field(
        None, description="Broker: what is sent (payload schema, frame interval, msgconv file)."
    )

    @model_validator(mode="after")
    def _path_needed(self) -> SinkConfig:
        if self.type == "broker":
            if self.broker is None:
                raise ValueError("a broker sink needs a broker (protocol, host, topic …)")
        elif self.broker is not None or self.messages is not None:
            raise ValueError(f"broker and messages belong to broker sinks, not {self.type}")
        elif self.type != "fake" and self.path is None:
            raise ValueError(f"a {self.type} sink needs a path")
        if self.type != "jsonl" and (self.masks != "rle" or self.segmentation_masks):
            raise ValueError(f"masks and segmentation_masks belong to jsonl sinks, not {self.type}")
        return self

    def resolved(self, fix: Callable[[Path], Path]) -> SinkConfig:
        """A copy with its file paths passed through ``fix``."""
        update: dict[str, object] = {}
        if self.path is not None:
            update["path"] = fix(self.path)
        if self.broker is not None:
            update["broker"] = self.broker.with_paths(fix)
        if self.messages is not None and self.messages.config is not None:
            update["messages"] = self.messages.model_copy(
                update={"config": fix(self.messages.config)}
            )
        return self.model_copy(update=update) if update else self


class ProbeConfig(_Strict):
    """A Python callback run on every batch before/after an element."""

    element: str = Field(description="Name of the element to attach to (streammux, infer, osd…).")
    function: str = Field(description="package.module:function taking a Batch.")
    where: Literal["before", "after"] = Field(
        "after", description="Run before or after the element."
    )


class ApiConfig(_Strict):
    """The REST API, metrics and live view of a running pipeline (``visionflow serve``,
    ``visionflow run --api``; see docs/serve.md)."""

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(
        9000, ge=0, le=65535, description="Port (DeepStream's REST server default; 0: any free)."
    )
    token: str | None = Field(
        None,
        description="Bearer token every request must carry (the VISIONFLOW_API_TOKEN "
        "environment variable and --api-token override it); null: no token.",
    )
    view: bool = Field(False, description="Serve the live view (annotated streams) at /view.")
    max_sources: int | None = Field(
        None, ge=1, description="Most streams running at once (nvmultiurisrcbin max-batch-size)."
    )


class PipelineConfig(_Strict):
    """A whole pipeline: sources → streammux → inference → osd/tiler → sinks."""

    sources: list[SourceConfig] = Field(min_length=1, description="The input streams.")
    streammux: StreamMuxConfig = Field(StreamMuxConfig(), description="Batching across streams.")
    infer: list[InferStageConfig] = Field(
        [], description="Inference stages, in order (primary first)."
    )
    osd: OSDConfig | None = Field(None, description="Drawing; absent: frames are not drawn on.")
    tiler: TilerConfig | None = Field(
        None, description="Mosaic of all streams; absent: streams stay apart."
    )
    tracker: TrackerStageConfig | None = Field(
        None, description="Object tracking after inference; absent: objects stay untracked."
    )
    analytics: AnalyticsStageConfig | None = Field(
        None, description="Analytics after inference and tracking; absent: none."
    )
    sinks: list[SinkConfig] = Field([SinkConfig(type="fake")], description="Outputs.")
    probes: list[ProbeConfig] = Field([], description="Python callbacks on batches.")
    queue_size: int = Field(4, ge=1, description="Capacity of every queue between elements.")
    device: str = Field(
        "cpu",
        pattern=r"^(cpu|cuda(:\d+)?)$",
        description="Where frames are decoded and batched: cpu, or cuda / cuda:N (frames stay "
        "on that GPU; see sources' decoder). A GPU that cannot run is an error, never a CPU run.",
    )
    api: ApiConfig | None = Field(
        None, description="REST API, metrics and live view; absent: none (see docs/serve.md)."
    )
    cluster: ClusterConfig | None = Field(
        None,
        description="Workers of a Ray cluster run (visionflow run --ray; docs/cluster.md); "
        "ignored without --ray.",
    )

    def resolved(self, base: Path) -> PipelineConfig:
        """A copy with relative file paths joined to ``base`` (the file's folder); absolute
        paths and URIs are kept as they are."""

        def fix(path: Path) -> Path:
            return path if path.is_absolute() else base / path

        sources = [
            s
            if "://" in s.uri or Path(s.uri).is_absolute()
            else s.model_copy(update={"uri": str(base / s.uri)})
            for s in self.sources
        ]
        sources = [
            s.model_copy(
                update={
                    "smart_record": s.smart_record.model_copy(
                        update={"dir": fix(s.smart_record.dir)}
                    )
                }
            )
            if s.smart_record is not None
            else s
            for s in sources
        ]
        infer = [i.model_copy(update={"config": fix(i.config)}) for i in self.infer]
        sinks = [s.resolved(fix) for s in self.sinks]
        tracker = self.tracker
        if tracker is not None and tracker.config is not None:
            tracker = tracker.model_copy(update={"config": fix(tracker.config)})
        analytics = self.analytics
        if analytics is not None and analytics.config is not None:
            analytics = analytics.model_copy(update={"config": fix(analytics.config)})
        return self.model_copy(
            update={
                "sources": sources,
                "infer": infer,
                "sinks": sinks,
                "tracker": tracker,
                "analytics": analytics,
            }
        )


def load_pipeline_config(path: str | Path) -> PipelineConfig:
    """Read and validate a visionflow pipeline YAML file."""
    doc = load_yaml(path)
    return validate(PipelineConfig, doc).resolved(doc.path.parent)
