"""deepstream-app configs → PipelineConfig: overrides, enable rules, sources, sinks, the report."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from visionflow.compat.deepstream.app import check_deepstream_app, read_deepstream_app
from visionflow.config.pipeline import SinkConfig
from visionflow.errors import ConfigError
from visionflow.media.video import file_uri_path

PGIE = """\
[property]
onnx-file=model.onnx
batch-size=1
gie-unique-id=7
interval=0
process-mode=1
network-type=0
num-detected-classes=4
"""
SGIE = """\
[property]
onnx-file=classifier.onnx
network-type=1
process-mode=2
gie-unique-id=9
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def app_file(folder: Path, body: str, *, pgie: str = PGIE) -> Path:
    """An app config with one file source and a primary GIE, plus ``body``."""
    write(folder, "pgie.txt", pgie)
    write(folder, "sgie.txt", SGIE)
    return write(
        folder,
        "app.txt",
        "[source0]\nenable=1\ntype=2\nuri=file://clip.mp4\n\n"
        "[primary-gie]\nenable=1\nconfig-file=pgie.txt\n\n" + textwrap.dedent(body),
    )


def test_gie_keys_override_the_nvinfer_file(tmp_path: Path) -> None:
    path = app_file(
        tmp_path,
        """
        [secondary-gie0]
        enable=1
        config-file=sgie.txt
        gie-unique-id=4
        operate-on-gie-id=1
        operate-on-class-ids=0;2;
        batch-size=16
        """,
        pgie=PGIE.replace("[property]", "[property]\n"),
    )
    text = path.read_text().replace(
        "config-file=pgie.txt", "config-file=pgie.txt\nbatch-size=4\ngie-unique-id=1\ninterval=2"
    )
    path.write_text(text)

    config, report = read_deepstream_app(path)

    primary, secondary = config.infer
    assert (primary.batch_size, primary.gie_unique_id, primary.interval) == (4, 1, 2)
    assert primary.config == tmp_path / "pgie.txt"
    assert primary.name == "primary-gie"
    assert (secondary.gie_unique_id, secondary.operate_on_gie_id) == (4, 1)
    assert secondary.operate_on_class_ids == [0, 2]
    assert secondary.batch_size == 16
    for key in ("batch-size", "gie-unique-id", "interval"):
        assert report.ignored[f"primary-gie/property.{key}"] == f"overridden by [primary-gie] {key}"
        assert f"primary-gie.{key}" in report.honoured
    assert "primary-gie/property.num-detected-classes" in report.honoured
    assert report.ignored["secondary-gie0/property.gie-unique-id"] == (
        "overridden by [secondary-gie0] gie-unique-id"
    )


@pytest.mark.parametrize(
    ("enable", "reason"),
    [
        ("enable=0\n", "group disabled (enable=0)"),
        ("enable=true\n", "group disabled: enable=true is not an integer"),
        ("", "not built: enable is missing (deepstream-app builds it only with enable=1)"),
    ],
)
def test_groups_without_a_true_integer_enable_are_skipped(
    tmp_path: Path, enable: str, reason: str
) -> None:
    path = app_file(tmp_path, f"[source1]\n{enable}type=2\nuri=file://other.mp4\nlatency=x\n")

    config, report = read_deepstream_app(path)

    assert [Path(file_uri_path(s.uri)).name for s in config.sources] == ["clip.mp4"]
    assert report.ignored["source1.type"] == reason
    assert report.ignored["source1.latency"] == reason  # not parsed, so not an error
    assert any("enable: not an integer" in w for w in report.warnings) == ("true" in enable)


def test_multiuri_repeats_the_uri_with_its_index(tmp_path: Path) -> None:
    path = app_file(tmp_path, "")
    path.write_text(
        path.read_text()
        .replace("type=2\n", "type=3\nnum-sources=4\n")
        .replace("clip.mp4", "cam_%d.mp4")
    )

    config, report = read_deepstream_app(path)

    assert [file_uri_path(s.uri) for s in config.sources] == [
        tmp_path / f"cam_{i}.mp4" for i in range(4)
    ]
    assert config.streammux.batch_size is None  # one batch slot per source
    assert "source0.num-sources" in report.honoured


