"""A real pipeline (generated clips → bundled detector → OSD) running with its API on a real
uvicorn server, for the tests of visionflow.serve (tests/serve)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from visionflow.app import App
from visionflow.config.pipeline import (
    InferStageConfig,
    OSDConfig,
    PipelineConfig,
    SinkConfig,
    SourceConfig,
    TilerConfig,
)
from visionflow.core.pipeline import PipelineReport
from visionflow.serve import ApiServer, Controller, create_app

WIDTH, HEIGHT, FRAMES = 320, 192, 60


def pipeline_config(
    sources: list[Path], *, tiler: bool = False, loop: bool = True, **extra: Any
) -> PipelineConfig:
    """Clips (looped: they never end by themselves) → bundled shapes detector → (tiler) → OSD
    → fakesink."""
    from visionflow.zoo import bundled_config

    return PipelineConfig(
        sources=[SourceConfig(uri=str(s), loop=loop) for s in sources],
        infer=[InferStageConfig(config=bundled_config("shapes_det"))],
        tiler=TilerConfig(width=640, height=384) if tiler else None,
        osd=OSDConfig(),
        sinks=[SinkConfig(type="fake")],
        **extra,
    )


@dataclass
class Served:
    """A running pipeline with its API."""

    app: App
    controller: Controller
    server: ApiServer
    client: httpx.Client
    thread: threading.Thread
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def pipeline(self) -> Any:
        return self.app.pipeline

    def finish(self, timeout: float = 30) -> PipelineReport:
        """Drain the pipeline and return its report."""
        self.pipeline.stop()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the pipeline did not end"
        if "error" in self.result:
            raise self.result["error"]
        report: PipelineReport = self.result["report"]
        return report

    def wait_for(self, check: Callable[[], bool], timeout: float = 60, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or check}")
            time.sleep(0.02)

    def frames_out(self, source_id: int) -> int:
        return int(self.pipeline.stats.snapshot()[1].get(source_id, 0))

    def close(self) -> None:
        """Stop the pipeline and the server (whatever state they are in)."""
        self.pipeline.stop()
        self.thread.join(30)
        self.client.close()
        self.server.stop()


ServeFactory = Callable[..., Served]


def start_served(config: PipelineConfig, *, token: str | None = None, view: bool = False) -> Served:
    """Build the app (keep_alive), serve its API on a free port, run it in a thread."""
    app = App.from_config(config, keep_alive=True)
    controller = Controller(app.pipeline)
    api = create_app(controller, token=token)
    if view:
        from visionflow.serve.view import LiveView

        live = LiveView(controller)
        live.attach(api)
    server = ApiServer(api, "127.0.0.1", 0).start()
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["report"] = app.run()
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=run, name="test-pipeline", daemon=True)
    thread.start()
    client = httpx.Client(base_url=server.url, timeout=30)
    return Served(app, controller, server, client, thread, result)


def write_clips(folder: Path) -> list[Path]:
    """Three real H.264 clips of moving shapes (320x192, 60 frames each)."""
    from visionflow.zoo.scenes import write_clip

    return [
        write_clip(folder / f"scene{seed}.mp4", WIDTH, HEIGHT, FRAMES, seed=seed)
        for seed in (1, 2, 3)
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(*args: str) -> subprocess.Popen[str]:
    """``visionflow ARGS`` in a subprocess (stdout and stderr piped)."""
    return subprocess.Popen(
        [sys.executable, "-m", "visionflow.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_up(url: str, process: subprocess.Popen[str], headers: dict | None = None) -> None:
    """Wait until the served pipeline runs (its signal handlers are in place from then on)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        try:
            answer = httpx.get(f"{url}/api/v1/health", headers=headers, timeout=2)
            if answer.status_code == 200 and answer.json()["state"] == "running":
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not come up")


def write_pipeline(folder: Path, clip: Path | list[Path], extra: str = "") -> Path:
    """A pipeline file: the looped clip(s) → bundled detector → OSD (+ ``extra`` YAML)."""
    from visionflow.zoo import bundled_config

    clips = clip if isinstance(clip, list) else [clip]
    path = folder / "pipeline.yml"
    path.write_text(
        "sources:\n"
        + "".join(f"  - {{uri: {c}, loop: true}}\n" for c in clips)
        + f"infer:\n  - config: {bundled_config('shapes_det')}\n"
        "osd: {}\n" + extra,
        encoding="utf-8",
    )
    return path
