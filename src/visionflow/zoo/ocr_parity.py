"""The zoo's OCR chain against RapidOCR's own pipeline and against ground truth.

:func:`visionflow_ocr` runs the ``ppocr`` chain (text detector → direction classifier →
recogniser, as secondary inference) over a folder of images through a real pipeline and reads
its JSON Lines back; :func:`rapidocr_ocr` runs ``rapidocr_onnxruntime.RapidOCR`` on the same
files; :func:`compare` matches the texts found (polygon IoU ≥ 0.5, one to one, greedy by IoU)
and counts equal strings; :func:`character_accuracy` scores strings against ground truth
(1 − edit distance / length of the truth).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from visionflow.core.pipeline import PipelineReport


@dataclass(frozen=True)
class OcrText:
    """One text found: its 4 corners (4, 2) float32 on the image, its string and confidence."""

    quad: np.ndarray
    text: str
    confidence: float


@dataclass(frozen=True)
class Parity:
    """How two OCR results of the same images agree.

    Attributes:
        found_a, found_b: texts each side found.
        matched: pairs with polygon IoU ≥ the threshold (one to one).
        equal_strings: matched pairs whose strings are equal.
    """

    found_a: int
    found_b: int
    matched: int
    equal_strings: int

    def as_dict(self) -> dict[str, float | int]:
        return {
            "found_visionflow": self.found_a,
            "found_rapidocr": self.found_b,
            "matched": self.matched,
            "equal_strings": self.equal_strings,
            "match_rate": round(self.matched / max(self.found_b, 1), 4),
            "equal_rate": round(self.equal_strings / max(self.matched, 1), 4),
        }


def polygon_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two convex polygons (K, 2)."""
    a32, b32 = np.asarray(a, np.float32), np.asarray(b, np.float32)
    inter, _ = cv2.intersectConvexConvex(a32, b32)
    union = abs(cv2.contourArea(a32)) + abs(cv2.contourArea(b32)) - inter
    return float(inter / union) if union > 0 else 0.0


def match(
    a: Sequence[np.ndarray], b: Sequence[np.ndarray], threshold: float = 0.5
) -> list[tuple[int, int]]:
    """One-to-one pairs ``(i, j)`` of polygons with IoU ≥ ``threshold``, highest IoU first."""
    scores = [(polygon_iou(p, q), i, j) for i, p in enumerate(a) for j, q in enumerate(b)]
    used_a: set[int] = set()
    used_b: set[int] = set()
    pairs = []
    for iou, i, j in sorted(scores, reverse=True):
        if iou < threshold:
            break
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((i, j))
    return pairs


def compare(
    ours: Sequence[Sequence[OcrText]], theirs: Sequence[Sequence[OcrText]], threshold: float = 0.5
) -> Parity:
    """Texts found and strings equal, image by image, summed."""
    found_a = found_b = matched = equal = 0
    for a, b in zip(ours, theirs, strict=True):
        pairs = match([t.quad for t in a], [t.quad for t in b], threshold)
        found_a += len(a)
        found_b += len(b)
        matched += len(pairs)
        equal += sum(a[i].text == b[j].text for i, j in pairs)
    return Parity(found_a, found_b, matched, equal)


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions)."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def character_accuracy(
    found: Sequence[Sequence[OcrText]],
    truth: Sequence[Sequence[tuple[np.ndarray, str]]],
    threshold: float = 0.5,
) -> tuple[float, int, int]:
    """Character accuracy of the texts found against ground-truth lines ``(quad, text)``.

    Each true line is matched to a found text by polygon IoU (≥ ``threshold``); an unmatched
    line counts as all its characters lost. Returns ``(accuracy, lines found, lines)``, where
    accuracy is ``1 − Σ edit distance / Σ characters of the truth`` (at least 0).
    """
    errors = chars = hits = lines = 0
    for found_image, truth_image in zip(found, truth, strict=True):
        quads = [q for q, _ in truth_image]
        pairs = {j: i for i, j in match([t.quad for t in found_image], quads, threshold)}
        for j, (_, text) in enumerate(truth_image):
            lines += 1
            chars += len(text)
            if j in pairs:
                hits += 1
                errors += edit_distance(found_image[pairs[j]].text.strip(), text)
            else:
                errors += len(text)
    return max(0.0, 1 - errors / max(chars, 1)), hits, lines


def visionflow_ocr(
    folder: Path, backend: str = "onnxruntime", threads: int = 0
) -> tuple[list[list[OcrText]], PipelineReport]:
    """The zoo's ``ppocr`` chain over the images of ``folder`` (natural file order), read back
    from the pipeline's JSON Lines: per image, per text object with a recognised string; and
    the pipeline's report (frames, fps)."""
    from visionflow.app import App
    from visionflow.config.pipeline import (
        InferStageConfig,
        PipelineConfig,
        SinkConfig,
        SourceConfig,
    )
    from visionflow.zoo.catalog import entry

    with tempfile.TemporaryDirectory() as tmp:
        meta = Path(tmp) / "ocr.jsonl"
        stages = [
            InferStageConfig(config=path, backend=backend, threads=threads)
            for path in entry("ppocr").stage_configs()
        ]
        config = PipelineConfig(
            sources=[SourceConfig(uri=str(folder))],
            infer=stages,
            sinks=[SinkConfig(type="jsonl", path=meta)],
        )
        report = App.from_config(config).run(progress=False)
        records = [json.loads(line) for line in meta.read_text().splitlines()]
    return [texts_of_record(record) for record in records], report


def texts_of_record(record: dict) -> list[OcrText]:
    """The recognised texts of one JSON Lines frame record: objects with a ``polygon`` and a
    classification of type ``text``."""
    out = []
    for obj in record["objects"]:
        texts = [c for c in obj["classifications"] if c["classifier_type"] == "text"]
        if obj.get("polygon") is None or not texts:
            continue
        out.append(OcrText(np.asarray(obj["polygon"], np.float32), texts[0]["label"],
                           texts[0]["confidence"]))  # fmt: skip
    return out


def rapidocr_ocr(images: Sequence[Path]) -> list[list[OcrText]]:
    """RapidOCR's own pipeline (its default settings) on each image file."""
    from rapidocr_onnxruntime import RapidOCR

    engine = RapidOCR()
    out = []
    for path in images:
        result, _ = engine(str(path))
        out.append(
            [
                OcrText(np.asarray(box, np.float32), text, float(score))
                for box, text, score in result or []
            ]
        )
    return out