def test_file_uris_are_relative_to_the_config_folder(tmp_path: Path) -> None:
    path = app_file(tmp_path / "configs", "[tests]\nfile-loop=1\n")
    path.write_text(path.read_text().replace("file://clip.mp4", "file://../streams/x.mp4"))

    config, _ = read_deepstream_app(path)

    (source,) = config.sources
    assert file_uri_path(source.uri).resolve() == (tmp_path / "streams" / "x.mp4").resolve()
    assert source.loop is True


@pytest.mark.parametrize(("kind", "name"), [(2, "on-screen display"), (4, "RTSP streaming")])
def test_display_and_rtsp_sinks_become_a_video_file_with_a_warning(
    tmp_path: Path, kind: int, name: str
) -> None:
    path = app_file(tmp_path, f"[sink2]\nenable=1\ntype={kind}\nsync=1\ncodec=2\nrtsp-port=8554\n")

    config, report = read_deepstream_app(path)

    expected = tmp_path / "app-sink2.mp4"
    assert config.sinks == [SinkConfig(type="video", path=expected, codec="h265", source_id=0)]
    assert (
        f"{path}: [sink2] type={kind} ({name}) is not available in visionflow; the video is "
        f"written to {expected} instead"
    ) in report.warnings


def test_file_sink_and_fakesink(tmp_path: Path) -> None:
    path = app_file(
        tmp_path,
        """
        [sink0]
        enable=1
        type=1
        [sink1]
        enable=1
        type=3
        output-file=out/result.mkv
        container=2
        codec=3
        bitrate=2000000
        source-id=0
        """,
    )

    config, report = read_deepstream_app(path)

    assert config.sinks == [
        SinkConfig(type="fake"),
        SinkConfig(
            type="video", path=Path("out/result.mkv"), codec="mpeg4", bitrate=2_000_000, source_id=0
        ),
    ]
    assert {"sink1.output-file", "sink1.container", "sink1.codec"} <= set(report.honoured)


def test_message_sink_becomes_a_broker_sink_analytics_and_tracker_run(
    tmp_path: Path,
) -> None:
    write(tmp_path, "tracker.yml", "%YAML:1.0\nBaseConfig:\n  minDetectorConfidence: 0.2\n")
    write(tmp_path, "analytics.txt", "[property]\nenable=1\nconfig-width=640\nconfig-height=480\n")
    path = app_file(
        tmp_path,
        """
        [tracker]
        enable=1
        ll-config-file=tracker.yml
        enable-past-frame=1
        [sink0]
        enable=1
        type=6
        msg-broker-proto-lib=/opt/nvidia/deepstream/deepstream/lib/libnvds_mqtt_proto.so
        msg-broker-conn-str=broker.local;1884
        topic=detections
        [nvds-analytics]
        enable=1
        config-file=analytics.txt
        """,
    )

    config, report = read_deepstream_app(path)

    [sink] = config.sinks
    assert sink.type == "broker"
    assert sink.broker is not None
    assert (sink.broker.protocol, sink.broker.address) == ("mqtt", ("broker.local", 1884))
    assert sink.broker.topic == "detections"
    assert config.tracker is not None
    assert config.tracker.config == tmp_path / "tracker.yml"
    assert {"tracker.enable", "tracker.ll-config-file"} <= set(report.honoured)
    assert "tracker/BaseConfig.minDetectorConfidence" in report.honoured
    assert (
        report.ignored["tracker.enable-past-frame"]
        == "legacy key; DeepStream 8 warns and ignores it"
    )
    assert {"sink0.topic", "sink0.msg-broker-proto-lib"} <= set(report.honoured)
    assert {"nvds-analytics.enable", "nvds-analytics.config-file"} <= set(report.honoured)
    assert "nvds-analytics/property.config-width" in report.honoured
    assert config.analytics is not None
    assert config.analytics.config == tmp_path / "analytics.txt"
    (tmp_path / "analytics.txt").unlink()
    with pytest.raises(ConfigError, match=r"config-file: .*analytics.txt not found"):
        read_deepstream_app(path)


