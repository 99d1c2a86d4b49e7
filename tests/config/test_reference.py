from __future__ import annotations

from pathlib import Path

from visionflow.config.reference import pages

DOCS = Path(__file__).resolve().parents[2] / "docs" / "reference"


def test_committed_reference_pages_match_the_models() -> None:
    for name, text in pages().items():
        committed = (DOCS / name).read_text(encoding="utf-8")
        assert committed == text, (
            f"docs/reference/{name} is stale: "
            "run python -m visionflow.config.reference docs/reference"
        )


def test_every_field_is_documented() -> None:
    from visionflow.config import pipeline
    from visionflow.infer.config import ClassAttributes, InferConfig

    models = [
        InferConfig,
        ClassAttributes,
        pipeline.PipelineConfig,
        pipeline.SourceConfig,
        pipeline.StreamMuxConfig,
        pipeline.InferStageConfig,
        pipeline.OSDConfig,
        pipeline.TilerConfig,
        pipeline.SinkConfig,
        pipeline.ProbeConfig,
    ]
    undocumented = [
        f"{m.__name__}.{name}"
        for m in models
        for name, field in m.model_fields.items()
        if not field.description
    ]
    assert undocumented == []
