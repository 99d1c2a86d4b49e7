"""The keys of every deepstream-app group: how DeepStream reads each, and what visionflow does.

Read types follow ``deepstream_config_file_parser.c`` / ``deepstream_app_config_parser.c``
(DeepStream 8.0): e.g. ``enable`` is read with ``g_key_file_get_integer`` everywhere, while
``display-text`` is a GLib boolean. A spec without ``ignore`` is honoured by the reader in
:mod:`visionflow.compat.deepstream.app`; the others carry the reason they have no effect.
"""

from __future__ import annotations

from collections.abc import Callable

from visionflow.compat.deepstream.gkeyfile import BadValueError
from visionflow.compat.deepstream.keys import (
    COLOR,
    Kind,
    Spec,
    Table,
    at_least,
    between,
    choice,
)

INT, BOOLEAN, DOUBLE = Kind.INT, Kind.BOOLEAN, Kind.DOUBLE
STRING, UINT64 = Kind.STRING, Kind.UINT64
INT_LIST, DOUBLE_LIST, STRING_LIST = Kind.INT_LIST, Kind.DOUBLE_LIST, Kind.STRING_LIST

GPU = "NVIDIA GPU and buffer-memory placement; visionflow picks devices per inference stage"
DECODER = "NVIDIA hardware-decoder tuning; visionflow decodes with FFmpeg"
RTSP = "rtspsrc tuning; FFmpeg's RTSP client is used with its defaults"
SMART_RECORD_OFF = "unused: smart-record is 0"
SMART_RECORD_MODES = {
    0: "off",
    1: "recordings started by events (API, probes, analytics)",
    2: "as 1, plus a start or stop every smart-rec-interval seconds",
}
CAMERA = "camera capture is not available in visionflow yet"
AUDIO = "audio is not supported (visionflow processes video)"
PERF = "visionflow prints per-stream fps and latency at the end of every run"
DUMPS = "KITTI and tracker dumps are not available; add a jsonl sink for metadata"
ENCODER = "encoder tuning; visionflow encodes with FFmpeg (libx264/libx265) at the given bit rate"
RENDER = "on-screen rendering settings; visionflow has no display sink"
MESSAGES = "nvmsgconv/nvmsgbroker are not available in visionflow yet; no messages are sent"
OSD_STYLE = "not configurable in visionflow's OSD yet (it uses its own font and palette)"
CLOCK = "the OSD clock is not available in visionflow"
MUX_TUNING = "nvstreammux tuning with no counterpart in visionflow's streammux"
TRACKER = (
    "read by NVIDIA's Python sample apps only; visionflow's tracker is configured by a "
    "deepstream-app [tracker] group or a pipeline file's tracker stage"
)
TRACKER_LIBRARY = "/opt/nvidia/deepstream/deepstream/lib/libnvds_nvmultiobjecttracker.so"
#: ``[tracker]`` keys with no effect in visionflow, and why.
TRACKER_NOT_HONOURED = {
    "tracker-width": "visionflow's trackers work on boxes in frame coordinates, not pixels",
    "tracker-height": "visionflow's trackers work on boxes in frame coordinates, not pixels",
    "gpu-id": "tracking runs on the CPU",
    "tracker-surface-type": "tracking needs no pixels",
    "tracking-surface-type": "tracking needs no pixels",
    "compute-hw": "tracking needs no pixels",
    "display-tracking-id": "the OSD always shows the tracking id in its tags",
    "tracking-id-reset-mode": "ids are never reset within a run",
    "input-tensor-meta": "tracking needs no tensors",
    "tensor-meta-gie-id": "tracking needs no tensors",
    "user-meta-pool-size": "no memory pools to size",
    "sub-batches": "sub-batches are not available: one tracker serves every stream",
    "sub-batch-err-recovery-trial-cnt": "sub-batches are not available",
}
ANALYTICS = "nvdsanalytics is not implemented in visionflow yet"
PREPROCESS = "nvdspreprocess is not implemented in visionflow yet"

