from __future__ import annotations

from pathlib import Path

import pytest

from visionflow.config.pipeline import load_pipeline_config
from visionflow.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pipeline.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_relative_paths_resolve_against_the_file(tmp_path: Path) -> None:
    cfg = load_pipeline_config(
        write(
            tmp_path,
            "sources:\n  - uri: clips/a.mp4\n  - uri: rtsp://cam/1\n"
            "infer:\n  - config: models/det.yml\n"
            "sinks:\n  - {type: jsonl, path: out/m.jsonl}\n",
        )
    )
    assert cfg.sources[0].uri == str(tmp_path / "clips/a.mp4")
    assert cfg.sources[1].uri == "rtsp://cam/1"
    assert cfg.infer[0].config == tmp_path / "models/det.yml"
    assert cfg.sinks[0].path == tmp_path / "out/m.jsonl"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sources: []\n", r"pipeline.yml:1: sources: list should have at least 1 item"),
        (
            "sources:\n  - uri: a.mp4\nstreammux:\n  batch_size: 0\n",
            r"pipeline.yml:4: streammux.batch_size = 0: input should be greater than or equal to 1",
        ),
        (
            "sources:\n  - uri: a.mp4\n    lop: true\n",
            r"pipeline.yml:3: sources.0.lop: unknown key; did you mean 'loop'\? "
            "known keys: decoder, live, loop, reconnect_attempts, (smart_record, )?timeout, uri",
        ),
        (
            "sources:\n  - uri: a.mp4\nsinks:\n  - type: video\n",
            r"pipeline.yml:4: sinks.0: value error, a video sink needs a path",
        ),
        (
            "sources:\n  - uri: a.mp4\nsinks:\n  - {type: kafka, path: x}\n",
            r"pipeline.yml:4: sinks.0.type = 'kafka': input should be 'video', 'jsonl', 'broker' "
            "or 'fake'",
        ),
        (
            "sources: [\n",
            r"pipeline.yml:2:1: invalid YAML: expected the node content, but found '<stream end>'",
        ),
    ],
)
def test_errors_name_file_line_key_and_allowed(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_pipeline_config(write(tmp_path, text))


def test_absolute_paths_are_kept(tmp_path: Path) -> None:
    cfg = load_pipeline_config(
        write(
            tmp_path,
            "sources:\n  - uri: /data/a.mp4\n"
            "infer:\n  - config: /models/det.yml\n"
            "sinks:\n  - {type: jsonl, path: /out/m.jsonl}\n  - {type: video, path: /out/v.mp4}\n",
        )
    )
    assert cfg.sources[0].uri == "/data/a.mp4"
    assert cfg.infer[0].config == Path("/models/det.yml")
    assert [s.path for s in cfg.sinks] == [Path("/out/m.jsonl"), Path("/out/v.mp4")]


def test_a_run_writes_to_absolute_sink_paths(tmp_path: Path) -> None:
    """The pipeline file sits in one folder; clip, model config and outputs are named by
    absolute paths elsewhere, and every output is written."""
    from visionflow.app import load_app
    from visionflow.zoo import bundled_config
    from visionflow.zoo.scenes import write_clip

    (tmp_path / "media").mkdir()
    clip = write_clip(tmp_path / "media/clip.mp4", 160, 96, 12, seed=3)
    out = tmp_path / "results"
    conf = tmp_path / "conf"
    conf.mkdir()
    pipeline = conf / "pipeline.yml"
    pipeline.write_text(
        f"sources:\n  - uri: {clip}\n"
        "streammux: {batch_size: 1, batched_push_timeout: -1}\n"
        f"infer:\n  - config: {bundled_config('shapes_det')}\n"
        "osd: {}\n"
        f"sinks:\n  - {{type: jsonl, path: {out / 'meta.jsonl'}}}\n"
        f"  - {{type: video, path: {out / 'annotated.mp4'}}}\n",
        encoding="utf-8",
    )

    report = load_app(pipeline).run()

    assert report.frames_out == 12
    lines = (out / "meta.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 12
    assert (out / "annotated.mp4").stat().st_size > 1000
    assert sorted(p.name for p in conf.iterdir()) == ["pipeline.yml"]  # nothing lands beside it


@pytest.mark.parametrize(("override", "expected"), [("", "deepstream"), ("clipped", "clipped")])
def test_box_geometry_override_of_an_nvinfer_file(
    tmp_path: Path, override: str, expected: str
) -> None:
    """nvinfer files get DeepStream's box rules; the pipeline's infer stage can pick clipped."""
    from visionflow.app import load_app
    from visionflow.infer.element import Infer
    from visionflow.zoo.scenes import write_clip

    clip = write_clip(tmp_path / "clip.mp4", 64, 64, 2, seed=1)
    (tmp_path / "pgie.txt").write_text(
        "[property]\nonnx-file=m.onnx\nnum-detected-classes=1\n"
        "parse-bbox-func-name=NvDsInferParseYolo\ncustom-lib-path=libnvdsinfer_custom_impl_Yolo.so\n"
    )
    stage = "  - config: pgie.txt\n" + (f"    box_geometry: {override}\n" if override else "")
    path = write(
        tmp_path, f"sources:\n  - uri: {clip}\ninfer:\n{stage}sinks:\n  - {{type: fake}}\n"
    )
    (infer,) = [e for e in load_app(path).pipeline.elements if isinstance(e, Infer)]
    assert infer.config.box_geometry.value == expected


def test_validate_checks_the_model_config_of_each_stage(tmp_path: Path) -> None:
    from visionflow.validate import validate_file

    models = tmp_path / "models"
    models.mkdir()
    (models / "pgie.txt").write_text("[property]\nonnx-file=m.onnx\nnetwork-mode=7\n")
    pipeline = write(
        tmp_path,
        f"sources:\n  - uri: a.mp4\ninfer:\n  - config: {models / 'pgie.txt'}\n"
        f"  - config: {models / 'absent.txt'}\n",
    )

    report = validate_file(pipeline)

    assert report.errors == [
        f"{models / 'pgie.txt'}:3: [property] network-mode = 7: invalid value; expected "
        "0 (FP32), 1 (INT8), 2 (FP16) or 3 (best)"
    ]
    assert f"{pipeline}:5: infer.1.config: {models / 'absent.txt'} not found" in report.warnings
    assert "infer.0/property.network-mode" not in report.honoured
