"""``visionflow run PIPELINE --ray [--ray-address ADDRESS]``: the cluster run of the CLI."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from visionflow.errors import ConfigError, VisionflowError

if TYPE_CHECKING:
    from visionflow.cluster.driver import ClusterRunner
    from visionflow.config.pipeline import PipelineConfig
    from visionflow.serve.server import ApiServer

EXIT = {"ok": 0, "failed": 1, "partial": 3}


def run_cluster(
    pipeline: Path,
    address: str,
    *,
    api: str | None = None,
    token: str | None = None,
    view: bool = False,
) -> int:
    """Run ``pipeline`` on Ray at ``address`` (``local``: a Ray started for the run); print the
    cluster report; return the exit status (0 ok, 3 partial, 1 failed, 2 bad config or usage).

    With ``api`` (``HOST:PORT``, or the pipeline file's ``api`` group) the REST API serves the
    cluster run (docs/serve.md, "On a cluster"); ``token`` as for a single process."""
    from visionflow.app import load_config
    from visionflow.cluster.driver import ClusterRunner

    try:
        config = load_config(pipeline)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if view or (config.api is not None and config.api.view):
        print("error: the live view (--view) does not work with --ray yet", file=sys.stderr)
        return 2
    runner = ClusterRunner(config, address)
    try:
        server = _start_api(runner, config, api, token)
    except ValueError as exc:
        print(f"error: --api: {exc}", file=sys.stderr)
        return 2
    except VisionflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

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
        if server is not None:
            server.stop()
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


def _start_api(
    runner: ClusterRunner, config: PipelineConfig, api: str | None, token: str | None
) -> ApiServer | None:
    """The API server of the run, started (before the run: streams can be added as soon as
    the workers are placed), or None when neither ``api`` nor the config's api group asks for
    it. ValueError for a malformed ``api``; VisionflowError when the port cannot be bound."""
    settings = config.api
    if api is None and settings is None:
        return None
    from visionflow.cluster.control import ClusterController
    from visionflow.serve import ApiServer, create_app, parse_address, resolve_token

    host = settings.host if settings is not None else "127.0.0.1"
    port = settings.port if settings is not None else 9000
    if api:
        host, port = parse_address(api, port)
    secret = resolve_token(token, settings.token if settings is not None else None)
    server = ApiServer(create_app(ClusterController(runner), token=secret), host, port).start()
    print(
        f"serving {server.url}/api/v1/health{' (token required)' if secret else ''}",
        file=sys.stderr,
    )
    return server
