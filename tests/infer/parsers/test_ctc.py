"""CTC text decoding: collapse, blanks, dictionary, threshold, and PP-OCR's decoder."""

from __future__ import annotations

import numpy as np
import pytest

from visionflow.errors import ParserError
from visionflow.infer.parsers import resolve_parser
from visionflow.infer.parsers.base import NetworkInfo, ParseContext
from visionflow.infer.parsers.ctc import ctc_greedy, parse_ctc


def _ctx(labels, threshold: float = 0.0) -> ParseContext:
    return ParseContext(
        NetworkInfo(320, 48, 3),
        0,
        np.zeros(0),
        classifier_threshold=threshold,
        labels=tuple(tuple(line.split(";")) for line in labels),
    )


def _steps(ids: list[int], classes: int, p: float = 0.9) -> np.ndarray:
    out = np.full((len(ids), classes), (1 - p) / (classes - 1), np.float32)
    out[np.arange(len(ids)), ids] = p
    return out


def test_repeats_collapse_blanks_separate_and_the_space_is_last() -> None:
    # classes: 0 blank, 1 a, 2 b, 3 c, 4 space (n + 2 classes)
    probs = _steps([1, 1, 0, 1, 2, 4, 3, 3, 0], 5)
    result = parse_ctc({"softmax": probs[None]}, _ctx(["a", "b", "c"]))
    assert result.description == "aab c"
    (attribute,) = result.attributes
    assert (attribute.index, attribute.class_id, attribute.label) == (0, 0, "aab c")
    assert attribute.confidence == pytest.approx(0.9)
    assert result.attaches


def test_a_dictionary_without_space_and_a_semicolon_character() -> None:
    # n + 1 classes: no space; the labels file splits ';' lines, the parser joins them back
    probs = _steps([2, 0, 1], 3)
    assert parse_ctc({"o": probs}, _ctx(["x", ";"])).description == ";x"


def test_confidence_is_the_mean_of_the_kept_steps() -> None:
    probs = np.array([[0.1, 0.9, 0.0], [0.2, 0.8, 0.0], [0.3, 0.0, 0.7]], np.float32)
    ids, scores = ctc_greedy(probs)
    assert ids.tolist() == [1, 2]
    assert scores.tolist() == pytest.approx([0.9, 0.7])


@pytest.mark.parametrize(
    ("ids", "threshold"),
    [([0, 0, 0], 0.0), ([1, 2], 0.95)],
    ids=["only blanks", "under classifier-threshold"],
)
def test_nothing_attaches(ids, threshold) -> None:
    result = parse_ctc({"o": _steps(ids, 4)}, _ctx(["a", "b"], threshold))
    assert result.attributes == ()
    assert not result.attaches


def test_a_dictionary_that_does_not_fit_is_named() -> None:
    with pytest.raises(ParserError, match=r"ctc.*3 or 4 classes.*labelfile_path"):
        parse_ctc({"o": _steps([1], 7)}, _ctx(["a", "b"]))


def test_wrong_output_shapes_are_refused() -> None:
    with pytest.raises(ParserError, match="ctc"):
        parse_ctc({"o": np.zeros((2, 5, 4), np.float32)}, _ctx(["a", "b"]))
    with pytest.raises(ParserError, match="ctc"):
        parse_ctc({"o": np.zeros(4, np.float32)}, _ctx(["a", "b"]))


def test_registered_as_ctc() -> None:
    assert resolve_parser("ctc") is parse_ctc


def test_same_strings_as_pp_ocr_decoder() -> None:
    """Against ``CTCLabelDecode`` inside rapidocr-onnxruntime, on random peaked outputs."""
    utils = pytest.importorskip(
        "rapidocr_onnxruntime.ch_ppocr_rec.utils",
        reason="needs rapidocr-onnxruntime (pip install 'visionflow[ocr]')",
    )
    chars = list("abcdefghij0123456789;")
    decoder = utils.CTCLabelDecode(character=list(chars))
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 1, (50, 40, len(chars) + 2)).astype(np.float32)
    logits[:, :, 0] += rng.uniform(0, 2, (50, 40)).astype(np.float32)  # blanks common
    probs = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
    theirs = decoder(probs)
    ctx = _ctx(chars)
    for k, (text, score) in enumerate(theirs):
        ours = parse_ctc({"o": probs[k]}, ctx)
        assert ours.description == text
        assert ours.attributes[0].confidence == pytest.approx(score, rel=1e-5)
