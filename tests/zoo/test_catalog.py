"""The zoo catalog: entries, availability, cards, ready configs and ``model: NAME``."""

from __future__ import annotations

from pathlib import Path

import pytest

from visionflow.config.infer_loader import load_infer_config
from visionflow.errors import ConfigError, ModelNotFoundError
from visionflow.zoo.catalog import CATALOG, ZooEntry, entry, model_fields, stage_configs

CARD_KEYS = {"name", "task", "inputs", "labels", "license", "weights", "accuracy", "speed"}


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_every_entry_has_a_card_and_a_config(name: str) -> None:
    zoo = entry(name)
    card = zoo.card_data()
    missing = CARD_KEYS - set(card)
    assert not missing, f"{zoo.card} lacks {missing}"
    assert card["name"] == name
    assert all(path.is_file() for path in zoo.stage_configs())


def test_a_missing_package_is_unavailable_with_its_pip_command() -> None:
    ghost = ZooEntry(
        name="ghost",
        task="detection",
        summary="",
        source="ghost-models",
        package="visionflow_test_no_such_package",
        weights="m.onnx",
        config="ppocr_det.infer.yml",
        card="ppocr_det.card.yml",
        extra="ghost",
    )
    assert not ghost.available
    assert ghost.unavailable_reason() == (
        "needs the package ghost-models, which is not installed: pip install 'visionflow[ghost]'"
    )
    with pytest.raises(ModelNotFoundError, match=r"pip install 'visionflow\[ghost\]'"):
        ghost.weights_path()


def test_unknown_names_list_the_zoo() -> None:
    with pytest.raises(ModelNotFoundError, match="no zoo model 'nope'; the zoo has: shapes_det"):
        entry("nope")


def test_bundled_detector_is_always_there() -> None:
    config = load_infer_config(entry("shapes_det").config_path())
    assert config.onnx_file == entry("shapes_det").weights_path()


def test_pp_ocr_weights_come_from_the_installed_package(rapidocr) -> None:
    import rapidocr_onnxruntime

    package = Path(rapidocr_onnxruntime.__file__).parent
    for name in ("ppocr_det", "ppocr_cls", "ppocr_rec"):
        assert entry(name).available
        assert entry(name).weights_path().parent == package / "models"
        assert load_infer_config(entry(name).config_path()).onnx_file == entry(name).weights_path()


def test_the_recogniser_dictionary_comes_from_the_model(rapidocr) -> None:
    labels = model_fields("ppocr_rec")["labels"]
    assert len(labels) == 6623
    assert {"a", "Z", "7", "中"} <= {";".join(line) for line in labels}
    config = load_infer_config(entry("ppocr_rec").config_path())
    assert config.labels == labels
    assert config.fixed_height_scaling
    assert config.fixed_height_min_width == 320


def test_model_key_in_a_user_config(tmp_path, rapidocr) -> None:
    path = tmp_path / "rec.yml"
    path.write_text(
        "model: ppocr_rec\nparser: ctc\nnetwork_type: classifier\nclassifier_threshold: 0.7\n"
    )
    config = load_infer_config(path)
    assert config.onnx_file == entry("ppocr_rec").weights_path()
    assert config.classifier_threshold == 0.7
    # a key of the file wins over the zoo's
    own = tmp_path / "own.onnx"
    own.write_bytes(b"")
    path.write_text(f"model: ppocr_rec\nonnx_file: {own}\n")
    assert load_infer_config(path).onnx_file == own


@pytest.mark.parametrize(
    ("name", "message"),
    [("nope", "no zoo model 'nope'"), ("ppocr", "is a chain of ppocr_det, ppocr_cls, ppocr_rec")],
)
def test_model_key_errors_name_file_line_and_key(tmp_path, name, message) -> None:
    path = tmp_path / "m.yml"
    path.write_text(f"parser: ctc\nmodel: {name}\n")
    with pytest.raises(ConfigError, match=message) as info:
        load_infer_config(path)
    assert (info.value.file, info.value.line, info.value.key) == (str(path), 2, "model")


def test_infer_config_values(tmp_path) -> None:
    # an existing file wins over a zoo name; an unknown name stays a path
    (tmp_path / "ppocr").write_text("onnx_file: x.onnx\n")
    assert stage_configs(str(tmp_path / "ppocr")) == [tmp_path / "ppocr"]
    assert stage_configs("no/such.yml") == [Path("no/such.yml")]
    assert stage_configs("shapes_det") == [entry("shapes_det").config_path()]


def test_the_ocr_chain_runs_three_stages(rapidocr) -> None:
    configs = [load_infer_config(p) for p in stage_configs("ppocr")]
    assert [c.process_mode.value for c in configs] == ["primary", "secondary", "secondary"]
    assert [c.gie_unique_id for c in configs] == [1, 2, 3]
    assert [c.operate_on_gie_id for c in configs[1:]] == [1, 1]
    assert configs[2].object_crop_rotations == {"180": 180}


def test_a_pipeline_stage_takes_a_zoo_model(rapidocr) -> None:
    from visionflow.config.pipeline import PipelineConfig

    cfg = PipelineConfig.model_validate(
        {"sources": [{"uri": "a.png"}], "infer": [{"model": "ppocr_det"}, {"model": "ppocr_rec"}]}
    )
    assert [s.config for s in cfg.infer] == [
        entry("ppocr_det").config_path(),
        entry("ppocr_rec").config_path(),
    ]
    with pytest.raises(ValueError, match="either config or model"):
        PipelineConfig.model_validate(
            {"sources": [{"uri": "a"}], "infer": [{"model": "ppocr_det", "config": "x.yml"}]}
        )
    with pytest.raises(ValueError, match="no zoo model 'nope'"):
        PipelineConfig.model_validate({"sources": [{"uri": "a"}], "infer": [{"model": "nope"}]})


@pytest.mark.parametrize("name", ["ppocr_det", "ppocr_cls", "ppocr_rec"])
def test_validate_accepts_the_ready_configs(name: str, rapidocr) -> None:
    from visionflow.validate import validate_file

    report = validate_file(entry(name).config_path())
    assert report.valid, report.render()
    assert "model" in report.render()