NVBUF = Spec(INT, ignore=GPU)


def _some(allowed: str) -> Callable[[list[str]], list[str]]:
    def check(values: list[str]) -> list[str]:
        if not values:
            raise BadValueError("empty list", allowed)
        return values

    return check


GPU_ID = Spec(INT, ignore=GPU)

SOURCE_TYPES = {
    1: "V4L2 camera",
    2: "URI",
    3: "MultiURI",
    4: "RTSP",
    5: "CSI camera",
    6: "audio WAV",
    7: "audio URI",
    8: "ALSA",
    9: "IPC",
}
SINK_TYPES = {
    1: "fakesink",
    2: "on-screen display",
    3: "encoded file",
    4: "RTSP streaming",
    5: "DRM overlay",
    6: "message converter and broker",
}

APPLICATION: Table = {
    "enable-perf-measurement": Spec(INT, ignore=PERF),
    "perf-measurement-interval-sec": Spec(INT, ignore=PERF),
    "gie-kitti-output-dir": Spec(STRING, ignore=DUMPS),
    "kitti-track-output-dir": Spec(STRING, ignore=DUMPS),
    "reid-track-output-dir": Spec(STRING, ignore=DUMPS),
    "terminated-track-output-dir": Spec(STRING, ignore=DUMPS),
    "shadow-track-output-dir": Spec(STRING, ignore=DUMPS),
    "global-gpu-id": GPU_ID,
}

TESTS: Table = {
    "file-loop": Spec(INT),
    "pipeline-recreate-sec": Spec(INT, ignore="deepstream-app's pipeline re-creation test hook"),
}

TILED_DISPLAY: Table = {
    "enable": Spec(INT, choice({0: "off", 1: "on", 2: "on, with parallel demux"})),
    "rows": Spec(INT, at_least(0)),
    "columns": Spec(INT, at_least(0)),
    "width": Spec(INT),
    "height": Spec(INT),
    "gpu-id": GPU_ID,
    "nvbuf-memory-type": NVBUF,
    "compute-hw": Spec(INT, ignore=GPU),
    "buffer-pool-size": Spec(INT, ignore=GPU),
    "square-seq-grid": Spec(BOOLEAN, ignore="visionflow's tiler always fills rows first"),
}

SOURCE: Table = {
    "enable": Spec(INT),
    "type": Spec(INT, choice(SOURCE_TYPES)),
    "uri": Spec(STRING),
    "num-sources": Spec(INT, at_least(1)),
    "gpu-id": GPU_ID,
    "nvbuf-memory-type": NVBUF,
    "cudadec-memtype": Spec(INT, ignore=DECODER),
    "camera-id": Spec(INT, ignore="stream id for messages; visionflow numbers streams in order"),
    "source-id": Spec(INT, ignore="sensor id for messages; visionflow numbers streams in order"),
    "camera-width": Spec(INT, ignore=CAMERA),
    "camera-height": Spec(INT, ignore=CAMERA),
    "camera-fps-n": Spec(INT, ignore=CAMERA),
    "camera-fps-d": Spec(INT, ignore=CAMERA),
    "camera-csi-sensor-id": Spec(INT, ignore=CAMERA),
    "camera-v4l2-dev-node": Spec(INT, ignore=CAMERA),
    "latency": Spec(INT, ignore=RTSP),
    "drop-frame-interval": Spec(INT, ignore="frame dropping in the decoder is not available"),
    "drop-on-latency": Spec(INT, ignore=RTSP),
    "intra-decode-enable": Spec(INT, ignore=DECODER),
    "low-latency-decode": Spec(INT, ignore=DECODER),
    "num-decode-surfaces": Spec(INT, ignore=DECODER),
    "num-extra-surfaces": Spec(INT, ignore=DECODER),
    "select-rtp-protocol": Spec(INT, ignore=RTSP),
    "set-rtp-protocol": Spec(INT, ignore=RTSP),
    "rtsp-reconnect-interval-sec": Spec(INT),
    "init-rtsp-reconnect-interval-sec": Spec(
        INT, ignore="a camera down at the start is waited for rtsp-reconnect-interval-sec seconds"
    ),
    "rtsp-reconnect-attempts": Spec(INT),
    "buffer-mode": Spec(INT, ignore=RTSP),
    "leaky": Spec(INT, ignore=RTSP),
    "max-size-buffers": Spec(INT, ignore=RTSP),
    "udp-buffer-size": Spec(INT, ignore=RTSP),
    "extract-sei-type5-data": Spec(INT, ignore="SEI extraction is not available"),
    "sensorID-padID-mapping": Spec(BOOLEAN, ignore="sensor id mapping for messages"),
    "video-format": Spec(STRING, ignore=DECODER),
    "alsa-device": Spec(STRING, ignore=AUDIO),
    "copy-hw": Spec(INT, ignore=GPU),
    "smart-record": Spec(INT, check=choice(SMART_RECORD_MODES)),
    "smart-rec-dir-path": Spec(STRING),
    "smart-rec-file-prefix": Spec(STRING),
    "smart-rec-video-cache": Spec(INT, check=at_least(0)),  # deprecated smart-rec-cache
    "smart-rec-cache": Spec(INT, check=at_least(0)),
    "smart-rec-container": Spec(INT, check=choice({0: "MP4", 1: "MKV"})),
    "smart-rec-start-time": Spec(INT, check=at_least(0)),
    "smart-rec-default-duration": Spec(INT, check=at_least(0)),
    "smart-rec-duration": Spec(INT, check=at_least(0)),
    "smart-rec-interval": Spec(INT, check=at_least(0)),
}