def test_osd_tiler_and_streammux(tmp_path: Path) -> None:
    path = app_file(
        tmp_path,
        """
        [streammux]
        batch-size=1
        batched-push-timeout=33000
        width=1280
        height=720
        enable-padding=1
        live-source=1
        [tiled-display]
        enable=1
        rows=1
        columns=2
        width=640
        height=360
        [osd]
        enable=1
        border-width=2
        display-text=0
        """,
    )

    config, _ = read_deepstream_app(path)

    mux = config.streammux
    assert (mux.batch_size, mux.batched_push_timeout, mux.width, mux.height) == (
        1,
        33000,
        1280,
        720,
    )
    assert mux.enable_padding is True
    assert config.sources[0].live is True
    assert config.tiler is not None
    assert (config.tiler.rows, config.tiler.columns, config.tiler.width) == (1, 2, 640)
    assert config.osd is not None
    assert (config.osd.display_text, config.osd.display_mask, config.osd.border_width) == (
        False,
        False,
        2,
    )


def test_secondary_gie_not_chained_to_the_primary_is_not_built(tmp_path: Path) -> None:
    path = app_file(
        tmp_path,
        "[secondary-gie0]\nenable=1\nconfig-file=sgie.txt\ngie-unique-id=4\noperate-on-gie-id=3\n",
    )
    path.write_text(
        path.read_text().replace("config-file=pgie.txt", "config-file=pgie.txt\ngie-unique-id=1")
    )

    config, report = read_deepstream_app(path)

    assert [stage.name for stage in config.infer] == ["primary-gie"]
    assert report.ignored["secondary-gie0.config-file"].startswith(
        "not built: operate-on-gie-id=3 leads neither to the primary GIE (gie-unique-id 1)"
    )


def test_gie_ids_must_be_distinct(tmp_path: Path) -> None:
    path = app_file(tmp_path, "[secondary-gie0]\nenable=1\nconfig-file=sgie.txt\n")

    with pytest.raises(ConfigError) as info:
        read_deepstream_app(path)

    assert str(info.value) == (
        f"{path}:10: [secondary-gie0] gie-unique-id: id 0 is also [primary-gie]'s (an unset "
        "gie-unique-id counts as 0); expected a gie-unique-id of its own for every enabled GIE"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "[osd]\nenable=1\ndisplay-text=yes\n",
            ":12: [osd] display-text = yes: not a boolean; expected true, false, 1 or 0",
        ),
        (
            "[sink0]\nenable=1\ntype=7\n",
            ":12: [sink0] type = 7: invalid value; expected 1 (fakesink), 2 (on-screen display), "
            "3 (encoded file), 4 (RTSP streaming), 5 (DRM overlay) or 6 (message converter and "
            "broker)",
        ),
        (
            "[tiled-display]\nenable=1\nwidth=8\n",
            ":12: [tiled-display] width = 8: input should be greater than or equal to 16",
        ),
        (
            "[source7]\nenable=1\n",
            ":10: [source7] has no type; expected 1 (V4L2 camera), 2 (URI), 3 (MultiURI), "
            "4 (RTSP), 5 (CSI camera), 6 (audio WAV), 7 (audio URI), 8 (ALSA) or 9 (IPC)",
        ),
    ],
)
def test_invalid_values_name_file_line_key_and_allowed_values(
    tmp_path: Path, body: str, message: str
) -> None:
    path = app_file(tmp_path, body)

    with pytest.raises(ConfigError) as info:
        check_deepstream_app(path)

    assert str(info.value) == str(path) + message


def test_missing_nested_files_are_errors_to_run_and_warnings_to_validate(tmp_path: Path) -> None:
    path = app_file(tmp_path, "")
    path.write_text(path.read_text().replace("config-file=pgie.txt", "config-file=absent.txt"))

    with pytest.raises(ConfigError, match=r"\[primary-gie\] config-file: .*absent.txt not found"):
        read_deepstream_app(path)
    report = check_deepstream_app(path)
    assert report.valid
    assert (
        f"{path}:8: [primary-gie] config-file: {tmp_path / 'absent.txt'} not found"
        in report.warnings
    )


