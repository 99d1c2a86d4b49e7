"""ocr-parity: the zoo's PP-OCR chain against RapidOCR's own pipeline, and against ground truth.

Images (no download; say which in any figure you quote):

1. **rendered** — ``--scenes`` generated text scenes (:mod:`visionflow.zoo.text_scenes`):
   1280x720, 5 lines each of words and numbers in DejaVu fonts (Sans, Serif, Mono, bold), tilted
   up to ±15°, on noisy backgrounds; every ``--upside-down``-th scene is turned 180° (the
   direction classifier's case). Ground truth is exact.
2. **package** — every PNG inside the installed ``networkx`` package's drawing-test baselines
   (800x600 matplotlib renderings with node and edge labels): the only images with text found
   inside installed packages here (rapidocr, OpenCV and Pillow ship none; scikit-image is not
   installed). No ground truth: parity only.

For each set: texts found by each side, texts matched one to one by polygon IoU ≥ 0.5, matched
strings equal; for the rendered set, character accuracy of each side against the truth
(1 − edit distance / characters, a missed line losing all its characters). Speed: the chain's
frames per second from its pipeline report (models loaded before timing starts), and RapidOCR's
images per second, both on ONNX Runtime in this process (``--threads``).

The last line is one JSON object with the figures. Run: ``python benchmarks/ocr_parity.py
[--scenes 40 --upside-down 4 --threads 0]`` (about 5 minutes for 40 scenes on 2 cores).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from visionflow.zoo import ocr_parity as op
from visionflow.zoo.text_scenes import render_text_scene


def rendered_set(folder: Path, scenes: int, upside_down: int) -> list[list[tuple[np.ndarray, str]]]:
    """Write the scenes as PNG (natural order) and return their ground truth."""
    truth = []
    for seed in range(scenes):
        image, lines = render_text_scene(seed)
        quads = [line.quad for line in lines]
        if upside_down and seed % upside_down == upside_down - 1:
            image = np.ascontiguousarray(image[::-1, ::-1])
            h, w = image.shape[:2]
            quads = [np.array([w - 1, h - 1], np.float32) - q for q in quads]
        cv2.imwrite(str(folder / f"scene_{seed:04d}.png"), image[..., ::-1])
        truth.append([(q, line.text) for q, line in zip(quads, lines, strict=True)])
    return truth


def package_images() -> list[Path]:
    spec = importlib.util.find_spec("networkx")
    if spec is None or spec.origin is None:
        return []
    return sorted((Path(spec.origin).parent / "drawing" / "tests" / "baseline").glob("*.png"))


def run_set(folder: Path, threads: int) -> dict:
    files = sorted(folder.glob("*.png"))
    ours, report = op.visionflow_ocr(folder, backend="onnxruntime", threads=threads)
    start = time.perf_counter()
    theirs = op.rapidocr_ocr(files)
    rapid_s = time.perf_counter() - start
    parity = op.compare(ours, theirs).as_dict()
    return {
        "images": len(files),
        **parity,
        "visionflow_fps": round(report.fps, 3),
        "rapidocr_images_per_s": round(len(files) / rapid_s, 3),
        "_ours": ours,
        "_theirs": theirs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=40)
    parser.add_argument("--upside-down", type=int, default=4, help="every Nth scene turned 180°")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        rendered = Path(tmp) / "rendered"
        rendered.mkdir()
        truth = rendered_set(rendered, args.scenes, args.upside_down)
        out = run_set(rendered, args.threads)
        ours, theirs = out.pop("_ours"), out.pop("_theirs")
        acc_ours, found_ours, lines = op.character_accuracy(ours, truth)
        acc_theirs, found_theirs, _ = op.character_accuracy(theirs, truth)
        exact_ours = _exact(ours, truth)
        exact_theirs = _exact(theirs, truth)
        flipped = [
            i
            for i in range(args.scenes)
            if args.upside_down and i % args.upside_down == args.upside_down - 1
        ]

        def pick(items: list) -> list:
            return [items[i] for i in flipped]

        out.update(
            upside_down_lines=sum(len(truth[i]) for i in flipped),
            upside_down_exact_visionflow=_exact(pick(ours), pick(truth)),
            upside_down_exact_rapidocr=_exact(pick(theirs), pick(truth)),
        )
        out.update(
            lines=lines,
            lines_found_visionflow=found_ours,
            lines_found_rapidocr=found_theirs,
            char_accuracy_visionflow=round(acc_ours, 4),
            char_accuracy_rapidocr=round(acc_theirs, 4),
            lines_exact_visionflow=exact_ours,
            lines_exact_rapidocr=exact_theirs,
        )
        print("rendered:", json.dumps(out), flush=True)
        results["rendered"] = out
        images = package_images()
        if images:
            package = Path(tmp) / "package"
            package.mkdir()
            for i, path in enumerate(images):
                (package / f"{i:03d}_{path.name}").write_bytes(path.read_bytes())
            out = run_set(package, args.threads)
            out.pop("_ours")
            out.pop("_theirs")
            print("package (networkx baselines):", json.dumps(out), flush=True)
            results["package"] = out
    print(json.dumps(results))


def _exact(found: list[list[op.OcrText]], truth: list[list[tuple[np.ndarray, str]]]) -> int:
    """Ground-truth lines matched (IoU ≥ 0.5) by a text whose string equals the truth."""
    hits = 0
    for found_image, truth_image in zip(found, truth, strict=True):
        pairs = op.match([t.quad for t in found_image], [q for q, _ in truth_image])
        hits += sum(found_image[i].text.strip() == truth_image[j][1] for i, j in pairs)
    return hits


if __name__ == "__main__":
    main()