_RUNTIME_SOURCES = "nvmultiurisrcbin's REST server; visionflow adds streams through its Python API"
SOURCE_LIST: Table = {
    "list": Spec(STRING_LIST),
    "num-source-bins": Spec(INT),
    "sgie-batch-size": Spec(INT),
    "sensor-id-list": Spec(STRING_LIST, ignore="sensor ids for messages"),
    "sensor-name-list": Spec(STRING_LIST, ignore="sensor names for messages"),
    "use-nvmultiurisrcbin": Spec(BOOLEAN, ignore=_RUNTIME_SOURCES),
    "http-ip": Spec(STRING, ignore=_RUNTIME_SOURCES),
    "http-port": Spec(STRING, ignore=_RUNTIME_SOURCES),
    "max-batch-size": Spec(INT, ignore=_RUNTIME_SOURCES),
    "stream-name-display": Spec(BOOLEAN, ignore=OSD_STYLE),
    "dummy-payload": Spec(BOOLEAN, ignore=MESSAGES),
    "custom-ts-to-rfc": Spec(BOOLEAN, ignore=MESSAGES),
    "batched-sensor-name": Spec(STRING, ignore=MESSAGES),
    "extract-sei-type5-data": Spec(INT, ignore="SEI extraction is not available"),
    "low-latency-mode": Spec(INT, ignore=DECODER),
    "sei-uuid": Spec(STRING, ignore="SEI extraction is not available"),
}

