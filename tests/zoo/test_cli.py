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