def test_yaml_app_reads_sources_from_its_csv_table(tmp_path: Path) -> None:
    write(tmp_path, "pgie.txt", PGIE)
    write(
        tmp_path,
        "sources.csv",
        "enable,type,uri,num-sources\n1,3,file://a_%d.mp4,2\n0,2,file://b.mp4,1\n",
    )
    path = write(
        tmp_path,
        "app.yml",
        """
        source:
          csv-file-path: sources.csv
        streammux:
          batch-size: 2
        primary-gie:
          enable: 1
          gie-unique-id: 1
          config-file: pgie.txt
        sink0:
          enable: 1
          type: 1
        tests:
          file-loop: 1
        source0:
          enable: 1
          type: 2
          uri: file://ignored.mp4
        """,
    )

    config, report = read_deepstream_app(path)

    assert [file_uri_path(s.uri) for s in config.sources] == [
        tmp_path / "a_0.mp4",
        tmp_path / "a_1.mp4",
    ]
    assert all(s.loop for s in config.sources)
    assert config.infer[0].gie_unique_id == 1
    assert "source/row1.uri" in report.honoured
    assert report.ignored["source/row2.uri"] == "group disabled (enable=0)"
    assert report.ignored["source0.uri"] == "deepstream-app's YAML reader skips it"


def test_yaml_enable_must_be_an_integer(tmp_path: Path) -> None:
    write(tmp_path, "pgie.txt", PGIE)
    path = write(tmp_path, "app.yml", "primary-gie:\n  enable: true\n  config-file: pgie.txt\n")

    with pytest.raises(ConfigError) as info:
        check_deepstream_app(path)

    assert str(info.value) == (
        f"{path}:2: [primary-gie] enable = true: not an integer; expected an integer "
        "(DeepStream's YAML reader takes 0 or 1 here, not true/false)"
    )


SOURCE4 = """\
[application]
enable-perf-measurement=1
perf-measurement-interval-sec=5

[tiled-display]
enable=1
rows=2
columns=2
width=1280
height=720
gpu-id=0
nvbuf-memory-type=0

[source0]
enable=1
type=3
uri=file://../../streams/sample_1080p_h264.mp4
num-sources=4
gpu-id=0
cudadec-memtype=0

[sink0]
enable=1
type=2
sync=1
source-id=0
gpu-id=0
nvbuf-memory-type=0

[sink1]
enable=0
type=3
container=1
codec=1
enc-type=0
sync=0
bitrate=2000000
profile=0
output-file=out.mp4
source-id=0

[osd]
enable=1
gpu-id=0
border-width=1
text-size=15
text-color=1;1;1;1;
text-bg-color=0.3;0.3;0.3;1
font=Serif
show-clock=0
clock-x-offset=800
clock-y-offset=820
clock-text-size=12
clock-color=1;0;0;0
nvbuf-memory-type=0

[streammux]
gpu-id=0
live-source=0
buffer-pool-size=4
batch-size=4
batched-push-timeout=40000
width=1920
height=1080
enable-padding=0
nvbuf-memory-type=0

[primary-gie]
enable=1
gpu-id=0
model-engine-file=../../models/Primary_Detector/resnet10.caffemodel_b4_gpu0_int8.engine
batch-size=4
bbox-border-color0=1;0;0;1
bbox-border-color1=0;1;1;1
bbox-border-color2=0;0;1;1
bbox-border-color3=0;1;0;1
interval=0
gie-unique-id=1
nvbuf-memory-type=0
config-file=config_infer_primary.txt

[tracker]
enable=1
tracker-width=960
tracker-height=544
ll-lib-file=/opt/nvidia/deepstream/deepstream/lib/libnvds_nvmultiobjecttracker.so
ll-config-file=config_tracker_NvDCF_perf.yml
gpu-id=0
display-tracking-id=1

[secondary-gie0]
enable=1
model-engine-file=../../models/Secondary_VehicleTypes/resnet18.caffemodel_b16_gpu0_int8.engine
gpu-id=0
batch-size=16
gie-unique-id=4
operate-on-gie-id=1
operate-on-class-ids=0;
config-file=config_infer_secondary_vehicletypes.txt

[secondary-gie1]
enable=1
model-engine-file=../../models/Secondary_CarColor/resnet18.caffemodel_b16_gpu0_int8.engine
batch-size=16
gpu-id=0
gie-unique-id=5
operate-on-gie-id=1
operate-on-class-ids=0;
config-file=config_infer_secondary_carcolor.txt

[secondary-gie2]
enable=1
model-engine-file=../../models/Secondary_CarMake/resnet18.caffemodel_b16_gpu0_int8.engine
batch-size=16
gpu-id=0
gie-unique-id=6
operate-on-gie-id=1
operate-on-class-ids=0;
config-file=config_infer_secondary_carmake.txt

[tests]
file-loop=0
"""