STREAMMUX: Table = {
    "batch-size": Spec(INT, between(1, 1024)),
    "batched-push-timeout": Spec(INT),
    "width": Spec(INT),
    "height": Spec(INT),
    "enable-padding": Spec(INT),
    "live-source": Spec(INT),
    "gpu-id": GPU_ID,
    "nvbuf-memory-type": NVBUF,
    "buffer-pool-size": Spec(INT, ignore=GPU),
    "compute-hw": Spec(INT, ignore=GPU),
    "attach-sys-ts-as-ntp": Spec(INT, ignore="NTP timestamps are not attached"),
    "frame-num-reset-on-stream-reset": Spec(BOOLEAN, ignore=MUX_TUNING),
    "frame-num-reset-on-eos": Spec(BOOLEAN, ignore=MUX_TUNING),
    "frame-duration": Spec(UINT64, ignore=MUX_TUNING),
    "config-file-path": Spec(
        STRING,
        ignore="batching policy of the new nvstreammux; visionflow "
        "batches by batch-size and batched-push-timeout",
    ),
    "sync-inputs": Spec(INT, ignore=MUX_TUNING),
    "max-latency": Spec(UINT64, ignore=MUX_TUNING),
    "async-process": Spec(BOOLEAN, ignore=MUX_TUNING),
    "drop-pipeline-eos": Spec(BOOLEAN, ignore=MUX_TUNING),
    "num-surfaces-per-frame": Spec(INT, ignore=MUX_TUNING),
    "extract-sei-type5-data": Spec(INT, ignore="SEI extraction is not available"),
    "extract-sei-sim-time": Spec(INT, ignore="SEI extraction is not available"),
    "align-first-buffer": Spec(INT, ignore=MUX_TUNING),
    "sort-batch": Spec(BOOLEAN, ignore=MUX_TUNING),
    "cache-buffer": Spec(BOOLEAN, ignore=MUX_TUNING),
    "cache-buffer-timeout": Spec(INT, ignore=MUX_TUNING),
    "sync-inputs-ntp": Spec(INT, ignore=MUX_TUNING),
}

OSD: Table = {
    "enable": Spec(INT),
    "display-text": Spec(BOOLEAN),
    "display-bbox": Spec(BOOLEAN),
    "display-mask": Spec(BOOLEAN),
    "border-width": Spec(INT, at_least(0)),
    "process-mode": Spec(INT, ignore="nvdsosd CPU/GPU mode; visionflow draws on the CPU"),
    "text-size": Spec(INT, ignore=OSD_STYLE),
    "text-color": Spec(DOUBLE_LIST, COLOR, ignore=OSD_STYLE),
    "text-bg-color": Spec(DOUBLE_LIST, COLOR, ignore=OSD_STYLE),
    "font": Spec(STRING, ignore=OSD_STYLE),
    "hw-blend-color-attr": Spec(STRING, ignore=OSD_STYLE),
    "show-clock": Spec(INT, ignore=CLOCK),
    "clock-x-offset": Spec(INT, ignore=CLOCK),
    "clock-y-offset": Spec(INT, ignore=CLOCK),
    "clock-text-size": Spec(INT, ignore=CLOCK),
    "clock-color": Spec(DOUBLE_LIST, COLOR, ignore=CLOCK),
    "gpu-id": GPU_ID,
    "nvbuf-memory-type": NVBUF,
}

_APP_COLORS = "deepstream-app's per-class OSD colours are not available; the OSD uses its palette"
GIE: Table = {
    "enable": Spec(INT),
    "config-file": Spec(STRING),
    "plugin-type": Spec(INT, choice({0: "nvinfer", 1: "nvinferserver", 2: "nvdsvideotemplate"})),
    "gie-unique-id": Spec(INT),
    "batch-size": Spec(INT),
    "interval": Spec(INT),
    "operate-on-gie-id": Spec(INT),
    "operate-on-class-ids": Spec(INT_LIST),
    "model-engine-file": Spec(
        STRING, ignore="TensorRT engine; visionflow runs the nvinfer file's ONNX model"
    ),
    "labelfile-path": Spec(
        STRING,
        ignore="read by deepstream-app for its own output; labels come from the nvinfer file",
    ),
    "input-tensor-meta": Spec(BOOLEAN, ignore=PREPROCESS),
    "infer-raw-output-dir": Spec(STRING, ignore="raw tensor dumps; use output-tensor-meta"),
    "bbox-border-color*": Spec(DOUBLE_LIST, COLOR, ignore=_APP_COLORS),
    "bbox-bg-color*": Spec(DOUBLE_LIST, COLOR, ignore=_APP_COLORS),
    "gpu-id": GPU_ID,
    "nvbuf-memory-type": NVBUF,
    "audio-transform": Spec(STRING, ignore=AUDIO),
    "audio-framesize": Spec(INT, ignore=AUDIO),
    "audio-hopsize": Spec(INT, ignore=AUDIO),
    "audio-input-rate": Spec(INT, ignore=AUDIO),
}

