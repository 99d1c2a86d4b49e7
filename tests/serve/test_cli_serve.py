"""The command line: ``visionflow serve`` runs as a service steered through its API, and
``visionflow run --api`` serves the API while a run lasts."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from support.serving import free_port, start, wait_up, write_pipeline


def test_serve_runs_until_quit_with_streams_added_through_the_api(
    tmp_path: Path, clips: list[Path]
) -> None:
    port = free_port()
    pipeline = write_pipeline(tmp_path, clips[0], "api: {token: from-config}\n")
    process = start("serve", str(pipeline), "--api", f"127.0.0.1:{port}", "--api-token", "t0k")
    url, auth = f"http://127.0.0.1:{port}", {"Authorization": "Bearer t0k"}
    try:
        wait_up(url, process, auth)
        assert httpx.get(f"{url}/api/v1/health").status_code == 401
        bad = httpx.get(f"{url}/api/v1/health", headers={"Authorization": "Bearer from-config"})
        assert bad.status_code == 401  # the flag's token wins over the config's
        added = httpx.post(f"{url}/api/v1/stream/add", headers=auth, json={"uri": str(clips[1])})
        assert added.json()["source_id"] == 1
        removed = httpx.post(
            f"{url}/api/v1/stream/remove", headers=auth, json={"source_id": 0}, timeout=30
        )
        assert removed.json()["flushed"] is True
        assert httpx.post(f"{url}/api/v1/app/quit", headers=auth).status_code == 200
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "frames in" in err or "fps" in err  # the run's report table


def test_serve_drains_on_sigterm(tmp_path: Path, clips: list[Path]) -> None:
    port = free_port()
    process = start("serve", str(write_pipeline(tmp_path, clips[0])), "--api", f":{port}")
    try:
        wait_up(f"http://127.0.0.1:{port}", process)
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 128 + signal.SIGTERM


def test_run_api_serves_while_the_run_lasts(tmp_path: Path, clips: list[Path]) -> None:
    port = free_port()
    process = start("run", str(write_pipeline(tmp_path, clips[0])), "--api", f"127.0.0.1:{port}",
                    "--no-progress")  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_up(url, process)
        info = httpx.get(f"{url}/api/v1/stream/get-stream-info").json()
        assert info["stream-info"]["stream-count"] == 1
        httpx.post(f"{url}/api/v1/stream/remove", json={"source_id": 0}, timeout=30)
        _, err = process.communicate(timeout=60)  # its only stream left: the run ends
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    try:
        httpx.get(f"{url}/api/v1/health", timeout=2)
        raise AssertionError("the API outlived the run")
    except httpx.TransportError:
        pass


def test_a_port_in_use_is_a_clear_error(tmp_path: Path, clips: list[Path]) -> None:
    pipeline = str(write_pipeline(tmp_path, clips[0]))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "visionflow.cli", "serve", pipeline, "--api", f":{port}"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert result.returncode == 1
    assert f"the API cannot listen on 127.0.0.1:{port}" in result.stderr


def test_a_bad_api_address_is_a_usage_error(tmp_path: Path, clips: list[Path]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "visionflow.cli", "run", str(write_pipeline(tmp_path, clips[0])),
         "--api", "localhost:http"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--api: 'localhost:http' is not HOST:PORT" in result.stderr
