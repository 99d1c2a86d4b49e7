"""100 add/remove cycles of real video streams through the API of a real ``visionflow serve``
process while two other streams run through the detector: no leaked thread, memory growth under
5 %, no stall, and every frame in went out or was counted as dropped.

Threads are the serving process's ``threading.active_count()`` (its /api/v1/health says it),
memory its resident size from /proc/PID/status. Figures are printed, and written as JSON to
``$VISIONFLOW_RELIABILITY_JSON`` when set.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from support.serving import free_port, start, wait_up, write_pipeline

CYCLES = 100
WARM_UP = 10  # the first streams bring allocations that stay (decoder, runtime, arenas)
STALL_S = 30.0  # a new stream must deliver frames, and a leaving one flush, within this


def rss_kib(pid: int) -> int:
    """The resident set size of process ``pid`` (``VmRSS`` of /proc/PID/status), KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS in /proc/{pid}/status")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_100_add_remove_cycles_under_load(tmp_path: Path, clips: list[Path]) -> None:
    port = free_port()
    process = start("serve", str(write_pipeline(tmp_path, clips[:2])), "--api", f":{port}")
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    try:
        figures = run_cycles(client, process.pid, clips, process)
        assert client.post("/api/v1/app/quit").status_code == 200
        _, err = process.communicate(timeout=60)
    finally:
        client.close()
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    print("\nreliability:", json.dumps(figures))
    out = os.environ.get("VISIONFLOW_RELIABILITY_JSON")
    if out:
        Path(out).write_text(json.dumps(figures, indent=2), encoding="utf-8")

    assert figures["threads_after"] == figures["threads_before"], "threads leaked"
    assert figures["rss_growth_pct"] < 5, f"memory grew {figures['rss_growth_pct']} %"
    assert figures["load_fps_during_cycles"] > 0, "the load streams stalled"
    assert figures["balanced"]
    assert figures["frames_in"] == figures["frames_out"] + figures["frames_dropped"]


def run_cycles(
    client: httpx.Client, pid: int, clips: list[Path], process: subprocess.Popen[str]
) -> dict:
    """Warm up, then the cycles; the figures."""
    wait_up(str(client.base_url).rstrip("/"), process)

    def out(sid: int) -> int:
        return int(client.get(f"/api/v1/stream/{sid}/stats").json()["frames_out"])

    def wait(check: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + STALL_S
        while not check():
            assert time.monotonic() < deadline, f"stalled: {what}"
            time.sleep(0.02)

    wait(lambda: out(0) > 10 and out(1) > 10, "the load streams")
    cycle_s: list[float] = []
    ids: list[int] = []

    def cycle(i: int) -> None:
        started = time.monotonic()
        added = client.post(
            "/api/v1/stream/add", json={"uri": str(clips[i % 3]), "camera_id": f"cycle{i}"}
        )
        assert added.status_code == 200, added.text
        sid = added.json()["source_id"]
        ids.append(sid)
        wait(lambda: out(sid) >= 2, f"frames of stream {sid} (cycle {i})")
        removed = client.post("/api/v1/stream/remove", json={"source_id": sid, "wait_s": STALL_S})
        assert removed.json()["flushed"] is True, f"stream {sid} did not flush (cycle {i})"
        stats = client.get(f"/api/v1/stream/{sid}/stats").json()
        assert stats["state"] == "removed"
        assert stats["frames_in"] == stats["frames_out"] + sum(stats["drops"].values())
        cycle_s.append(time.monotonic() - started)

    for i in range(WARM_UP):
        cycle(i)
    threads_before, rss_before = client.get("/api/v1/health").json()["threads"], rss_kib(pid)
    load_before = out(0) + out(1)
    started = time.monotonic()
    for i in range(WARM_UP, WARM_UP + CYCLES):
        cycle(i)
    elapsed = time.monotonic() - started
    load_frames = out(0) + out(1) - load_before
    deadline = time.monotonic() + 5
    while client.get("/api/v1/health").json()["threads"] > threads_before:
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    threads_after, rss_after = client.get("/api/v1/health").json()["threads"], rss_kib(pid)
    for sid in (0, 1):  # the load streams leave too: nothing is in flight any more
        assert client.post("/api/v1/stream/remove", json={"source_id": sid}).json()["flushed"]
    health = client.get("/api/v1/health").json()
    assert health["streams_running"] == 0
    assert len(set(ids)) == len(ids) == WARM_UP + CYCLES  # ids never reused
    return {
        "cycles": CYCLES,
        "elapsed_s": round(elapsed, 1),
        "cycle_s_median": round(sorted(cycle_s)[len(cycle_s) // 2], 3),
        "cycle_s_max": round(max(cycle_s), 3),
        "load_fps_during_cycles": round(load_frames / elapsed, 1),
        "threads_before": threads_before,
        "threads_after": threads_after,
        "rss_before_mib": round(rss_before / 1024, 1),
        "rss_after_mib": round(rss_after / 1024, 1),
        "rss_growth_pct": round(100 * (rss_after - rss_before) / rss_before, 2),
        "frames_in": health["frames_in"],
        "frames_out": health["frames_out"],
        "frames_dropped": health["frames_dropped"],
        "drops": health["drops"],
        "balanced": health["balanced"],
    }