TRACKER_KEYS: Table = {
    "enable": Spec(INT),
    "tracker-width": Spec(INT),
    "tracker-height": Spec(INT),
    "gpu-id": Spec(INT),
    "tracker-surface-type": Spec(INT),
    "ll-config-file": Spec(STRING),
    "ll-lib-file": Spec(STRING),
    "tracking-surface-type": Spec(INT),
    "display-tracking-id": Spec(INT),
    "tracking-id-reset-mode": Spec(
        INT, choice({0: "never", 1: "on stream reset", 2: "on EOS", 3: "on stream reset and EOS"})
    ),
    "input-tensor-meta": Spec(BOOLEAN),
    "tensor-meta-gie-id": Spec(INT),
    "compute-hw": Spec(INT),
    "user-meta-pool-size": Spec(INT),
    "sub-batches": Spec(STRING),
    "sub-batch-err-recovery-trial-cnt": Spec(INT),
}
#: Tracker keys DeepStream 8 no longer reads (it warns "Unknown key"); common in older configs.
LEGACY = "legacy key; DeepStream 8 warns and ignores it"
LEGACY_TRACKER_KEYS: Table = {
    key: Spec(STRING, ignore=LEGACY)
    for key in ("enable-batch-process", "enable-past-frame", "tracker-algorithm", "iou-threshold")
}

_MSG_CONV: Table = {
    "msg-conv-config": Spec(STRING),
    "msg-conv-payload-type": Spec(INT),
    "msg-conv-msg2p-lib": Spec(STRING),
    "msg-conv-comp-id": Spec(INT),
    "debug-payload-dir": Spec(STRING),
    "multiple-payloads": Spec(BOOLEAN),
    "msg-conv-msg2p-new-api": Spec(BOOLEAN),
    "msg-conv-frame-interval": Spec(INT),
    "msg-conv-dummy-payload": Spec(BOOLEAN),
    "msg-conv-embedding-filter": Spec(STRING),
}
MESSAGE_CONVERTER: Table = {"enable": Spec(INT), **_MSG_CONV}

SINK: Table = {
    "enable": Spec(INT),
    "type": Spec(INT, choice(SINK_TYPES)),
    "output-file": Spec(STRING),
    "codec": Spec(INT, choice({1: "H.264", 2: "H.265", 3: "MPEG-4"})),
    "container": Spec(INT, choice({1: "mp4", 2: "mkv"})),
    "bitrate": Spec(INT, at_least(0)),
    "source-id": Spec(INT),
    "link-to-demux": Spec(INT),
    "sync": Spec(
        INT, ignore="visionflow sinks never wait for the clock; live sources set the pace"
    ),
    "qos": Spec(BOOLEAN, ignore=RENDER),
    "width": Spec(INT, ignore=RENDER),
    "height": Spec(INT, ignore=RENDER),
    "enc-type": Spec(INT, choice({0: "hardware", 1: "software"}), ignore=ENCODER),
    "profile": Spec(INT, ignore=ENCODER),
    "iframeinterval": Spec(INT, ignore=ENCODER),
    "copy-meta": Spec(INT, ignore=ENCODER),
    "output-io-mode": Spec(INT, ignore=ENCODER),
    "sw-preset": Spec(INT, ignore=ENCODER),
    "compute-hw": Spec(INT, ignore=GPU),
    "rtsp-port": Spec(INT, ignore="RTSP output is not available"),
    "udp-port": Spec(INT, ignore="RTSP output is not available"),
    "udp-buffer-size": Spec(UINT64, ignore="RTSP output is not available"),
    "color-range": Spec(INT, ignore=RENDER),
    "conn-id": Spec(INT, ignore=RENDER),
    "plane-id": Spec(INT, ignore=RENDER),
    "set-mode": Spec(INT, ignore=RENDER),
    "gpu-id": GPU_ID,
    "nvbuf-memory-type": NVBUF,
    **{key: Spec(spec.kind, spec.check, ignore=MESSAGES) for key, spec in _MSG_CONV.items()},
    "msg-broker-proto-lib": Spec(STRING, ignore=MESSAGES),
    "msg-broker-conn-str": Spec(STRING, ignore=MESSAGES),
    "topic": Spec(STRING, ignore=MESSAGES),
    "msg-broker-config": Spec(STRING, ignore=MESSAGES),
    "msg-broker-comp-id": Spec(INT, ignore=MESSAGES),
    "disable-msgconv": Spec(INT, ignore=MESSAGES),
    "new-api": Spec(BOOLEAN, ignore=MESSAGES),
    "sleep-time": Spec(INT, ignore=MESSAGES),
}

