"""CTC text recognition: per-time-step character probabilities → one string per object.

The output is ``(T, C)`` (or ``(1, T, C)``): for each of T time steps a probability (or logit)
per class. Greedy CTC decoding, as PP-OCR's ``CTCLabelDecode``: the best class of each step;
repeats of the same class in consecutive steps collapse to one; class 0 (the CTC blank) is
dropped. The confidence is the mean best probability of the characters kept (0 for an empty
string).

The dictionary is the labels file (``labelfile_path``), one character per line, for classes
1…n: a model with ``n + 2`` classes has a space as its last class (PP-OCR's
``use_space_char``), one with ``n + 1`` has none; any other count is an error naming both. A
dictionary line holding ``;`` (which the labels file splits on) reads back whole.

The string becomes one classifier attribute (index 0, class 0, label = the text) and the
description; it attaches to the object when it is not empty and its confidence is above
``classifier-threshold`` (PP-OCR's ``text_score``, 0.5 in RapidOCR).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from visionflow.infer.parsers.base import (
    Attribute,
    ClassificationResult,
    ParseContext,
    parser_error,
    register_parser,
)


def dictionary(ctx: ParseContext, num_classes: int) -> tuple[str, ...]:
    """The character of each class: blank (``""``) at 0, the labels' characters, maybe a space.

    Raises:
        ParserError: the labels do not fit the class count.
    """
    chars = tuple(";".join(tokens) for tokens in ctx.labels)
    if num_classes == len(chars) + 2:
        return ("", *chars, " ")
    if num_classes == len(chars) + 1:
        return ("", *chars)
    raise parser_error(
        "ctc",
        f"{len(chars) + 1} or {len(chars) + 2} classes (blank + the {len(chars)} characters of "
        "the labels file [+ space]); set labelfile_path to the model's dictionary",
        {"output": np.empty((0, num_classes))},
    )


def ctc_greedy(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, C) scores → the class ids kept by greedy CTC decoding and their scores."""
    best = probabilities.argmax(axis=1)
    score = probabilities.max(axis=1)
    keep = best != 0
    keep[1:] &= best[1:] != best[:-1]
    return best[keep], score[keep]


@register_parser("ctc")
def parse_ctc(outputs: Mapping[str, np.ndarray], ctx: ParseContext) -> ClassificationResult:
    """Greedy CTC decoding of a text recogniser's output (see the module docstring)."""
    arrays = [np.asarray(a, np.float32) for a in outputs.values()]
    shape = arrays[0].shape if len(arrays) == 1 else ()
    if len(shape) not in (2, 3) or 0 in shape or (len(shape) == 3 and shape[0] != 1):
        raise parser_error("ctc", "one (T, C) per-step class probability output", outputs)
    probabilities = arrays[0].reshape(shape[-2], shape[-1])
    chars = dictionary(ctx, probabilities.shape[1])
    ids, scores = ctc_greedy(probabilities)
    text = "".join(chars[i] for i in ids.tolist())
    confidence = float(scores.mean()) if len(scores) else 0.0
    if not text or not confidence > ctx.classifier_threshold:
        return ClassificationResult(())
    return ClassificationResult((Attribute(0, 0, confidence, text),), text)
