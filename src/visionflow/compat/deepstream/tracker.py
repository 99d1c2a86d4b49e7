"""Low-level NvMultiObjectTracker configs and the Python sample apps' ``[tracker]`` INI.

The low-level file is OpenCV ``FileStorage`` YAML: a ``%YAML:1.0`` first line (not a valid YAML
1.1 directive, so it is rewritten before parsing), then one mapping per section (``BaseConfig``,
``TargetManagement``, ``TrajectoryManagement``, ``DataAssociator``, ``StateEstimator``,
``VisualTracker``, ``ReID``, ``ObjectModelProjection``, ``PoseEstimator``). OpenCV reads values by
their YAML type: numbers, strings and sequences.

Values are checked (types, enumerations, ranges) so that ``visionflow validate`` catches
mistakes; the keys visionflow's trackers honour become a
:class:`~visionflow.track.config.TrackerConfig` (:func:`tracker_config`), the others are reported
as ignored with the reason (:func:`visionflow.track.config.not_honoured`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from visionflow.compat.deepstream.app_keys import LEGACY, LEGACY_TRACKER_KEYS, TRACKER, TRACKER_KEYS
from visionflow.compat.deepstream.gkeyfile import BadValueError
from visionflow.compat.deepstream.keys import (
    IniDocument,
    at_least,
    between,
    choice,
    parse_yaml,
    read_group,
    record_group,
)
from visionflow.compat.deepstream.report import ConfigReport
from visionflow.config.yamlio import construct
from visionflow.errors import ConfigError
from visionflow.track.config import TrackerConfig, from_deepstream, not_honoured

log = logging.getLogger(__name__)

UNKNOWN = "not an NvMultiObjectTracker key documented by NVIDIA"


@dataclass(frozen=True)
class _Key:
    """A low-level key: the YAML type it must have and an optional check of the value."""

    type: str  # "int", "number", "string", "numbers" (a sequence) or "strings"
    check: Callable[[Any], Any] | None = None


FLAG = _Key("int", choice({0: "off", 1: "on"}))
COUNT = _Key("int", at_least(0))
POSITIVE = _Key("int", at_least(1))
NUMBER = _Key("number")
SCORE = _Key("number", between(0, 1))
VARIANCE = _Key("number", at_least(0))
TEXT = _Key("string")


def _dims(values: list[float]) -> list[float]:
    if len(values) != 3 or min(values) < 1:
        raise BadValueError(f"{len(values)} values", "3 positive integers, e.g. [3, 256, 128]")
    return values


def _offsets(values: list[float]) -> list[float]:
    if not 1 <= len(values) <= 4:
        raise BadValueError(f"{len(values)} values", "1 to 4 numbers, one per input channel")
    return values


_SCORES = dict.fromkeys(
    (
        "minMatchingScore4Overall",
        "minMatchingScore4SizeSimilarity",
        "minMatchingScore4Iou",
        "minMatchingScore4VisualSimilarity",
        "minMatchingScore4ReidSimilarity",
        "minMatchingScore4TentativeIou",
        "matchingScoreWeight4SizeSimilarity",
        "matchingScoreWeight4Iou",
        "matchingScoreWeight4VisualSimilarity",
        "matchingScoreWeight4ReidSimilarity",
    ),
    SCORE,
)

SECTIONS: dict[str, dict[str, _Key]] = {
    "BaseConfig": {"minDetectorConfidence": NUMBER},
    "TargetManagement": {
        "enableBboxUnClipping": FLAG,
        "preserveStreamUpdateOrder": FLAG,
        "maxTargetsPerStream": POSITIVE,
        "minIouDiff4NewTarget": SCORE,
        "minTrackerConfidence": SCORE,
        "probationAge": COUNT,
        "maxShadowTrackingAge": COUNT,
        "earlyTerminationAge": COUNT,
        "outputTerminatedTracks": FLAG,
        "outputShadowTracks": FLAG,
        "terminatedTrackFilename": TEXT,
    },
    "TrajectoryManagement": {
        "useUniqueID": FLAG,
        "enableReAssoc": FLAG,
        "minMatchingScore4Overall": SCORE,
        "minMatchingScore4ReidSimilarity": SCORE,
        "minTrackletMatchingScore": SCORE,
        "matchingScoreWeight4TrackletSimilarity": SCORE,
        "matchingScoreWeight4ReidSimilarity": SCORE,
        "minTrajectoryLength4Projection": COUNT,
        "prepLength4TrajectoryProjection": COUNT,
        "trajectoryProjectionLength": COUNT,
        "maxAngle4TrackletMatching": _Key("number", between(0, 180)),
        "minSpeedSimilarity4TrackletMatching": SCORE,
        "minBboxSizeSimilarity4TrackletMatching": SCORE,
        "maxTrackletMatchingTimeSearchRange": COUNT,
        "trajectoryProjectionProcessNoiseScale": VARIANCE,
        "trajectoryProjectionMeasurementNoiseScale": VARIANCE,
        "trackletSpacialSearchRegionScale": VARIANCE,
        "reidExtractionInterval": _Key("int", at_least(-1)),
    },
    "DataAssociator": {
        "dataAssociatorType": _Key("int", choice({0: "default"})),
        "associationMatcherType": _Key("int", choice({0: "greedy", 1: "cascaded"})),
        "checkClassMatch": FLAG,
        **_SCORES,
        "thresholdMahalanobis": VARIANCE,
        "tentativeDetectorConfidence": SCORE,
        "usePrediction4Assoc": FLAG,
    },
    "StateEstimator": {
        "stateEstimatorType": _Key("int", choice({0: "dummy", 1: "simple", 2: "regular", 3: "3D"})),
        "processNoiseVar4Loc": VARIANCE,
        "processNoiseVar4Size": VARIANCE,
        "processNoiseVar4Vel": VARIANCE,
        "measurementNoiseVar4Detector": VARIANCE,
        "measurementNoiseVar4Tracker": VARIANCE,
        "noiseWeightVar4Loc": VARIANCE,
        "noiseWeightVar4Vel": VARIANCE,
        "useAspectRatio": FLAG,
    },
    "VisualTracker": {
        "visualTrackerType": _Key("int", choice({0: "none", 1: "NvDCF", 2: "NvDCF (VPI)"})),
        "vpiBackend4DcfTracker": COUNT,
        "useColorNames": FLAG,
        "useHog": FLAG,
        "featureImgSizeLevel": _Key("int", between(1, 5)),
        "featureFocusOffsetFactor_y": NUMBER,
        "filterLr": SCORE,
        "filterChannelWeightsLr": SCORE,
        "gaussianSigma": VARIANCE,
        "searchRegionPaddingScale": VARIANCE,
    },
    "ReID": {
        "reidType": _Key("int", choice({0: "none", 1: "DeepSORT", 2: "re-association", 3: "both"})),
        "batchSize": POSITIVE,
        "workspaceSize": COUNT,
        "reidFeatureSize": POSITIVE,
        "reidHistorySize": POSITIVE,
        "inferDims": _Key("numbers", _dims),
        # Note: 1 is FP16 and 2 INT8 here, the other way round from nvinfer's network-mode.
        "networkMode": _Key("int", choice({0: "FP32", 1: "FP16", 2: "INT8"})),
        "inputOrder": _Key("int", choice({0: "NCHW", 1: "NHWC"})),
        "colorFormat": _Key("int", choice({0: "RGB", 1: "BGR"})),
        "offsets": _Key("numbers", _offsets),
        "netScaleFactor": NUMBER,
        "keepAspc": FLAG,
        "addFeatureNormalization": FLAG,
        "minVisibility4GalleryUpdate": SCORE,
        "useVPICropScaler": FLAG,
        "outputReidTensor": FLAG,
        **dict.fromkeys(
            (
                "onnxFile",
                "tltEncodedModel",
                "tltModelKey",
                "uffFile",
                "inputBlobName",
                "outputBlobName",
                "modelEngineFile",
                "calibrationTableFile",
            ),
            TEXT,
        ),
    },
    "ObjectModelProjection": {
        "cameraModelFilepath": _Key("strings"),
        "outputVisibility": FLAG,
        "outputFootLocation": FLAG,
        "outputConvexHull": FLAG,
        "minPoseConfidence": SCORE,
    },
    "PoseEstimator": {"poseInferenceInterval": COUNT},
}

_TYPE_NAMES = {
    "int": "an integer",
    "number": "a number",
    "string": "text",
    "numbers": "a sequence of numbers such as [3, 256, 128]",
    "strings": "a sequence of file names",
}


def read_tracker(path: str | os.PathLike[str]) -> ConfigReport:
    """Check an NvMultiObjectTracker YAML file and account for its keys.

    Raises:
        ConfigError: a value NvMultiObjectTracker would misread or reject, or invalid YAML.
    """
    return _read(path)[0]


def tracker_config(path: str | os.PathLike[str]) -> TrackerConfig:
    """The tracker configuration an NvMultiObjectTracker YAML file gives (see :func:`read_tracker`
    for the errors); what is not honoured is logged as a warning."""
    report, config = _read(path)
    for warning in report.warnings:
        log.warning("%s", warning)
    return config


def _read(path: str | os.PathLike[str]) -> tuple[ConfigReport, TrackerConfig]:
    file = str(path)
    root = parse_yaml(Path(path))
    report = ConfigReport(file, "tracker")
    if root is None:
        raise ConfigError("empty tracker config", file=file)
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError("expected sections such as BaseConfig:", file=file, line=1)
    values: dict[str, Any] = {}
    for section_node, body in root.value:
        section = str(section_node.value)
        keys = SECTIONS.get(section)
        if not isinstance(body, yaml.MappingNode):
            report.ignore(section, "not a section of keys")
            report.warnings.append(
                f"{file}:{section_node.start_mark.line + 1}: {section}: {UNKNOWN}"
            )
            continue
        for key_node, value_node in body.value:
            name = f"{section}.{key_node.value}"
            line = key_node.start_mark.line + 1
            spec = keys.get(str(key_node.value)) if keys is not None else None
            if spec is None:
                report.ignore(name, UNKNOWN)
                report.warnings.append(f"{file}:{line}: {name}: {UNKNOWN}")
                continue
            key = str(key_node.value)
            values[name] = _check(spec, value_node, file, line, section, key, report)
    config, honoured, warnings = from_deepstream(values)
    for name in values:
        if name in honoured:
            report.honour(name)
        else:
            report.ignore(name, not_honoured(name))
    report.warnings += [f"{file}: {warning}" for warning in warnings]
    return report, config


def _check(
    spec: _Key,
    node: yaml.Node,
    file: str,
    line: int,
    section: str,
    key: str,
    report: ConfigReport,
) -> Any:
    """The checked value of one key (an integer key's float read as OpenCV reads it)."""
    value = construct(node, file, key=key, group=section)
    text = str(node.value) if isinstance(node, yaml.ScalarNode) else "…"

    def error(reason: str, allowed: str) -> ConfigError:
        return ConfigError(
            reason,
            file=file,
            line=line,
            group=section,
            key=key,
            value=text or None,
            allowed=allowed,
        )

    if not _has_type(spec.type, value):
        reason = "no value" if value is None else f"not {_TYPE_NAMES[spec.type]}"
        raise error(reason, _TYPE_NAMES[spec.type])
    if spec.type == "int" and isinstance(value, float):
        report.warnings.append(
            f"{file}:{line}: {section}.{key}: {value} is read as the integer {round(value)}"
        )
        value = round(value)
    if spec.check is not None:
        try:
            spec.check(value)
        except BadValueError as exc:
            raise error(exc.reason, exc.allowed) from None
    return value


def _has_type(kind: str, value: Any) -> bool:
    def number(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool)

    if kind in ("int", "number"):
        return number(value)
    if kind == "string":
        return isinstance(value, str | int | float) and not isinstance(value, bool)
    if kind == "numbers":
        return isinstance(value, list) and all(number(v) for v in value)
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def read_tracker_ini(path: str | os.PathLike[str]) -> ConfigReport:
    """Check the ``[tracker]`` INI of NVIDIA's Python sample apps and account for its keys.

    These apps read the group themselves (``configparser``) and copy each key to the nvtracker
    element property of the same name; the keys are deepstream-app's ``[tracker]`` keys.
    """
    doc = IniDocument(Path(path))
    report = ConfigReport(doc.file, "tracker-ini")
    for group in doc.groups():
        if group == "tracker":
            table = {**TRACKER_KEYS, **LEGACY_TRACKER_KEYS}
            read_group(doc, group, table)
            legacy = dict.fromkeys(LEGACY_TRACKER_KEYS, LEGACY)
            record_group(doc, group, table, report, ignore=TRACKER, reasons=legacy)
        else:
            for entry in doc.entries(group):
                report.ignore(f"{group}.{entry.key}", "the sample apps read only [tracker]")
    return report
