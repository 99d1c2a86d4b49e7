"""Compare two JSON Lines metadata files of the same clip: the same objects, frame by frame.

``python scripts/meta_compare.py reference.jsonl other.jsonl [--iou 0.99 --score 0.01]``: objects
are matched per frame and class (greedily, by IoU); the files agree when every object has a match
of IoU ≥ ``--iou`` and confidence within ``--score``, and no object is left over. Prints the
worst IoU and score difference, and exits 1 when the files disagree (the issue-11 done-when check:
the GPU run against the CPU run).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def frames(path: Path) -> dict[tuple[int, int], list[dict]]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        out[(record["source_id"], record["frame_num"])] = record["objects"]
    return out


def box(obj: dict) -> np.ndarray:
    b = obj["bbox"]
    return np.array([b["left"], b["top"], b["left"] + b["width"], b["top"] + b["height"]])


def iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("reference", type=Path)
    parser.add_argument("other", type=Path)
    parser.add_argument("--iou", type=float, default=0.99)
    parser.add_argument("--score", type=float, default=0.01)
    args = parser.parse_args()
    ref, other = frames(args.reference), frames(args.other)
    problems, worst_iou, worst_score, objects = [], 1.0, 0.0, 0
    if ref.keys() != other.keys():
        problems.append(f"frames differ: {len(ref)} vs {len(other)}")
    for key in sorted(ref.keys() & other.keys()):
        left = list(other[key])
        for obj in ref[key]:
            objects += 1
            same = [o for o in left if o["class_id"] == obj["class_id"]]
            if not same:
                problems.append(f"frame {key}: {obj['label']} {box(obj)} not found")
                continue
            best = max(same, key=lambda o: iou(box(obj), box(o)))
            left.remove(best)
            worst_iou = min(worst_iou, iou(box(obj), box(best)))
            worst_score = max(worst_score, abs(obj["confidence"] - best["confidence"]))
        problems += [f"frame {key}: extra {o['label']} {box(o)}" for o in left]
    ok = bool(not problems and worst_iou >= args.iou and worst_score <= args.score)
    print(
        json.dumps(
            {
                "reference": str(args.reference),
                "other": str(args.other),
                "frames": len(ref),
                "objects": objects,
                "worst_iou": round(float(worst_iou), 5),
                "worst_score_diff": round(float(worst_score), 5),
                "problems": problems[:10],
                "agree": ok,
            }
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
