"""ray-scale benchmark (shared/bench.md): the cpu workload on 1, 2, 4, 8 Ray workers.

Workload per worker: S streams (default 4) → streammux → the bundled detector (ONNX Runtime,
FP32, one thread) → IOU tracker → JSON Lines metadata; the whole cluster writes one metadata
file. Weak scaling: N workers get N × S streams, one CPU each. The streams are either

* ``--source clip`` (default): one generated 1280x720 H.264 clip, decoded by FFmpeg (PyAV);
* ``--source synthetic``: visionflow's synthetic 1280x720 ``moving-boxes`` frames
  (``synthetic://``), generated in memory — **no decoding**; a different per-frame cost (on the
  2-core machine ≈ 20–23 ms of CPU per frame against the clip's ≈ 15–16: drawing a 720p frame
  costs more than decoding one). Labelled ``synthetic`` in every figure: compare its overhead
  and scaling ratios with the clip's, not its fps. It needs no PyAV at all (visionflow imports
  it only where a video is opened or written), so it runs on a machine without it
  (``scripts/gpu_ray.sh`` on the GPU machine's 16 cores).

Measured in one invocation, each configuration repeated (``--repeat``) and interleaved:

* ``plain``   — the same S-stream pipeline in this process with **no Ray running** (the
                baseline: the same elements, threads and JSON Lines file, nothing else);
* ``ray-N``   — N workers on a Ray instance started for the benchmark on this machine (no
                dashboard, no log forwarding, no idle workers started ahead of need);
* ``idle Ray`` — the CPU that Ray's own processes (GCS, raylet, agents, log monitor) use per
                second with nothing running: the fixed cost any Ray run pays on this machine;
* ``recovery`` — with 2 workers, one worker's process is killed (SIGKILL) once frames flow:
                seconds until its streams write lines again on the survivor (``--no-recovery``
                skips it).

Every rate is a steady-state one: frames per second between the moments 10 % and 90 % of all
frames had been written (the pipeline's own output in ``plain``, the driver's file in ``ray-N``),
so start-up, model loading and the last poll are outside it for both. Over the same window the
CPU seconds of every process involved are read from ``/proc``: this process (``plain``; the
driver in ``ray-N``), the Ray workers, and Ray's own processes — per frame, these do not depend
on what else runs on the machine, unlike fps on a shared one.

Figures: aggregate fps per configuration (median over repetitions); scaling efficiency =
fps(N) ÷ (N × fps(1)); Ray's overhead = 1 − fps(1 worker) ÷ fps(plain), as the ratio of the
medians and as the median of each repetition's ratio; CPU per frame and its overhead
cpu(ray-1) ÷ cpu(plain) − 1, split into workers / driver / Ray's processes; recovery seconds.
On a machine with fewer cores than workers the efficiency shows oversubscription, not Ray:
the JSON carries ``cpu_count``.

Run: ``python benchmarks/ray_scale.py [--workers 1,2,4,8 --streams 4 --frames 300 --repeat 3
--source clip|synthetic --json FILE]``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from visionflow.app import App
from visionflow.cluster.driver import ClusterRunner, start_local_ray
from visionflow.config.pipeline import PipelineConfig

DETECTOR = Path(__file__).parents[1] / "src/visionflow/zoo/models/shapes_det.infer.yml"
WIDTH, HEIGHT = 1280, 720
WINDOW = (0.1, 0.9)  # the steady-state window, as fractions of all frames
_TICK = os.sysconf("SC_CLK_TCK")


def sources(kind: str, clip: Path | None, streams: int, frames: int) -> list[str]:
    if kind == "clip":
        assert clip is not None
        return [str(clip)] * streams
    return [
        f"synthetic://{WIDTH}x{HEIGHT}?frames={frames}&fps=30&pattern=moving-boxes&seed={i}"
        for i in range(streams)
    ]


def config(uris: list[str], out: Path, workers: int, poll: float | None) -> PipelineConfig:
    cluster: dict[str, Any] = {"workers": workers, "cpus_per_worker": 1}
    if poll is not None:
        cluster["poll_interval"] = poll
    return PipelineConfig.model_validate(
        {
            "sources": [{"uri": u} for u in uris],
            "infer": [{"config": str(DETECTOR), "backend": "onnxruntime", "threads": 1}],
            "tracker": {"algorithm": "iou"},
            "sinks": [{"type": "jsonl", "path": str(out)}],
            "cluster": cluster,
        }
    )


# --- CPU accounting from /proc ----------------------------------------------------------------


def cpu_seconds() -> dict[int, tuple[int, float, str]]:
    """Every process: (parent pid, CPU seconds of all its threads, command line)."""
    out: dict[int, tuple[int, float, str]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        out[int(name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK, cmd)
    return out


def descendants(root: int, procs: dict[int, tuple[int, float, str]]) -> set[int]:
    tree = {root}
    grew = True
    while grew:
        grew = False
        for pid, (parent, _, _) in procs.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return tree


def cpu_split(
    before: dict[int, tuple[int, float, str]],
    after: dict[int, tuple[int, float, str]],
    workers: set[int],
) -> dict[str, float]:
    """CPU seconds between two readings: this process, the Ray workers (``workers``: their
    pids) and the rest of this process's descendants (Ray's own processes)."""
    me = os.getpid()
    split = {"this process": 0.0, "workers": 0.0, "ray processes": 0.0}
    for pid in descendants(me, after):
        used = after[pid][1] - (before[pid][1] if pid in before else 0.0)
        key = "this process" if pid == me else "workers" if pid in workers else "ray processes"
        split[key] += used
    return split


class Window:
    """Progress marks (time, frames so far) and the CPU readings at the steady-state window's
    edges (the first marks at or past 10 % and 90 % of ``total``)."""

    def __init__(self, total: int, workers: Callable[[], set[int]] = set) -> None:
        self.total = total
        self.marks: list[tuple[float, int]] = []
        self.edges: list[tuple[int, dict[int, tuple[int, float, str]]]] = []
        self.workers = workers
        self.worker_pids: set[int] = set()

    def mark(self, frames: int) -> None:
        self.marks.append((time.monotonic(), frames))
        edge = WINDOW[len(self.edges)] if len(self.edges) < 2 else None
        if edge is not None and frames >= edge * self.total:
            self.worker_pids |= self.workers()
            self.edges.append((frames, cpu_seconds()))

    def fps(self) -> float:
        """Frames per second between the moments 10 % and 90 % of the frames were out
        (interpolated between marks)."""
        lo, hi = (self._time_at(q * self.total) for q in WINDOW)
        return (WINDOW[1] - WINDOW[0]) * self.total / (hi - lo) if hi > lo else 0.0

    def fps_first_last(self) -> float:
        """Frames per second from the first output to the last, the frames of the first
        output outside (this benchmark's figure before 2026-12-07 evening: it counts the end
        of the run — for a cluster the last collection and the workers' finish — and on short
        runs that weighs)."""
        (t0, n0), (t1, n1) = self.marks[0], self.marks[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0

    def _time_at(self, frames: float) -> float:
        prev_t, prev_n = self.marks[0][0], 0
        for t, n in self.marks:
            if n >= frames:
                if n == prev_n:
                    return t
                return prev_t + (t - prev_t) * (frames - prev_n) / (n - prev_n)
            prev_t, prev_n = t, n
        return self.marks[-1][0]

    def cpu_ms_per_frame(self) -> dict[str, float]:
        if len(self.edges) < 2:
            return {}
        (n0, c0), (n1, c1) = self.edges
        split = cpu_split(c0, c1, self.worker_pids)
        return {k: round(1000 * v / max(1, n1 - n0), 3) for k, v in split.items()}


# --- the configurations -----------------------------------------------------------------------


def run_plain(cfg: PipelineConfig, total: int) -> dict[str, Any]:
    app = App.from_config(cfg)
    window = Window(total)
    done = [0]

    def out(batch: Any) -> None:
        done[0] += len(batch)
        window.mark(done[0])

    report = app.pipeline.run(on_batch=out)
    assert report.outcome == "ok", report
    return {
        "fps": window.fps(),
        "fps_first_last": window.fps_first_last(),
        "cpu_ms": window.cpu_ms_per_frame(),
    }


def run_cluster(cfg: PipelineConfig, total: int, kill_after: int | None = None) -> dict[str, Any]:
    runner = ClusterRunner(cfg)
    window = Window(total, lambda: {w["pid"] for w in runner.workers.values()})
    runner.on_written = window.mark
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(runner.run()), daemon=True)
    thread.start()
    if kill_after is not None:
        while thread.is_alive() and sum(runner.progress.values()) < kill_after:
            time.sleep(0.05)
        workers = runner.workers
        if len(workers) >= 2:
            os.kill(workers[sorted(workers)[0]]["pid"], signal.SIGKILL)
    thread.join()
    report = result[0]
    recovered = [  # the lost worker's streams on the survivors, not later moves to a newcomer
        m.recovered_s for m in report.moves if m.recovered_s is not None and "lost" in m.reason
    ]
    return {
        "fps": window.fps(),
        "fps_first_last": window.fps_first_last(),
        "cpu_ms": window.cpu_ms_per_frame(),
        "frames": report.frames_written,
        "outcome": report.outcome,
        "duplicates": report.duplicates_dropped,
        "recovery_s": max(recovered) if recovered else None,
        "moves": [(m.reason, m.recovered_s) for m in report.moves],
    }


def idle_ray_ms_per_s(seconds: float = 5.0) -> float:
    """CPU milliseconds per second used by Ray's processes with nothing running."""
    time.sleep(1.0)
    before = cpu_seconds()
    time.sleep(seconds)
    split = cpu_split(before, cpu_seconds(), set())
    return 1000 * (split["ray processes"] + split["this process"]) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workers", default="1,2,4,8", help="comma-separated worker counts")
    parser.add_argument("--streams", type=int, default=4, help="streams per worker")
    parser.add_argument("--frames", type=int, default=300, help="frames per stream")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--source",
        choices=("clip", "synthetic"),
        default="clip",
        help="clip: a generated H.264 clip decoded by PyAV; synthetic: frames generated in "
        "memory, no decoding (another per-frame cost: compare ratios, not fps)",
    )
    parser.add_argument(
        "--poll-interval", type=float, default=None, help="the driver's (default: the config's)"
    )
    parser.add_argument("--no-recovery", action="store_true", help="skip the killed-worker run")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]

    import ray

    results: dict[str, list[dict[str, Any]]] = {}
    recovery: list[float] = []
    idle: list[float] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clip = None
        if args.source == "clip":
            from visionflow.zoo.scenes import write_clip

            clip = write_clip(work / "clip.mp4", WIDTH, HEIGHT, args.frames, seed=1)

        def cfg(workers: int, name: str) -> tuple[PipelineConfig, int]:
            streams = workers * args.streams
            uris = sources(args.source, clip, streams, args.frames)
            return config(uris, work / name, workers, args.poll_interval), streams * args.frames

        def show(rep: int, key: str, fig: dict[str, Any]) -> None:
            results.setdefault(key, []).append(fig)
            cpu = fig["cpu_ms"]
            print(
                f"[{rep}] {key:<8} {fig['fps']:7.1f} fps  CPU ms/frame "
                f"{sum(cpu.values()):6.2f} {json.dumps(cpu)}",
                flush=True,
            )

        for rep in range(args.repeat):
            show(rep, "plain", run_plain(*cfg(1, "plain.jsonl")))
            start_local_ray(ray, num_cpus=max(counts) + 1)
            idle.append(idle_ray_ms_per_s())
            print(f"[{rep}] idle Ray: {idle[-1]:.1f} CPU ms per second", flush=True)
            for n in counts:
                c, total = cfg(n, f"ray{n}.jsonl")
                fig = run_cluster(c, total)
                assert fig["outcome"] == "ok", fig
                assert fig["frames"] == total, fig
                assert fig["duplicates"] == 0, fig
                show(rep, f"ray-{n}", fig)
            if not args.no_recovery:
                c, total = cfg(2, "kill.jsonl")
                killed = run_cluster(c, total, kill_after=args.streams * 10)
                assert killed["frames"] == total, killed
                if killed["recovery_s"] is not None:
                    recovery.append(killed["recovery_s"])
                print(f"[{rep}] recovery after a killed worker: {killed['recovery_s']} s")
            ray.shutdown()

    def med(key: str, what: Callable[[dict[str, Any]], float]) -> float:
        return statistics.median(what(f) for f in results[key])

    fps = {key: med(key, lambda f: f["fps"]) for key in results}
    cpu = {key: med(key, lambda f: sum(f["cpu_ms"].values())) for key in results}
    parts = {
        key: {p: statistics.median(f["cpu_ms"][p] for f in figs) for p in figs[0]["cpu_ms"]}
        for key, figs in results.items()
    }
    one = fps.get("ray-1", 0.0)
    rows = []
    print(f"\nsource: {args.source}; {args.streams} streams per worker, {args.frames} frames each")
    print(f"{'configuration':<14}{'fps':>9}{'efficiency':>12}{'CPU ms/frame':>14}")
    for key in results:
        size = int(key.split("-")[1]) if key.startswith("ray-") else None
        eff = fps[key] / (size * one) if size and one else None
        rows.append({
            "config": key, "fps": round(fps[key], 2), "efficiency": eff and round(eff, 3),
            "cpu_ms_per_frame": round(cpu[key], 3), "cpu_split": parts[key],
            "fps_runs": [round(f["fps"], 2) for f in results[key]],
        })  # fmt: skip
        shown = "" if eff is None else f"{eff:.3f}"
        print(f"{key:<14}{fps[key]:>9.1f}{shown:>12}{cpu[key]:>14.2f}")
    overhead = paired = cpu_overhead = None
    if "ray-1" in results:
        overhead = 1 - one / fps["plain"]
        paired = statistics.median(
            1 - r["fps"] / p["fps"] for p, r in zip(results["plain"], results["ray-1"], strict=True)
        )
        cpu_overhead = cpu["ray-1"] / cpu["plain"] - 1
        print(
            f"Ray overhead vs a plain process (1 worker): fps {overhead:.1%} (ratio of medians), "
            f"{paired:.1%} (median of paired runs); CPU per frame {cpu_overhead:+.1%}"
        )
    print(f"idle Ray: {statistics.median(idle):.1f} CPU ms per second")
    summary = {
        "benchmark": "ray-scale",
        "source": args.source,
        "cpu_count": os.cpu_count(),
        "streams_per_worker": args.streams,
        "frames_per_stream": args.frames,
        "repeat": args.repeat,
        "results": rows,
        "ray_overhead": overhead,
        "ray_overhead_paired": paired,
        "cpu_overhead": cpu_overhead,
        "idle_ray_cpu_ms_per_s": statistics.median(idle),
        "recovery_s": statistics.median(recovery) if recovery else None,
        "seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps(summary))
    if args.json is not None:
        args.json.write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
