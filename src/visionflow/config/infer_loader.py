"""Loading an inference config file, whichever front end wrote it.

Two front ends produce an :class:`~visionflow.infer.config.InferConfig`: visionflow's own YAML
(the model's fields in snake_case, validated by pydantic) and DeepStream's nvinfer files (INI, or
YAML with a top-level ``property:`` mapping, read by :mod:`visionflow.compat.deepstream.nvinfer`).
This module sits above both and chooses between them; the inference config imports neither.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from visionflow.compat.deepstream.detect import detect_kind
from visionflow.compat.deepstream.nvinfer import read_nvinfer
from visionflow.config.yamlio import LocatedYaml, load_yaml, validate
from visionflow.errors import ConfigError
from visionflow.infer.config import InferConfig, read_label_file, resolve_config_path

log = logging.getLogger(__name__)

_PIPELINES = ("deepstream-app", "visionflow-pipeline")
#: Kinds of file that are certainly not a model config (nvinfer reads any file with [property]).
_OTHER_KINDS = (
    *_PIPELINES,
    "tracker",
    "tracker-ini",
    "msgconv",
    "msgbroker",
    "nvinferserver",
    "deepstream-sample-app",
)

#: Fields of a visionflow YAML config that name files, resolved against the config's folder.
PATH_FIELDS = (
    "onnx_file",
    "model_engine_file",
    "int8_calib_file",
    "tlt_encoded_model",
    "model_file",
    "proto_file",
    "uff_file",
    "custom_lib_path",
    "labelfile_path",
    "mean_file",
)


def load_infer_config(path: str | os.PathLike[str]) -> InferConfig:
    """Load an inference config file.

    ``.yml``/``.yaml`` files with a top-level ``property:`` mapping, and every other suffix, are
    DeepStream nvinfer files (their report's warnings are logged); other YAML files are visionflow
    configs, validated with errors naming file and line. Relative paths are resolved against the
    file's folder; labels are read from ``labelfile_path`` when the file exists and ``labels``
    is not given.

    Raises:
        ConfigError: the file is missing, unreadable or invalid; the message names file, line,
            key, value and what is allowed.
    """
    path = Path(path)
    kind = detect_kind(path)
    if kind in _OTHER_KINDS:
        hint = "; run it with 'visionflow run FILE'" if kind in _PIPELINES else ""
        raise ConfigError(
            f"this is {'an' if kind.startswith('nv') else 'a'} {kind} config, not a model "
            f"config{hint}",
            file=str(path),
            line=1,
            allowed="a DeepStream nvinfer config ([property] with onnx-file …) or a visionflow "
            "model YAML (onnx_file: …)",
        )
    if path.suffix in (".yml", ".yaml"):
        doc = load_yaml(path)
        property_group = doc.data.get("property") if isinstance(doc.data, dict) else None
        if not isinstance(property_group, dict):
            return _load_visionflow_yaml(doc, path)
    config, report = read_nvinfer(path)
    for warning in report.warnings:
        log.warning("%s", warning)
    return config


def _load_visionflow_yaml(doc: LocatedYaml, path: Path) -> InferConfig:
    """A visionflow YAML config; ``model: NAME`` takes the weights (and a recogniser's
    dictionary) from the model zoo, keys of the file winning over the zoo's."""
    data = doc.data
    if not (isinstance(data, dict) and "model" in data):
        return resolve_paths(validate(InferConfig, doc), path)
    from visionflow.zoo.catalog import model_fields

    data = dict(data)
    name = data.pop("model")
    try:
        zoo = model_fields(str(name))
    except ConfigError as exc:
        raise ConfigError(
            exc.reason,
            file=str(path),
            line=doc.line_of(("model",)),
            key="model",
            value=repr(name),
            allowed="a name from 'visionflow models list'",
        ) from None
    config = validate(InferConfig, doc, data)
    update = {k: v for k, v in zoo.items() if k not in config.model_fields_set}
    return resolve_paths(config.model_copy(update=update), path)


def resolve_paths(config: InferConfig, path: str | os.PathLike[str]) -> InferConfig:
    """Resolve the relative paths of a visionflow config read from ``path``; read its labels."""
    update: dict[str, Any] = {
        name: resolve_config_path(value, path)
        for name in PATH_FIELDS
        if (value := getattr(config, name)) is not None
    }
    labels_file = update.get("labelfile_path")
    if labels_file is not None and not config.labels:
        if os.path.isfile(labels_file):
            update["labels"] = read_label_file(labels_file)
        else:
            log.warning("%s: labels file %s not found", path, labels_file)
    return config.model_copy(update=update)
