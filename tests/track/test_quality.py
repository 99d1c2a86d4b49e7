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
    # measured (150 frames, seed 0): iou HOTA 0.639 IDF1 0.699 IDSW 28;
    # nvsort HOTA 0.666 IDF1 0.758 IDSW 11
    assert nvsort["IDF1"] >= 0.72, nvsort
    assert nvsort["HOTA"] >= 0.63, nvsort
    assert iou["IDF1"] >= 0.66, iou
    # 2.5x fewer switches measured; no prediction in association: 20, no shadow tracking: 31
    # (and IDF1 0.662 / 0.603): both fail here
    assert nvsort["IDSW"] * 3 <= iou["IDSW"] * 2, (nvsort["IDSW"], iou["IDSW"])
    assert nvsort["IDF1"] > iou["IDF1"]
    assert nvsort["AssA"] > iou["AssA"]
    # nvdcf (appearance, visual tracker, gallery of terminated targets), measured: HOTA 0.754
    # AssA 0.801 IDF1 0.863 IDSW 6 (nvsort AssA 0.670, IDF1 0.758; before the visual tracker and
    # the gallery: 0.694 / 0.729 / 0.809 / 10)
    nvdcf = trackers["nvdcf"]
    assert nvdcf["IDF1"] >= 0.83, nvdcf
    assert nvdcf["HOTA"] >= 0.72, nvdcf
    assert nvdcf["IDF1"] > nvsort["IDF1"] + 0.05, (nvdcf, nvsort)
    assert nvdcf["AssA"] > nvsort["AssA"] + 0.05, (nvdcf, nvsort)
    assert nvdcf["IDSW"] * 3 <= iou["IDSW"], (nvdcf["IDSW"], iou["IDSW"])  # issue 12's 3x
    # "crossing": nvsort counts every crossing of the line, each way, once (measured: 4/4, 2/2);
    # iou too here, but its id switches lose crossings on other seeds: it must not count more.
    # nvdcf measured 5/4, 2/2: the detector calls one of two overlapping shapes a square on some
    # frames and a circle on others; with checkClassMatch that is two targets, and the visual
    # tracker keeps the first reported while the second takes the detections — both cross.
    counts = {
        a: next(c for c in trackers[a]["counts"] if c["scene"] == "crossing") for a in trackers
    }
    for way in ("rightward", "leftward"):
        assert counts["nvsort"][way][0] == counts["nvsort"][way][1] > 0, counts
        assert abs(counts["nvdcf"][way][0] - counts["nvdcf"][way][1]) <= 1, counts
        assert counts["iou"][way][0] <= counts["iou"][way][1], counts
    assert counts["nvdcf"]["leftward"][0] == counts["nvdcf"]["leftward"][1], counts
    # "noisy": a crossing made while nvsort's track was on probation is counted from the
    # tracker's past-frame data (measured: 3/4 without, 4/4 with)
    noisy = next(c for c in trackers["nvsort"]["counts"] if c["scene"] == "noisy")
    assert noisy["past_frame"]["rightward"][0] == noisy["past_frame"]["rightward"][1], noisy
