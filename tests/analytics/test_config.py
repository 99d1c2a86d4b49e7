"""Real nvdsanalytics files become an AnalyticsConfig; validate reports their keys honoured."""

from __future__ import annotations

from pathlib import Path

import pytest

from visionflow.analytics import Analytics, AnalyticsConfig, RoiRule
from visionflow.compat.deepstream.analytics import analytics_config, read_analytics
from visionflow.errors import ConfigError

DATA = Path(__file__).parents[1] / "data/deepstream/analytics"
PYTHON_APPS = DATA / "python_apps_config_nvdsanalytics.txt"
C02 = DATA / "python_apps_config_nvdsanalytics_c02.txt"
TAO = DATA / "tao_apps_config_nvdsanalytics.txt"


def test_python_apps_file_maps_every_group() -> None:
    config = analytics_config(PYTHON_APPS)

    assert (config.enable, config.config_width, config.config_height) == (True, 1920, 1080)
    assert (config.osd_mode, config.display_font_size) == (2, 12)
    assert sorted(config.streams) == [0, 1, 2]
    s0, s1, s2 = config.streams[0], config.streams[1], config.streams[2]
    assert s0.rois == [RoiRule(label="RF", polygon=[(295, 643), (579, 634), (642, 913), (56, 828)])]
    assert (s0.rois[0].class_ids, s0.rois[0].inverse) == ([-1], False)
    assert (s2.rois[0].inverse, s2.rois[0].class_ids) == (True, [0])
    assert [(z.label, z.object_threshold, z.time_threshold_ms) for z in s1.overcrowding] == [
        ("OC", 2, 0)
    ]
    (exit_line,) = s0.lines
    assert exit_line.label == "Exit"
    assert exit_line.direction == (789, 672, 1084, 900)
    assert exit_line.line == (851, 773, 1203, 732)
    assert (exit_line.extended, exit_line.mode, exit_line.class_ids) == (False, "loose", [0])
    assert [(d.label, d.vector, d.mode) for d in s1.directions] == [
        ("South", (284, 840, 360, 662), "balanced"),
        ("North", (1106, 622, 1312, 701), "balanced"),
    ]


def test_disabled_groups_and_trailing_separators() -> None:
    """c02: ``[overcrowding-stream-1] enable=0`` is dropped; ``roi-C02=…;`` ends with ``;``."""
    config = analytics_config(C02)
    assert config.streams[1].overcrowding == []
    assert config.streams[0].rois[0].polygon == [(673, 355), (1198, 365), (1293, 708), (498, 731)]
    assert config.streams[1].lines[0].label == "Entry"


def test_tao_file_six_strict_lines() -> None:
    config = analytics_config(TAO)
    lines = config.streams[0].lines
    assert [line.label for line in lines] == [
        "EntryTop", "EntryLeft", "EntryBottom", "ExitTop", "ExitLeft", "ExitBottom",
    ]  # fmt: skip
    assert {line.mode for line in lines} == {"strict"}
    assert config.streams[0].overcrowding == []  # enable=0
    assert [d.mode for d in config.streams[0].directions] == ["strict"] * 6


@pytest.mark.parametrize("path", [PYTHON_APPS, C02, TAO], ids=lambda p: p.name)
def test_every_key_is_honoured(path: Path) -> None:
    """Every key, except those of groups with ``enable=0`` (c02 and TAO have one)."""
    report = read_analytics(path)
    assert report.valid
    assert set(report.ignored.values()) <= {"group disabled (enable=0)"}
    assert all(key.startswith("overcrowding-stream-") for key in report.ignored)
    assert "property.config-width" in report.honoured
    assert any(k.startswith("line-crossing-stream-") for k in report.honoured)