def test_sample_source4_tiled_config(tmp_path: Path) -> None:
    """DeepStream's ``source4_1080p_dec_infer-resnet_tracker_sgie_tiled_display_int8.txt``
    (spec §10 #32; comments dropped), with small nvinfer files next to it."""
    folder = tmp_path / "samples/configs/deepstream-app"
    write(folder, "config_infer_primary.txt", PGIE)
    write(folder, "config_tracker_NvDCF_perf.yml", "%YAML:1.0\nBaseConfig: {}\n")
    for name in ("vehicletypes", "carcolor", "carmake"):
        write(folder, f"config_infer_secondary_{name}.txt", SGIE)
    path = write(folder, "source4.txt", SOURCE4)

    config, report = read_deepstream_app(path)

    streams = (tmp_path / "samples/streams/sample_1080p_h264.mp4").resolve()
    assert [file_uri_path(s.uri).resolve() for s in config.sources] == [streams] * 4
    assert [s.loop for s in config.sources] == [False] * 4
    assert [stage.name for stage in config.infer] == [
        "primary-gie",
        "secondary-gie0",
        "secondary-gie1",
        "secondary-gie2",
    ]
    assert [stage.gie_unique_id for stage in config.infer] == [1, 4, 5, 6]
    assert all(s.operate_on_class_ids == [0] and s.batch_size == 16 for s in config.infer[1:])
    assert config.tiler is not None
    assert (config.tiler.rows, config.tiler.columns) == (2, 2)
    assert config.streammux.batch_size == 4
    assert config.sinks == [
        SinkConfig(type="video", path=folder / "source4-sink0.mp4", codec="h264", source_id=None)
    ]
    assert report.ignored["primary-gie.model-engine-file"].startswith("TensorRT engine")
    assert report.ignored["sink0.source-id"] == "the sink receives the tiled picture"
    assert config.tracker is not None
    assert config.tracker.config == folder / "config_tracker_NvDCF_perf.yml"
    assert report.ignored["tracker.tracker-width"].startswith("visionflow's trackers work on boxes")


def test_deepstream_app_config_runs_in_visionflow(tmp_path: Path) -> None:
    """A deepstream-app config with a DeepStream-Yolo style model runs end to end, and the
    GIE's gie-unique-id (3) replaces the nvinfer file's (1) on every detection."""
    from support.onnx_models import constant_output_model
    from visionflow.app import App
    from visionflow.core.batch import Batch

    # DeepStream-Yolo output rows: x1, y1, x2, y2, score, class (network pixels, 64x64).
    rows = np.array([[8, 8, 24, 20, 0.9, 1], [30, 40, 50, 60, 0.8, 0], [1, 1, 3, 3, 0.1, 0]])
    constant_output_model(tmp_path / "det.onnx", {"output": rows.astype(np.float32)})
    write(
        tmp_path,
        "pgie.txt",
        """
        [property]
        onnx-file=det.onnx
        network-type=0
        num-detected-classes=2
        cluster-mode=2
        gie-unique-id=1
        parse-bbox-func-name=NvDsInferParseYolo
        [class-attrs-all]
        pre-cluster-threshold=0.25
        """,
    )
    path = write(
        tmp_path,
        "app.txt",
        """
        [source0]
        enable=1
        type=3
        num-sources=2
        uri=synthetic://64x64?frames=3
        [streammux]
        batch-size=2
        width=64
        height=64
        batched-push-timeout=40000
        [primary-gie]
        enable=1
        gie-unique-id=3
        config-file=pgie.txt
        [sink0]
        enable=1
        type=1
        """,
    )
    config, _ = read_deepstream_app(path)
    app = App.from_config(config)
    seen: list[Batch] = []
    app.pipeline.add_probe("primary-gie", seen.append)

    report = app.run()

    assert report.frames_out == 6
    frames = [frame for batch in seen for frame in batch.meta.frames]
    assert sorted((f.source_id, f.frame_num) for f in frames) == [
        (s, n) for s in (0, 1) for n in range(3)
    ]
    for frame in frames:
        # Kept boxes come out class by class; the 0.1 box is under pre-cluster-threshold.
        np.testing.assert_allclose(frame.detections.xyxy, [[30, 40, 50, 60], [8, 8, 24, 20]])
        assert frame.detections.class_id.tolist() == [0, 1]
        assert frame.detections.component_id.tolist() == [3, 3]


