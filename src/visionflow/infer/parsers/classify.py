"""Classifier parsers: nvinfer's built-in softmax parser, a logits variant and TAO's non-softmax
parser.

Every output layer is one attribute (its index is ``Attribute.index``). Within a layer the class
with the highest probability wins — the first one on ties — provided its probability is above
``classifier-threshold`` (and above 0). Its label is token ``class`` of line ``attribute`` of the
labels file. Source: ``ClassifyPostprocessor::parseAttributesFromSoftmaxLayers`` in DeepStream's
``libs/nvdsinfer/nvdsinfer_context_impl_output_parsing.cpp``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from visionflow.infer.parsers.base import (
    Attribute,
    ClassificationResult,
    ParseContext,
    parser_error,
    register_parser,
)


def _vectors(parser: str, outputs: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """Each output as a (C,) float32 vector: (C,), (C, 1, 1), (1, C)… are accepted."""
    vectors = []
    for output in outputs.values():
        array = np.asarray(output, np.float32)
        if sum(d != 1 for d in array.shape) > 1:
            raise parser_error(
                parser, "one probability vector per output, e.g. (C,) or (C, 1, 1)", outputs
            )
        vectors.append(array.reshape(-1))
    return vectors


def _classify(probabilities: list[np.ndarray], ctx: ParseContext) -> ClassificationResult:
    attributes = []
    for index, probs in enumerate(probabilities):
        if probs.size == 0:
            continue
        class_id = int(probs.argmax())
        confidence = probs[class_id]
        if not (confidence > ctx.classifier_threshold and confidence > 0):
            continue
        names = ctx.labels[index] if index < len(ctx.labels) else ()
        label = names[class_id] if class_id < len(names) else None
        attributes.append(Attribute(index, class_id, float(confidence), label))
    description = "".join(f"{a.label} " for a in attributes if a.label is not None)
    return ClassificationResult(tuple(attributes), description)


@register_parser("softmax", "NvDsInferClassiferParseCustomSoftmax")
def parse_softmax(outputs: Mapping[str, np.ndarray], ctx: ParseContext) -> ClassificationResult:
    """Outputs that are already probabilities (softmax layers)."""
    return _classify(_vectors("softmax", outputs), ctx)


@register_parser("softmax_logits")
def parse_softmax_logits(
    outputs: Mapping[str, np.ndarray], ctx: ParseContext
) -> ClassificationResult:
    """Outputs that are logits: softmax first, then as :func:`parse_softmax` (labels from the
    labels file, so the result is attached)."""
    return _classify(_softmax(_vectors("softmax_logits", outputs)), ctx)


@register_parser("tao_non_softmax", "NvDsInferClassiferParseNonSoftmax")
def parse_tao_non_softmax(
    outputs: Mapping[str, np.ndarray], ctx: ParseContext
) -> ClassificationResult:
    """TAO's ``NvDsInferClassiferParseNonSoftmax`` (``deepstream_tao_apps``,
    ``post_processor/nvdsinfer_custombboxparser_tao.cpp``): softmax, then the winning class of
    each output as :func:`parse_softmax` picks it — but with no label and an empty description,
    so nvinfer attaches nothing (:attr:`ClassificationResult.attaches`). Use ``softmax_logits``
    for the same model with labels."""
    found = _classify(_softmax(_vectors("tao_non_softmax", outputs)), ctx)
    return ClassificationResult(tuple(replace(a, label=None) for a in found.attributes), "")


def _softmax(logits: list[np.ndarray]) -> list[np.ndarray]:
    probabilities = []
    for vector in logits:
        exp = np.exp(vector - vector.max(initial=0))
        probabilities.append(exp / exp.sum())
    return probabilities