def test_obj_cnt_window_is_reported_ignored(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text(
        "[property]\nenable=1\nconfig-width=640\nconfig-height=480\nobj-cnt-win-in-ms=500\n"
        "display-obj-cnt=1\n"
    )
    report = read_analytics(path)
    assert "property.display-obj-cnt" in report.honoured
    assert report.ignored == {
        "property.obj-cnt-win-in-ms": "per-class counts are not smoothed over a time window: "
        "each frame's counts are reported"
    }
    assert analytics_config(path).display_obj_cnt is True


def test_unknown_mode_falls_back_to_deepstreams_default(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text(
        "[property]\nenable=1\nconfig-width=640\nconfig-height=480\n"
        "[line-crossing-stream-0]\nline-crossing-A=1;1;1;5;0;3;2;3\nmode=fast\n"
        "[direction-detection-stream-0]\ndirection-B=0;0;1;1\nmode=fast\n"
    )
    config = analytics_config(path)
    assert config.streams[0].lines[0].mode == "loose"
    assert config.streams[0].directions[0].mode == "balanced"


def test_the_element_reads_a_file_and_a_bad_file_names_the_place(tmp_path: Path) -> None:
    assert Analytics(TAO).config == analytics_config(TAO)
    bad = tmp_path / "bad.txt"
    bad.write_text(
        "[property]\nenable=1\nconfig-width=640\nconfig-height=480\n"
        "[line-crossing-stream-0]\nline-crossing-A=1;1;1;5;0;3\n"
    )
    with pytest.raises(ConfigError) as caught:
        Analytics(bad)
    message = str(caught.value)
    assert f"{bad}:6" in message
    assert "line-crossing-A" in message
    assert "1;1;1;5;0;3" in message
    assert "8 integers" in message


def test_scale_from_frame_pixels_to_config_space() -> None:
    config = AnalyticsConfig(config_width=1920, config_height=1080)
    assert config.scale(640, 360) == (3.0, 3.0)
    assert AnalyticsConfig().scale(640, 360) == (1.0, 1.0)


def test_pipeline_stage_reads_a_relative_file_and_overrides_its_settings(tmp_path: Path) -> None:
    from visionflow.app import load_app
    from visionflow.zoo.scenes import write_clip

    write_clip(tmp_path / "clip.mp4", 64, 64, 2, seed=1)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules/analytics.txt").write_text(TAO.read_text())
    pipeline = tmp_path / "pipeline.yml"
    pipeline.write_text(
        "sources:\n  - uri: clip.mp4\n"
        "analytics: {config: rules/analytics.txt, osd_mode: 1, name: counting}\n"
    )
    app = load_app(pipeline)
    (element,) = [e for e in app.pipeline.elements if isinstance(e, Analytics)]
    assert element.name == "counting"
    assert element.config.osd_mode == 1  # the stage's setting over the file's 2
    assert element.config.streams == analytics_config(TAO).streams
    assert app.run().frames_out == 2


def test_deepstream_app_nvds_analytics_group_builds_the_element(tmp_path: Path) -> None:
    from visionflow.app import load_app
    from visionflow.zoo.scenes import write_clip

    clip = write_clip(tmp_path / "clip.mp4", 64, 64, 2, seed=1)
    (tmp_path / "analytics.txt").write_text(PYTHON_APPS.read_text())
    app_file = tmp_path / "app.txt"
    app_file.write_text(
        f"[source0]\nenable=1\ntype=2\nuri=file://{clip}\n"
        "[streammux]\nbatch-size=1\n"
        "[sink0]\nenable=1\ntype=1\n"
        "[nvds-analytics]\nenable=1\nconfig-file=analytics.txt\n"
    )
    app = load_app(app_file)
    (element,) = [e for e in app.pipeline.elements if isinstance(e, Analytics)]
    assert element.config == analytics_config(PYTHON_APPS)


def test_labels_of_one_feature_must_differ() -> None:
    from pydantic import ValidationError

    from visionflow.analytics import StreamRules

    square = [(0, 0), (1, 0), (1, 1)]
    with pytest.raises(ValidationError, match="rois: label 'A' is used twice"):
        StreamRules(rois=[RoiRule(label="A", polygon=square), RoiRule(label="A", polygon=square)])
    StreamRules(rois=[RoiRule(label="A", polygon=square)], overcrowding=[])  # across features: fine


def test_edge_values_deepstream_accepts_give_a_config(tmp_path: Path) -> None:
    """An empty polygon holds nothing; a font size below 1 draws at 1 pixel."""
    path = tmp_path / "a.txt"
    path.write_text(
        "[property]\nenable=1\nconfig-width=640\nconfig-height=480\ndisplay-font-size=-3\n"
        "[roi-filtering-stream-0]\nroi-Empty=\n"
    )
    config = analytics_config(path)
    assert config.display_font_size == 1
    assert config.streams[0].rois[0].polygon == []
    from tests.analytics.support import frame

    meta = frame(0, [(10, 10)])
    Analytics(config).analyse(meta)
    assert meta.analytics[0].objects_in_roi == {"Empty": 0}


def test_keys_without_effect_are_reported_ignored(tmp_path: Path) -> None:
    """Keys of a disabled group, of a group with no stream number, of disabled analytics."""
    report = read_analytics(TAO)  # [overcrowding-stream-0] enable=0
    assert "overcrowding-stream-0.enable" in report.honoured
    assert report.ignored["overcrowding-stream-0.roi-OC"] == "group disabled (enable=0)"
    assert report.ignored["overcrowding-stream-0.object-threshold"] == "group disabled (enable=0)"

    path = tmp_path / "a.txt"
    path.write_text(
        "[property]\nenable=1\nconfig-width=640\nconfig-height=480\n"
        "[roi-filtering-stream-x]\nenable=1\nroi-A=0;0;1;1;1;0\n"
    )
    report = read_analytics(path)
    why = "'x' is not a stream number: the group applies to no stream"
    assert report.ignored == {
        "roi-filtering-stream-x.enable": why,
        "roi-filtering-stream-x.roi-A": why,
    }
    assert analytics_config(path).streams == {}

    path.write_text(path.read_text().replace("enable=1\nconfig", "enable=0\nconfig"))
    report = read_analytics(path)
    assert report.honoured == ["property.enable"]
    assert set(report.ignored.values()) == {"analytics disabled ([property] enable=0)", why}
    assert analytics_config(path).enable is False


def test_yaml_nvdsanalytics_file(tmp_path: Path) -> None:
    path = tmp_path / "analytics.yml"
    path.write_text(
        "property:\n  enable: 1\n  config-width: 1920\n  config-height: 1080\n"
        "line-crossing-stream-0:\n  enable: 1\n"
        "  line-crossing-Exit: 789;672;1084;900;851;773;1203;732\n  class-id: 0\n"
        "  mode: balanced\n"
    )
    (line,) = analytics_config(path).streams[0].lines
    assert (line.direction, line.line, line.mode) == (
        (789, 672, 1084, 900),
        (851, 773, 1203, 732),
        "balanced",
    )
    assert read_analytics(path).ignored == {}
