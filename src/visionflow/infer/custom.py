"""Choosing an inference element's output parser from its configuration.

Precedence: visionflow's ``parser``; then DeepStream's ``parse-*-func-name`` for the network type;
then the built-in default (DetectNet_v2 grid for detectors, softmax for classifiers, argmax for
semantic segmentation). A DeepStream function name resolves to its built-in Python equivalent, so
a config that names ``libnvdsinfer_custom_impl_Yolo.so`` and ``NvDsInferParseYolo`` runs
unchanged. ``custom-lib-path`` may also name a Python file (``parsers.py``), whose function
``parse-*-func-name`` names: that is how users bring their own parser. A compiled ``.so`` whose
function has no built-in equivalent is an error that says so.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from visionflow.errors import ConfigError
from visionflow.infer.config import InferConfig, NetworkType
from visionflow.infer.parsers.base import PARSERS, Parser, resolve_parser

_DEFAULTS = {
    NetworkType.DETECTOR: ("parse_bbox_func_name", "detectnet_v2"),
    NetworkType.CLASSIFIER: ("parse_classifier_func_name", "softmax"),
    NetworkType.SEGMENTATION: ("parse_segmentation_func_name", "argmax"),
    NetworkType.INSTANCE_SEGMENTATION: ("parse_bbox_instance_mask_func_name", None),
}

_KEY_NAMES = {
    "parse_bbox_func_name": "parse-bbox-func-name",
    "parse_classifier_func_name": "parse-classifier-func-name",
    "parse_segmentation_func_name": "parse-segmentation-func-name",
    "parse_bbox_instance_mask_func_name": "parse-bbox-instance-mask-func-name",
}


def resolve_output_parser(config: InferConfig) -> Parser:
    """The parser an element with this config uses (see the module docstring)."""
    if config.parser is not None:
        return resolve_parser(config.parser)
    field, default = _DEFAULTS[config.network_type]
    function = getattr(config, field)
    if function is None:
        if default is None:
            raise ConfigError(
                "instance segmentation has no built-in parser: name one",
                key=_KEY_NAMES[field],
                allowed=", ".join(
                    sorted(n for n in PARSERS if "Mrcnn" in n or "Seg" in n) or ["a parser"]
                ),
            )
        return resolve_parser(default)
    library = config.custom_lib_path
    if library is not None and library.suffix == ".py":
        return _python_function(library, function, _KEY_NAMES[field])
    try:
        return resolve_parser(function)
    except ConfigError:
        where = f" in {library.name}" if library is not None else ""
        raise ConfigError(
            f"'{function}'{where} has no built-in Python equivalent. visionflow runs parsers in "
            "Python: point custom-lib-path at a Python file (.py) and name a function "
            "f(outputs: dict[str, ndarray], ctx: ParseContext) -> DetectionCandidates | "
            "ClassificationResult | SegmentationResult, or set 'parser: package.module:function' "
            "in a visionflow config",
            key=_KEY_NAMES[field],
            value=function,
            allowed="one of " + ", ".join(n for n in PARSERS.names() if n.startswith("NvDs")),
        ) from None


def _python_function(library: Path, function: str, key: str) -> Parser:
    """Load ``function`` from a Python file."""
    if not library.is_file():
        raise ConfigError("Python parser file not found", key="custom-lib-path", value=str(library))
    name = f"visionflow_custom_{library.stem}"
    spec = importlib.util.spec_from_file_location(name, library)
    if spec is None or spec.loader is None:
        raise ConfigError(
            "cannot load Python parser file", key="custom-lib-path", value=str(library)
        )
    module: Any = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    parser = getattr(module, function, None)
    if not callable(parser):
        raise ConfigError(f"{library} has no function '{function}'", key=key, value=function)
    return parser
