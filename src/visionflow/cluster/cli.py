"""``visionflow run PIPELINE --ray [--ray-address ADDRESS]``: the cluster run of the CLI."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from types import FrameType

from visionflow.errors import ConfigError, VisionflowError

EXIT = {"ok": 0, "failed": 1, "partial": 3}


def run_cluster(pipeline: Path, address: str) -> int:
    """Run ``pipeline`` on Ray at ``address`` (``local``: a Ray started for the run); print the
    cluster report; return the exit status (0 ok, 3 partial, 1 failed, 2 bad config)."""
    from visionflow.app import load_config
    from visionflow.cluster.driver import ClusterRunner

    try:
        config = load_config(pipeline)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    runner = ClusterRunner(config, address)

    def drain(signum: int, _frame: FrameType | None) -> None:
        print(f"signal {signum}: finishing the frames in flight", file=sys.stderr)
        runner.stop()

    previous = {s: signal.signal(s, drain) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        report = runner.run()
    except VisionflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    for name, worker in sorted(report.workers.items()):
        state = "alive" if worker.get("alive") else "lost"
        streams = sorted(s for s, v in report.streams.items() if v["worker"] == name)
        print(
            f"{name} on {worker.get('host', '?')} (pid {worker.get('pid', '?')}, {state}): "
            f"{worker.get('frames_out', 0)} frames out, streams {streams}"
        )
    for move in report.moves:
        recovered = "-" if move.recovered_s is None else f"{move.recovered_s:.1f} s"
        print(
            f"stream {move.stream}: {move.source} → {move.target} at frame {move.resume_frame} "
            f"({move.reason}); flowing again after {recovered}"
        )
    print(
        f"{report.frames_written} frames written in {report.elapsed_s:.1f} s "
        f"({report.fps:.1f} fps), {report.duplicates_dropped} duplicates dropped: {report.outcome}"
    )
    if report.error:
        print(f"error: {report.error}", file=sys.stderr)
    print(json.dumps({"cluster_report": report.to_json()}, default=str))
    return EXIT[report.outcome]