MESSAGE_CONSUMER: Table = {
    "enable": Spec(INT),
    "config-file": Spec(STRING),
    "proto-lib": Spec(STRING),
    "conn-str": Spec(STRING),
    "sensor-list-file": Spec(STRING),
    "subscribe-topic-list": Spec(STRING_LIST, _some("at least one topic; topics separated by ';'")),
}

NVDS_ANALYTICS: Table = {"enable": Spec(INT), "config-file": Spec(STRING)}
PRE_PROCESS: Table = {
    "enable": Spec(INT),
    "config-file": Spec(STRING),
    "operate-on-gie-id": Spec(INT),
}
DS_EXAMPLE: Table = {
    "enable": Spec(INT),
    "full-frame": Spec(INT),
    "processing-width": Spec(INT),
    "processing-height": Spec(INT),
    "blur-objects": Spec(BOOLEAN),
    "unique-id": Spec(INT),
    "gpu-id": Spec(INT),
    "nvbuf-memory-type": Spec(INT),
    "batch-size": Spec(INT),
}
SEGVISUAL: Table = {
    "enable": Spec(INT),
    "width": Spec(INT),
    "height": Spec(INT),
    "batch-size": Spec(INT),
    "gpu-id": Spec(INT),
    "nvbuf-memory-type": Spec(INT),
}
DEWARPER: Table = {
    "enable": Spec(INT),
    "gpu-id": Spec(INT),
    "config-file": Spec(STRING),
    "nvbuf-memory-type": Spec(INT),
    "num-surfaces-per-frame": Spec(INT),
    "source-id": Spec(INT),
    "num-output-buffers": Spec(INT),
}
IMG_SAVE: Table = {
    "enable": Spec(INT),
    "gpu-id": Spec(INT),
    "output-folder-path": Spec(STRING),
    "frame-to-skip-rules-path": Spec(STRING),
    "save-img-full-frame": Spec(DOUBLE),
    "save-img-cropped-obj": Spec(DOUBLE),
    "second-to-skip-interval": Spec(DOUBLE),
    "min-confidence": Spec(DOUBLE),
    "max-confidence": Spec(DOUBLE),
    "min-box-width": Spec(INT),
    "min-box-height": Spec(INT),
}

#: Groups visionflow accepts without running them: table and reason.
NOT_RUN: dict[str, tuple[Table, str]] = {
    "nvds-analytics": (NVDS_ANALYTICS, ANALYTICS),
    "pre-process": (PRE_PROCESS, PREPROCESS),
    "secondary-pre-process": (PRE_PROCESS, PREPROCESS),
    "message-converter": (MESSAGE_CONVERTER, "nvmsgconv is not implemented in visionflow yet"),
    "message-consumer": (
        MESSAGE_CONSUMER,
        "cloud-to-device messages are not available in visionflow yet",
    ),
    "ds-example": (DS_EXAMPLE, "dsexample (a sample custom plugin) is not available"),
    "segvisual": (SEGVISUAL, "nvsegvisual is not available; the OSD draws masks (display-mask)"),
    "dewarper": (DEWARPER, "nvdewarper (fisheye/360° dewarping) is not available"),
    "img-save": (IMG_SAVE, "image saving is not available; use a probe"),
}
