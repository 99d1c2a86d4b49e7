"""The parser contract: result containers, the registry and resolve_parser."""

from __future__ import annotations

import importlib
import inspect

import numpy as np
import pytest

from visionflow.errors import ConfigError
from visionflow.infer.parsers import base
from visionflow.infer.parsers.base import (
    PARSERS,
    DetectionCandidates,
    NetworkInfo,
    ParseContext,
    SegmentationResult,
    resolve_parser,
)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"xyxy": np.zeros((3, 5))}, r"xyxy must have shape \(N, 4\), got \(3, 5\)"),
        ({"confidence": np.zeros(2)}, r"confidence must have shape \(3,\), got \(2,\)"),
        ({"class_id": np.zeros((3, 1))}, r"class_id must have shape \(3,\), got \(3, 1\)"),
        (
            {"masks": np.zeros((2, 28, 28))},
            r"masks must have shape \(3, mh, mw\), got \(2, 28, 28\)",
        ),
    ],
)
def test_detection_candidates_validate(kwargs: dict[str, np.ndarray], message: str) -> None:
    fields = {"xyxy": np.zeros((3, 4)), "confidence": np.zeros(3), "class_id": np.zeros(3)}
    with pytest.raises(ValueError, match=message):
        DetectionCandidates(**{**fields, **kwargs})


def test_detection_candidates_are_typed_and_read_only() -> None:
    source = np.array([[1.0, 2.0, 3.0, 4.0]])
    dets = DetectionCandidates(source, np.array([0.5]), np.array([2.0]))
    assert (dets.xyxy.dtype, dets.confidence.dtype, dets.class_id.dtype) == (
        np.float32,
        np.float32,
        np.int32,
    )
    with pytest.raises(ValueError, match="read-only"):
        dets.confidence[0] = 1
    source[0, 0] = 9  # the caller's array stays writable
    assert len(DetectionCandidates.empty((28, 28)).masks) == 0  # type: ignore[arg-type]
    assert repr(dets.select(np.array([0, 0]))) == "<DetectionCandidates 2 boxes>"


def test_segmentation_result_validates_probability_shape() -> None:
    with pytest.raises(
        ValueError, match=r"probabilities must have shape \(C, 2, 3\), got \(4, 3, 2\)"
    ):
        SegmentationResult(np.zeros((2, 3)), np.zeros((4, 3, 2)))


def test_parse_context_validates_thresholds() -> None:
    with pytest.raises(
        ValueError, match=r"pre_cluster_threshold must have shape \(3,\), got \(2,\)"
    ):
        ParseContext(NetworkInfo(64, 64, 3), 3, np.zeros(2))


def test_resolve_parser_by_name_alias_and_reference() -> None:
    from visionflow.infer.parsers.yolo import parse_deepstream_yolo, parse_yolov8

    assert resolve_parser("yolov8") is parse_yolov8
    assert resolve_parser("NvDsInferParseYolo") is parse_deepstream_yolo
    assert resolve_parser("visionflow.infer.parsers.yolo:parse_yolov8") is parse_yolov8


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        (
            "no_such_pkg.parsers:parse",
            "cannot import module 'no_such_pkg.parsers' of parser 'no_such_pkg.parsers:parse': "
            "No module named 'no_such_pkg'",
        ),
        (
            "visionflow.infer.parsers.yolo:parse_yolov9",
            "module 'visionflow.infer.parsers.yolo' has no attribute 'parse_yolov9' "
            "(parser 'visionflow.infer.parsers.yolo:parse_yolov9')",
        ),
        (
            "visionflow.infer.parsers.yolo:__doc__",
            "parser 'visionflow.infer.parsers.yolo:__doc__' is not callable: it is a str",
        ),
        (":parse", "parser reference ':parse' must look like 'package.module:function'"),
    ],
)
def test_resolve_parser_reference_errors(ref: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        resolve_parser(ref)
    assert str(err.value) == message


def test_resolve_parser_unknown_name_lists_known_ones() -> None:
    with pytest.raises(ConfigError) as err:
        resolve_parser("NvDsInferParseCustomNoSuch")
    text = str(err.value)
    assert text.startswith("unknown parser 'NvDsInferParseCustomNoSuch'; known: ")
    assert "NvDsInferParseCustomResnet" in text
    assert "yolov8" in text
    assert text.endswith("a custom parser is given as a Python reference 'package.module:function'")


def test_every_builtin_parser_is_registered() -> None:
    registered = {id(PARSERS.get(name)) for name in PARSERS.names()}
    for module_name in base._BUILTIN_MODULES:
        module = importlib.import_module(f"visionflow.infer.parsers.{module_name}")
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("parse_") and fn.__module__ == module.__name__:
                assert id(fn) in registered, f"{module_name}.{name} is not registered"
