"""A DeepStream config naming a Caffe model runs: the model is converted to ONNX on first use."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from google.protobuf import text_format

from visionflow.config.infer_loader import load_infer_config
from visionflow.convert.importers.caffe_pb import NetParameter
from visionflow.core.batch import Batch
from visionflow.core.frame import Frame, PixelFormat
from visionflow.errors import ConfigError
from visionflow.infer.element import Infer

PROTOTXT = """
name: "tiny"
layer { name: "data" type: "Input" top: "data"
        input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc"
        inner_product_param { num_output: 3 } }
layer { name: "prob" type: "Softmax" bottom: "fc" top: "prob" }
"""


def write_caffe(folder: Path, weight: np.ndarray, bias: np.ndarray) -> None:
    net = text_format.Parse(PROTOTXT, NetParameter())
    (folder / "deploy.prototxt").write_text(text_format.MessageToString(net))
    for layer in net.layer:
        if layer.name == "fc":
            for array in (weight, bias):
                blob = layer.blobs.add()
                blob.shape.dim.extend(array.shape)
                blob.data.extend(array.astype(np.float32).ravel())
    (folder / "model.caffemodel").write_bytes(net.SerializeToString())


def test_caffe_classifier_config_runs_and_converts_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rng = np.random.default_rng(3)
    weight, bias = (
        rng.normal(size=(3, 192)).astype(np.float32),
        rng.normal(size=3).astype(np.float32),
    )
    write_caffe(tmp_path, weight, bias)
    (tmp_path / "labels.txt").write_text("red;green;blue\n")
    (tmp_path / "sgie.txt").write_text(
        "[property]\nproto-file=deploy.prototxt\nmodel-file=model.caffemodel\n"
        "labelfile-path=labels.txt\nnet-scale-factor=0.01\nnetwork-type=1\n"
        "output-blob-names=prob\ngie-unique-id=2\nclassifier-threshold=0.0\n"
    )
    config = load_infer_config(tmp_path / "sgie.txt")
    frame = np.full((16, 16, 3), 100, np.uint8)
    # Reference: every input value is 0.01 * 100 = 1; logits = W @ ones + b.
    probs = np.exp(weight.sum(axis=1) + bias)
    probs /= probs.sum()
    expected = int(probs.argmax())

    with caplog.at_level(logging.INFO, logger="visionflow.convert.engine"):
        for _ in range(2):
            infer = Infer(config)
            infer.start()
            dets = (
                infer.process(Batch([Frame(frame, PixelFormat.RGB24, 0, 0)]))
                .meta.frames[0]
                .detections
            )
            (label,) = dets.classifications[0]
            assert label.class_id == expected
            assert label.label == ("red", "green", "blue")[expected]
            assert label.confidence == pytest.approx(float(probs[expected]), abs=1e-5)
    conversions = [r for r in caplog.records if "converting caffe model" in r.getMessage()]
    assert len(conversions) == 1


def test_uff_config_gets_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "m.uff").write_bytes(b"uff")
    (tmp_path / "pgie.txt").write_text("[property]\nuff-file=m.uff\nnum-detected-classes=1\n")
    infer = Infer(load_infer_config(tmp_path / "pgie.txt"))
    with pytest.raises(
        ConfigError, match=r"no model to run: set onnx-file, or model-file.*UFF \(uff-file\)"
    ):
        infer.start()
