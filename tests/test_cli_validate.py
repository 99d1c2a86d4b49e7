"""``visionflow validate FILE [--json]``: exit codes, precise messages, JSON report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from support.corpus import DATA
from visionflow.cli import app

APP = DATA / "marcoslucianops__DeepStream-Yolo/deepstream_app_config.txt"

runner = CliRunner()


def nvinfer_file(folder: Path, network_mode: str) -> Path:
    path = folder / "pgie.txt"
    path.write_text(
        "[property]\n"
        "onnx-file=model.onnx\n"
        f"network-mode={network_mode}\n"
        "num-detected-classes=2\n"
        "cluster-mode=2\n"
        "enable-dbscan=0\n"
    )
    return path


def test_valid_file_exits_0_with_a_summary(tmp_path: Path) -> None:
    path = nvinfer_file(tmp_path, "2")

    result = runner.invoke(app, ["validate", str(path)])

    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{path}: nvinfer config, valid\n")
    assert "property.network-mode" in result.output


def test_invalid_file_exits_2_with_file_line_message(tmp_path: Path) -> None:
    path = nvinfer_file(tmp_path, "100")

    result = runner.invoke(app, ["validate", str(path)])

    assert result.exit_code == 2
    assert (
        f"error: {path}:3: [property] network-mode = 100: invalid value; expected 0 (FP32), "
        "1 (INT8), 2 (FP16) or 3 (best)"
    ) in result.output


def test_json_lists_honoured_and_ignored_keys(tmp_path: Path) -> None:
    path = nvinfer_file(tmp_path, "0")

    result = runner.invoke(app, ["validate", "--json", str(path)])

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["kind"] == "nvinfer"
    assert report["valid"] is True
    assert {"property.onnx-file", "property.network-mode", "property.cluster-mode"} <= set(
        report["honoured"]
    )
    assert report["ignored"] == [
        {
            "key": "property.enable-dbscan",
            "reason": "deprecated alias of cluster-mode=1; cluster-mode is set",
        }
    ]
    assert report["errors"] == []


def test_unknown_file_is_invalid_at_its_first_line(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not=a config\n")

    result = runner.invoke(app, ["validate", "--json", str(path)])

    assert result.exit_code == 2
    assert json.loads(result.output)["errors"] == [
        f"{path}:1: key outside any group; the file must start with a [group] line; "
        "expected a [group] line before the first key=value line"
    ]


def test_corpus_deepstream_app_file() -> None:
    result = runner.invoke(app, ["validate", "--json", str(APP)])

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["kind"] == "deepstream-app"
    assert "primary-gie.config-file" in report["honoured"]
    assert report["errors"] == []
    assert any(item["key"] == "osd.font" for item in report["ignored"])


# --- one precise message, whichever command reads the file (issue 10 items 8 and 9) -------------


def _error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, output
    return lines[0].removeprefix("error: ")


def _validate_error(path: Path) -> str:
    result = runner.invoke(app, ["validate", "--json", str(path)])
    assert result.exit_code == 2, result.output
    errors = json.loads(result.output)["errors"]
    assert len(errors) == 1
    return str(errors[0])


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from visionflow.zoo.scenes import write_clip

    return write_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", 64, 48, 2)


PGIE = "[property]\nonnx-file=m.onnx\nnum-detected-classes=2\n"
APP_TXT = (
    "[source0]\nenable=1\ntype=3\nuri=file:///x.mp4\n\n"
    "[streammux]\nbatch-size=1\nwidth=64\nheight=48\n\n"
    "[sink0]\nenable=1\ntype=1\n"
)

#: (file name, content, the whole message after "<file>"): a model config is also read by
#: ``infer -c``, a pipeline by ``run``; all three commands must print the same message.
CASES: list[tuple[str, bytes, str]] = [
    (
        "pgie.txt",
        b"[property]\nonnx-file=m.onnx\nwidht 640\n",
        ":3: line 'widht 640' is not a key=value pair, a [group] header or a # comment; "
        "expected key=value, [group] or # comment lines",
    ),
    (
        "pgie.yml",
        b"property:\n  onnx-file: m.onnx\n  batch-size: [1\n",
        ":4:1: invalid YAML: expected ',' or ']', but got '<stream end>' "
        "(while parsing a flow sequence on line 3); expected YAML: 'key: value' lines, nested "
        "keys indented alike, values with ': ', '#' or a leading special character quoted",
    ),
    (
        "pgie.txt",
        b"[property]\nonnx-file=m\xe9.onnx\n",
        ":2:12: not UTF-8 text: byte 0xe9 at offset 22 (invalid continuation byte); "
        "expected a file saved as UTF-8",
    ),
    (
        "model.yml",
        b"onnx_file: m.onnx\nbatch_size: !!int abc\n",
        ":2:13: batch_size = 'abc': not an integer; expected an integer (or no tag)",
    ),
    (
        "model.yml",
        b"onnx_file: m.onnx\nbatch_size: " + b"9" * 5000 + b"\n",
        ":2:13: batch_size = '" + "9" * 57 + "...': an integer of 5000 digits; "
        "expected at most 4300 digits",
    ),
    (
        "app.txt",
        APP_TXT.replace("width=64", "widht 64").encode(),
        ":8: line 'widht 64' is not a key=value pair, a [group] header or a # comment; "
        "expected key=value, [group] or # comment lines",
    ),
    (
        "app.txt",
        APP_TXT.encode() + b"\xff\n",
        ":14:1: not UTF-8 text: byte 0xff at offset 114 (invalid start byte); "
        "expected a file saved as UTF-8",
    ),
    (
        "pipeline.yml",
        b"sources:\n  - uri: " + b"[" * 100 + b"]" * 100 + b"\n",
        ":2:71: lists and mappings nested more than 64 levels deep; expected at most 64 levels",
    ),
    (
        "pipeline.yml",
        b"sources:\n  - uri: a.mp4\n    lop: true\n",
        ":3: sources.0.lop: unknown key; did you mean 'loop'? "
        "known keys: decoder, live, loop, reconnect_attempts, smart_record, timeout, uri",
    ),
    (
        "pipeline.yml",
        b"sources:\n  - uri: a.mp4\nwhen: 2024-02-30\n",
        ":3:7: when = '2024-02-30': not a date such as 2024-01-31; expected a date such as "
        "2024-01-31 (or no tag)",
    ),
]


@pytest.mark.parametrize(("name", "content", "message"), CASES)
def test_validate_infer_and_run_name_the_same_place(
    tmp_path: Path, clip: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    expected = f"{path}{message}"

    assert _validate_error(path) == expected
    if name.startswith(("pgie", "model")):
        result = runner.invoke(app, ["infer", "-c", str(path), "-i", str(clip), "--no-progress"])
    else:
        result = runner.invoke(app, ["run", str(path), "--no-progress"])
    assert result.exit_code == 2, result.output
    assert _error_line(result.output) == expected


def test_a_tracker_value_yaml_cannot_build_is_placed(tmp_path: Path) -> None:
    path = tmp_path / "tracker.yml"
    path.write_text(
        "%YAML:1.0\nBaseConfig:\n  minDetectorConfidence: !!float x\n"
        "TargetManagement:\n  maxTargetsPerStream:\n"
    )

    assert _validate_error(path) == (
        f"{path}:3:26: [BaseConfig] minDetectorConfidence = 'x': not a number; "
        "expected a number (or no tag)"
    )
    path.write_text("%YAML:1.0\nBaseConfig:\n  minDetectorConfidence:\n")
    assert _validate_error(path) == (
        f"{path}:3: [BaseConfig] minDetectorConfidence: no value; expected a number"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[propety]\nonnx-file=m.onnx\n",
            ":1: [propety] is not a group or key visionflow knows; did you mean '[property]'?",
        ),
        (
            "onnx_fil: m.onnx\nbatch_size: 1\n",
            ":1: onnx_fil is not a group or key visionflow knows; did you mean 'onnx_file'?",
        ),
    ],
)
def test_an_unrecognised_file_gets_the_nearest_name(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / ("x.yml" if ":" in text else "x.txt")
    path.write_text(text)

    assert _validate_error(path).startswith(f"{path}{message}")


def test_a_misspelt_nvinfer_key_suggests_the_nearest(tmp_path: Path) -> None:
    path = tmp_path / "pgie.txt"
    path.write_text(PGIE + "batch-szie=2\n")

    result = runner.invoke(app, ["validate", "--json", str(path)])

    assert result.exit_code == 0
    assert json.loads(result.output)["warnings"][0] == (
        f"{path}:4: [property] batch-szie: unknown key; ignored; did you mean 'batch-size'?"
    )


def test_infer_on_a_pipeline_file_says_what_it_is(tmp_path: Path, clip: Path) -> None:
    path = tmp_path / "app.txt"
    path.write_text(APP_TXT)

    result = runner.invoke(app, ["infer", "-c", str(path), "-i", str(clip), "--no-progress"])

    assert result.exit_code == 2
    assert _error_line(result.output) == (
        f"{path}:1: this is a deepstream-app config, not a model config; run it with "
        "'visionflow run FILE'; expected a DeepStream nvinfer config ([property] with onnx-file "
        "…) or a visionflow model YAML (onnx_file: …)"
    )


def test_model_file_configs_are_converted_on_first_use_not_told_to_convert(
    tmp_path: Path,
) -> None:
    (tmp_path / "detector.tflite").write_bytes(b"TFL3")
    path = tmp_path / "pgie.txt"
    path.write_text("[property]\nmodel-file=detector.tflite\nnum-detected-classes=2\n")

    result = runner.invoke(app, ["validate", "--json", str(path)])

    assert result.exit_code == 0, result.output
    warnings = json.loads(result.output)["warnings"]
    assert not any("convert the model" in w for w in warnings), warnings
    assert any("converts it to ONNX on first use" in w for w in warnings), warnings

    path.write_text("[property]\nmodel-file=absent.tflite\nnum-detected-classes=2\n")
    warnings = json.loads(runner.invoke(app, ["validate", "--json", str(path)]).output)["warnings"]
    assert any(f"model file {tmp_path / 'absent.tflite'} not found" in w for w in warnings)
