"""Semantic segmentation parsers: nvinfer's built-in arg-max, and models that emit a class map.

Source: ``SegmentPostprocessor::fillSegmentationOutput`` in DeepStream's
``libs/nvdsinfer/nvdsinfer_context_impl_output_parsing.cpp``,
``NvDsInferParseCustomPeopleSemSegNet`` (``nvdsinfer_customsegmentationparser.cpp``) and
``NvDsInferParseCustomSegformerTAO`` (``deepstream_tao_apps``,
``post_processor/nvdsinfer_custombboxparser_tao.cpp``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from visionflow.infer.parsers.base import (
    ParseContext,
    SegmentationResult,
    parser_error,
    register_parser,
)


@register_parser("argmax")
def parse_argmax(outputs: Mapping[str, np.ndarray], ctx: ParseContext) -> SegmentationResult:
    """Per pixel, the class of highest probability (the first on ties), or −1 unless that
    probability is above ``segmentation-threshold`` (and above −1).

    Reads the first output, ``(C, H, W)`` or — with ``segmentation-output-order=1`` —
    ``(H, W, C)``. As in nvinfer's built-in parser, the class count is the output's channel
    count C, whatever ``num-detected-classes`` says (the built-in parser does not read it), and
    the map has the output's height and width.
    """
    output = np.asarray(next(iter(outputs.values()), np.zeros(0)), np.float32)
    nhwc = ctx.segmentation_output_order == 1
    if output.ndim != 3:
        layout = "(H, W, C)" if nhwc else "(C, H, W)"
        raise parser_error("argmax", f"a first output of shape {layout}", outputs)
    probabilities = np.moveaxis(output, -1, 0) if nhwc else output
    if not len(probabilities):  # no channels: no pixel has a class
        return SegmentationResult(np.full(probabilities.shape[1:], -1), probabilities)
    class_map = probabilities.argmax(axis=0)
    best = np.take_along_axis(probabilities, class_map[None], axis=0)[0]
    passed = (best > ctx.segmentation_threshold) & (best > -1)
    return SegmentationResult(np.where(passed, class_map, -1), probabilities)


@register_parser(
    "class_map", "NvDsInferParseCustomPeopleSemSegNet", "NvDsInferParseCustomSegformerTAO"
)
def parse_class_map(outputs: Mapping[str, np.ndarray], ctx: ParseContext) -> SegmentationResult:
    """A model that emits the class map itself: an integer output of the network size,
    ``(H, W)``, ``(1, H, W)`` or ``(H, W, 1)`` (PeopleSemSegNet's ``argmax_1``, SegFormer's
    ``output``). There are no probabilities."""
    size = (ctx.network.height, ctx.network.width)
    for output in outputs.values():
        array = np.asarray(output)
        if np.issubdtype(array.dtype, np.integer) and array.squeeze().shape == size:
            return SegmentationResult(array.reshape(size))
    raise parser_error(
        "class_map", f"an integer output of shape {size} (or with a unit axis)", outputs
    )
