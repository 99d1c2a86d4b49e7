"""OpenVINO's import-time usage telemetry is declined: visionflow runs offline and sends nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("openvino")


def usage_count(home: Path) -> int | None:
    stats = home / "intel" / "stats"
    return json.loads(stats.read_text())["usage_count"] if stats.exists() else None


def test_importing_openvino_through_visionflow_sends_no_telemetry(tmp_path: Path) -> None:
    """In a clean home (no opt-out file, not in CI), OpenVINO alone records a use in
    ~/intel/stats and forks a sender process; through visionflow it does neither."""
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "TF_BUILD", "JENKINS_URL")}
    env["HOME"] = str(tmp_path)
    env.pop("VISIONFLOW_OPENVINO_TELEMETRY", None)
    code = (
        "import multiprocessing\n"
        "from visionflow.infer.backends.openvino import _core\n"
        "_core()\n"
        "print(len(multiprocessing.active_children()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert usage_count(tmp_path) is None
    assert done.stdout.strip() == "0"
