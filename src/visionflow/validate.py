"""``visionflow validate``: recognise any visionflow or DeepStream config file and check it.

:func:`validate_file` detects the kind of file from its content, runs the matching reader and
returns its :class:`~visionflow.compat.deepstream.report.ConfigReport`: which keys visionflow
honours, which it accepts but ignores (and why), warnings, and — for an invalid file — the
precise error (file, line, group, key, value, what is allowed). Nested files a config names
(models, nvinfer configs, trackers…) may be absent: that is a warning, not an error.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from visionflow.compat.deepstream.report import ConfigReport
from visionflow.errors import ConfigError


def validate_file(path: str | os.PathLike[str]) -> ConfigReport:
    """Check one config file; every problem is in the returned report, nothing is raised."""
    from visionflow.compat.deepstream.detect import detect_kind, unrecognised

    file = os.fspath(path)
    try:
        kind = detect_kind(path)
    except ConfigError as exc:
        return ConfigReport(file, "unknown", errors=[str(exc)])
    try:
        if kind == "unknown":
            raise unrecognised(path)
        return _READERS[kind](Path(path))
    except ConfigError as exc:
        return ConfigReport(file, kind, errors=[str(exc)])
    except OSError as exc:
        return ConfigReport(file, kind, errors=[f"{file}: cannot read file: {exc.strerror}"])


def _nvinfer(path: Path) -> ConfigReport:
    from visionflow.compat.deepstream.app import model_warnings
    from visionflow.compat.deepstream.nvinfer import read_nvinfer

    config, report = read_nvinfer(path)
    report.warnings += model_warnings(config, str(path))
    return report


def _visionflow_pipeline(path: Path) -> ConfigReport:
    """The pipeline, the model config of each inference stage and the tracker's DeepStream
    file (absent: a warning)."""
    from visionflow.config.pipeline import load_pipeline_config
    from visionflow.config.yamlio import load_yaml

    config = load_pipeline_config(path)
    doc = load_yaml(path)
    report = _all_honoured(path, "visionflow-pipeline", doc.data)
    for i, stage in enumerate(config.infer):
        line = doc.line_of(("infer", i, "config"))
        where = f"{path}:{line}" if line else str(path)
        if not os.path.isfile(stage.config):
            report.warnings.append(f"{where}: infer.{i}.config: {stage.config} not found")
        else:
            report.merge(validate_file(stage.config), prefix=f"infer.{i}/")
    tracker = config.tracker.config if config.tracker is not None else None
    if tracker is not None:
        line = doc.line_of(("tracker", "config"))
        where = f"{path}:{line}" if line else str(path)
        if not os.path.isfile(tracker):
            report.warnings.append(f"{where}: tracker.config: {tracker} not found")
        else:
            report.merge(validate_file(tracker), prefix="tracker/")
    return report


def _visionflow_infer(path: Path) -> ConfigReport:
    from visionflow.compat.deepstream.app import model_warnings
    from visionflow.config.infer_loader import load_infer_config
    from visionflow.config.yamlio import load_yaml

    config = load_infer_config(path)
    report = _all_honoured(path, "visionflow-infer", load_yaml(path).data)
    report.warnings += model_warnings(config, str(path))
    return report


def _all_honoured(path: Path, kind: str, data: Any) -> ConfigReport:
    """A report honouring every key of a validated visionflow YAML (``a.b``, ``a.0.b``)."""
    report = ConfigReport(str(path), kind)

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            children: Any = node.items()
        else:
            children = enumerate(node) if isinstance(node, list) else ()
        for key, value in children:
            name = f"{prefix}{key}"
            if isinstance(key, str):
                report.honour(name)
            walk(value, f"{name}.")

    walk(data, "")
    return report


def _reader(module: str, function: str) -> Callable[[Path], ConfigReport]:
    """A reader imported when first used, so ``validate`` loads only what the file needs."""

    def read(path: Path) -> ConfigReport:
        from importlib import import_module

        report: ConfigReport = getattr(import_module(module), function)(path)
        return report

    return read


_PACKAGE = "visionflow.compat.deepstream"
_READERS: dict[str, Callable[[Path], ConfigReport]] = {
    "nvinfer": _nvinfer,
    "deepstream-app": _reader(f"{_PACKAGE}.app", "check_deepstream_app"),
    "tracker": _reader(f"{_PACKAGE}.tracker", "read_tracker"),
    "tracker-ini": _reader(f"{_PACKAGE}.tracker", "read_tracker_ini"),
    "nvdsanalytics": _reader(f"{_PACKAGE}.analytics", "read_analytics"),
    "msgconv": _reader(f"{_PACKAGE}.msgconv", "read_msgconv"),
    "msgbroker": _reader(f"{_PACKAGE}.msgconv", "read_msgbroker"),
    "preprocess": _reader(f"{_PACKAGE}.preprocess", "read_preprocess"),
    "nvdspostprocess": _reader(f"{_PACKAGE}.unsupported", "read_postprocess"),
    "nvinferserver": _reader(f"{_PACKAGE}.unsupported", "read_nvinferserver"),
    "deepstream-sample-app": _reader(f"{_PACKAGE}.unsupported", "read_sample_app"),
    "labels": _reader(f"{_PACKAGE}.unsupported", "read_labels"),
    "visionflow-pipeline": _visionflow_pipeline,
    "visionflow-infer": _visionflow_infer,
}