def test_source_list_with_attributes_for_all(tmp_path: Path) -> None:
    write(tmp_path, "pgie.txt", PGIE)
    path = write(
        tmp_path,
        "app.txt",
        """
        [source-list]
        list=file://a.mp4;rtsp://cam.local/1;usb:0;
        num-source-bins=3
        sensor-id-list=a;b;c
        sensor-name-list=A;B;C
        sgie-batch-size=8
        [source-attr-all]
        enable=1
        type=3
        latency=200
        [source1]
        enable=1
        uri=rtsp://cam.local/2
        [streammux]
        batch-size=1
        [primary-gie]
        enable=1
        gie-unique-id=1
        batch-size=1
        config-file=pgie.txt
        [secondary-gie0]
        enable=1
        gie-unique-id=2
        operate-on-gie-id=1
        config-file=pgie.txt
        """,
    )

    config, report = read_deepstream_app(path)

    assert [s.uri for s in config.sources] == [f"file://{tmp_path}/a.mp4", "rtsp://cam.local/2"]
    assert config.streammux.batch_size == 2  # forced to the number of sources
    assert [stage.batch_size for stage in config.infer] == [2, 8]
    assert (
        report.ignored["streammux.batch-size"] == "replaced by the number of [source-list] entries"
    )
    assert report.ignored["source-attr-all.type"] == "replaced by each [source-list] entry"
    assert any("type=1 (V4L2 camera /dev/video0)" in w for w in report.warnings)


def test_source_list_counts_must_match(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "app.txt",
        "[source-list]\nlist=file://a.mp4;file://b.mp4\nnum-source-bins=2\nsensor-id-list=a\n"
        "sensor-name-list=A;B\n[source-attr-all]\nenable=1\n",
    )

    with pytest.raises(ConfigError) as info:
        check_deepstream_app(path)

    assert str(info.value) == (
        f"{path}:4: [source-list] sensor-id-list = a: 1 entries for num-source-bins=2; "
        "expected 2 entries"
    )


def test_other_kinds_of_file_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "pgie.txt", PGIE)

    with pytest.raises(ConfigError) as info:
        read_deepstream_app(path)

    assert str(info.value) == (
        f"{path}:1: this is an nvinfer config, not a deepstream-app config or a visionflow "
        "pipeline; run a model config with 'visionflow infer -c FILE -i INPUT'; expected a "
        "deepstream-app config ([source0], [primary-gie], [sink0] …) or a visionflow pipeline "
        "YAML (sources:, infer:, sinks:)"
    )


def test_duplicate_key_uses_the_last_value_and_warns(tmp_path: Path) -> None:
    path = app_file(tmp_path, "[streammux]\nbatch-size=1\nwidth=640\nbatch-size=2\n")

    config, report = read_deepstream_app(path)

    assert config.streammux.batch_size == 2
    assert (
        f"{path}:11: [streammux] batch-size: duplicate key; the value on line 13 is used"
    ) in report.warnings


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "[streammux]\nbatch-size=0\n",
            ":11: [streammux] batch-size = 0: out of range; expected a number from 1 to 1024",
        ),
        (
            "[streammux]\nbatch-size=1025\n",
            ":11: [streammux] batch-size = 1025: out of range; expected a number from 1 to 1024",
        ),
        (
            "[source1]\nenable=1\ntype=3\nuri=file://b_%d.mp4\nnum-sources=-2\n",
            ":14: [source1] num-sources = -2: out of range; expected a number ≥ 1",
        ),
    ],
)
def test_streammux_batch_size_and_num_sources_out_of_range_are_rejected(
    tmp_path: Path, body: str, message: str
) -> None:
    path = app_file(tmp_path, body)

    for read in (read_deepstream_app, check_deepstream_app):
        with pytest.raises(ConfigError) as info:
            read(path)
        assert str(info.value) == f"{path}{message}"
