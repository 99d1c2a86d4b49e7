"""Tracking quality, measured: generated scenes with ground-truth identities through the real
bundled detector and each tracker, scored with TrackEval (HOTA, IDF1, MOTA, ID switches) by
``benchmarks/tracking.py``, whose JSON last line is checked here against the measured figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "tracking.py"

pytest.importorskip("trackeval", reason="needs TrackEval (the eval extra: pip install -e .[eval])")


@pytest.mark.slow
def test_nvsort_and_nvdcf_keep_identities_better_than_iou_on_generated_scenes() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCHMARK), "--no-cost", "--scenes", "crossing", "noisy",
         "--seeds", "0", "--scene-frames", "150"],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    report = json.loads(run.stdout.splitlines()[-1])
    trackers = report["quality"]["trackers"]
    iou, nvsort = trackers["iou"], trackers["nvsort"]
    # measured with the 640x384 bundled detector shipped since 2026-12-08 (150 frames, seed 0):
    # iou HOTA 0.818 IDF1 0.893 IDSW 12; nvsort 0.800 / 0.874 / 5; nvdcf 0.824 / 0.909 / 4, AssA
    # 0.838 against nvsort's 0.782 (its first weights: iou 0.805 / 0.902 / 16, nvsort 0.787 /
    # 0.880 / 7, nvdcf 0.813 / 0.899 / 5; the earlier 320x320 detector: iou 0.639 / 0.699 /
    # 28, nvsort 0.666 / 0.758 / 11, nvdcf 0.754 / 0.863 / 6). On this small run a good
    # detector leaves iou little to lose but switches; the full benchmark separates the
    # trackers (docs/benchmarks.md).
    assert nvsort["IDF1"] >= 0.85, nvsort
    assert nvsort["HOTA"] >= 0.75, nvsort
    # no prediction in association or no shadow tracking multiplied the switches (measured
    # with the earlier detector: 20 and 31 against 11): nvsort must keep 1.5x fewer than iou
    assert nvsort["IDSW"] * 3 <= iou["IDSW"] * 2, (nvsort["IDSW"], iou["IDSW"])
    nvdcf = trackers["nvdcf"]
    assert nvdcf["IDF1"] >= 0.87, nvdcf
    assert nvdcf["HOTA"] >= 0.78, nvdcf
    assert nvdcf["IDF1"] > nvsort["IDF1"], (nvdcf, nvsort)
    assert nvdcf["AssA"] > nvsort["AssA"] + 0.03, (nvdcf, nvsort)
    assert nvdcf["IDSW"] * 5 <= iou["IDSW"] * 2, (nvdcf["IDSW"], iou["IDSW"])  # 2.5x here
    assert nvdcf["IDSW"] <= nvsort["IDSW"], (nvdcf["IDSW"], nvsort["IDSW"])
    # "crossing": nvsort counts every crossing of the line, each way, once (measured: 4/4, 2/2);
    # iou must not count more than there are. nvdcf measured 5/4, 2/2 with both detectors: the
    # detector calls one of two overlapping shapes a square on some frames and a circle on
    # others; with checkClassMatch that is two targets, and the visual tracker keeps the first
    # reported while the second takes the detections — both cross.
    counts = {
        a: next(c for c in trackers[a]["counts"] if c["scene"] == "crossing") for a in trackers
    }
    for way in ("rightward", "leftward"):
        assert counts["nvsort"][way][0] == counts["nvsort"][way][1] > 0, counts
        assert abs(counts["nvdcf"][way][0] - counts["nvdcf"][way][1]) <= 1, counts
        assert counts["iou"][way][0] <= counts["iou"][way][1], counts
    assert counts["nvdcf"]["leftward"][0] == counts["nvdcf"]["leftward"][1], counts
    # the totals add up the per-scene errors, cancelling ones included, and the
    # checkClassMatch-0 variant of nvdcf is scored beside the presets
    for name, row in trackers.items():
        errors = row["count_errors"]["no_occlusion"]
        assert errors["true"] == sum(
            c[w][1] for c in row["counts"] for w in ("rightward", "leftward")
        )
        assert errors["errors"] == sum(
            abs(c[w][0] - c[w][1]) for c in row["counts"] for w in ("rightward", "leftward")
        ), (name, row["counts"])
    assert trackers["nvdcf-anyclass"]["HOTA"] > 0.7, trackers["nvdcf-anyclass"]
    # "noisy": a crossing made while nvsort's track was on probation is counted from the
    # tracker's past-frame data (measured with both detectors: 3/4 without, 4/4 with)
    # With it nvsort counts every crossing of both scenes exactly (as on the full benchmark's
    # 41 crossings without occlusion at the line)
    noisy = next(c for c in trackers["nvsort"]["counts"] if c["scene"] == "noisy")
    assert noisy["past_frame"]["rightward"][0] == noisy["past_frame"]["rightward"][1], noisy
    for row in trackers["nvsort"]["counts"]:
        for way in ("rightward", "leftward"):
            assert row["past_frame"][way][0] == row["past_frame"][way][1], row
