"""``visionflow models list | show`` and ``visionflow infer --config <zoo name>``."""

from __future__ import annotations

import json

import cv2
from typer.testing import CliRunner

from visionflow.cli import app
from visionflow.zoo.catalog import CATALOG, entry

runner = CliRunner()


def test_list_names_every_entry_and_its_state() -> None:
    result = runner.invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert set(rows) == set(CATALOG)
    assert rows["shapes_det"]["available"] is True
    for row in rows.values():
        assert row["available"] or row["install"].startswith("pip install")
    text = runner.invoke(app, ["models", "list"]).output
    assert "ppocr_rec" in text
    assert "text-recognition" in text


def test_show_prints_card_weights_and_configs(rapidocr) -> None:
    result = runner.invoke(app, ["models", "show", "ppocr_rec"])
    assert result.exit_code == 0, result.output
    assert str(entry("ppocr_rec").weights_path()) in result.output
    assert str(entry("ppocr_rec").config_path()) in result.output
    assert "license: Apache-2.0" in result.output
    info = json.loads(runner.invoke(app, ["models", "show", "ppocr", "--json"]).output)
    assert len(info["configs"]) == 3
    assert info["card"]["task"] == "ocr"


def test_show_an_unknown_model_exits_2() -> None:
    result = runner.invoke(app, ["models", "show", "nope"])
    assert result.exit_code == 2
    assert "no zoo model 'nope'" in result.output


def test_infer_runs_the_ocr_chain_by_name(tmp_path, rapidocr, fonts) -> None:
    from visionflow.zoo.text_scenes import render_text_scene

    image, lines = render_text_scene(5, lines=3, max_tilt=10)
    cv2.imwrite(str(tmp_path / "page.png"), image[..., ::-1])
    meta = tmp_path / "ocr.jsonl"
    result = runner.invoke(
        app,
        ["infer", "--config", "ppocr", "--input", str(tmp_path / "page.png"),
         "--meta", str(meta), "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (record,) = [json.loads(line) for line in meta.read_text().splitlines()]
    texts = {
        c["label"]
        for obj in record["objects"]
        for c in obj["classifications"]
        if c["classifier_type"] == "text"
    }
    assert texts == {line.text for line in lines}
    assert all(len(obj["polygon"]) == 4 for obj in record["objects"])


def test_infer_reads_text_in_a_video_and_draws_it(tmp_path, rapidocr, fonts) -> None:
    import av

    from visionflow.zoo.text_scenes import render_text_scene

    image, lines = render_text_scene(7, size=(960, 540), lines=3, max_tilt=8)
    clip = tmp_path / "clip.mp4"
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 960, 540, "yuv420p"
        stream.options = {"crf": "12"}
        for _ in range(3):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    meta, video = tmp_path / "ocr.jsonl", tmp_path / "annotated.mp4"
    result = runner.invoke(
        app,
        ["infer", "--config", "ppocr", "--input", str(clip), "--meta", str(meta),
         "--output", str(video), "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in meta.read_text().splitlines()]
    assert len(records) == 3
    truth = {word for line in lines for word in line.text.split()}
    for record in records:
        words = {
            word
            for obj in record["objects"]
            for c in obj["classifications"]
            if c["classifier_type"] == "text"
            for word in c["label"].split()
        }
        assert len(words & truth) >= len(truth) - 1, (words, truth)
    with av.open(str(video)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 3


def test_infer_with_an_uninstalled_zoo_package_names_the_pip_command(monkeypatch) -> None:
    from visionflow.zoo.catalog import ZooEntry

    ghost = ZooEntry(
        name="ghost_det",
        task="detection",
        summary="",
        source="ghost-models",
        package="visionflow_test_no_such_package",
        weights="m.onnx",
        config="ppocr_det.infer.yml",
        card="ppocr_det.card.yml",
        extra="ghost",
    )
    monkeypatch.setitem(CATALOG, "ghost_det", ghost)
    result = runner.invoke(app, ["infer", "--config", "ghost_det", "--input", "x.png"])
    assert result.exit_code == 2
    assert "pip install 'visionflow[ghost]'" in result.output
    listed = {
        r["name"]: r for r in json.loads(runner.invoke(app, ["models", "list", "--json"]).output)
    }
    assert listed["ghost_det"]["available"] is False
    assert listed["ghost_det"]["install"] == "pip install 'visionflow[ghost]'"
