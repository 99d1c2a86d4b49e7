"""Broker sink reliability (bench.md's ``brokers`` row): a pipeline publishing events to MQTT
(mosquitto), AMQP (RabbitMQ) and Redis Streams (redis-server) while the broker is down.

For every protocol, two runs, each with ``--sources`` live synthetic streams at ``--fps`` (64x48
frames, no model: the figure is the delivery path, not inference), where a probe emits one event
per frame (``data.seq`` = frame number) and a broker sink publishes it (payload ``visionflow``):

* **outage**: the broker is stopped (SIGTERM: it saves what it acknowledged) ``--before``
  seconds into the run, kept down ``--outage`` seconds (60), restarted, and the run goes on
  ``--after`` seconds. What arrived is read back (MQTT: a persistent-session QoS 1 subscriber;
  AMQP: a durable queue bound to ``amq.topic``; Redis: the stream). Reported: events emitted,
  unique events received, lost, duplicates, order per source, spool peak (messages, bytes), and
  the pipeline's frame rate before / during / after the outage (frames through the sink per
  second of each window).
* **never back**: the broker is stopped ``--before`` seconds into a ``--never`` second run and
  never restarted; the spool is bounded to ``--spool-max`` messages. Reported: the spool's peak
  (must stay within the bound), messages dropped (counted), and the frame rate with the broker
  up vs. down in the same run.

Servers are started by the script with their own data folders and ports (``tests/support/
brokers.py``; Debian's mosquitto, redis-server, rabbitmq-server). Prints a table; the last line
is one JSON object. ``--quick`` shrinks every duration for a smoke run.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.brokers import (
    SERVERS,
    BrokerServer,
    MqttCollector,
    amqp_bind,
    amqp_payloads,
    events_pipeline,
    redis_payloads,
    sequence_check,
)
from visionflow.brokers import BrokerConfig, BrokerSink, SpoolConfig

TOPIC = "bench.events"


def _rate(times: list[float], start: float, end: float, sources: int) -> float:
    """Frames per second through the sink in [start, end) (a batch holds ``sources`` frames);
    the window ends at the last frame at the latest (the drain after it is not frame flow)."""
    if times:
        end = min(end, times[-1])
    n = sum(1 for t in times if start <= t < end)
    return n * sources / (end - start) if end > start else float("nan")


def _sink(protocol: str, server: BrokerServer, **settings: Any) -> BrokerSink:
    config = BrokerConfig(
        protocol=protocol,  # type: ignore[arg-type]
        host="127.0.0.1",
        port=server.port,
        topic=TOPIC,
        retry_interval=0.5,
        **settings,
    )
    return BrokerSink(config, name=protocol)


def _run_with(pipeline: Any, actions: list[tuple[float, Any]]) -> tuple[Any, float]:
    """Run the pipeline while ``actions`` (seconds after the start, callable) happen."""
    t0 = time.monotonic()

    def schedule() -> None:
        for at, action in actions:
            delay = t0 + at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            action()

    thread = threading.Thread(target=schedule)
    thread.start()
    report = pipeline.run()
    thread.join()
    return report, t0


def outage_run(protocol: str, root: Path, args: argparse.Namespace) -> dict[str, Any]:
    server = SERVERS[protocol](root / f"{protocol}-outage").start()
    collector = None
    try:
        if protocol == "mqtt":
            collector = MqttCollector(server.port, TOPIC)
        elif protocol == "amqp":
            amqp_bind(server.port, "bench", TOPIC)
        frames = int((args.before + args.outage + args.after) * args.fps)
        sink = _sink(protocol, server, drain_timeout=args.outage + 60)
        pipeline = events_pipeline(sink, args.sources, frames, fps=args.fps)
        stop_at, start_at = args.before, args.before + args.outage
        times: dict[str, float] = {}

        def stop() -> None:
            times["stop"] = time.monotonic()
            server.stop()

        def start() -> None:
            server.start()
            times["back"] = time.monotonic()

        report, t0 = _run_with(pipeline, [(stop_at, stop), (start_at, start)])
        ended = time.monotonic()
        if collector is not None:
            deadline = time.monotonic() + 30
            while len(collector.received()) < report.frames_out and time.monotonic() < deadline:
                time.sleep(0.2)
            payloads = collector.received()
        elif protocol == "amqp":
            payloads = amqp_payloads(server.port, "bench")
        else:
            payloads = redis_payloads(server.port, TOPIC)
        check = sequence_check(payloads, pipeline.emitted)
        figures = report.outputs[protocol]
        batch_times = pipeline.batch_times
        last = batch_times[-1] if batch_times else ended
        return {
            "protocol": protocol,
            "run": "outage",
            "outage_s": round(times["back"] - times["stop"], 1),
            "emitted": check["emitted"],
            "received_unique": check["unique"],
            "lost": check["lost"],
            "duplicates": check["duplicates"],
            "order_kept": check["in_order"],
            "sent": figures["sent"],
            "spooled": figures["spooled"],
            "spool_peak_messages": figures["spool_peak_messages"],
            "spool_peak_bytes": figures["spool_peak_bytes"],
            "dropped": figures["dropped"],
            "frames_dropped_upstream": sum(report.drops.values()),
            "fps_before": round(_rate(batch_times, t0 + 2, times["stop"], args.sources), 1),
            "fps_during": round(
                _rate(batch_times, times["stop"] + 1, times["back"], args.sources), 1
            ),
            "fps_after": round(_rate(batch_times, times["back"] + 1, last, args.sources), 1),
            "drain_s": round(ended - last, 1),
        }
    finally:
        if collector is not None:
            collector.close()
        server.kill()


def never_back_run(protocol: str, root: Path, args: argparse.Namespace) -> dict[str, Any]:
    server = SERVERS[protocol](root / f"{protocol}-never").start()
    try:
        if protocol == "amqp":
            amqp_bind(server.port, "bench-never", TOPIC)
        frames = int(args.never * args.fps)
        sink = _sink(
            protocol, server, drain_timeout=1, spool=SpoolConfig(max_messages=args.spool_max)
        )
        pipeline = events_pipeline(sink, args.sources, frames, fps=args.fps)
        times: dict[str, float] = {}

        def stop() -> None:
            times["stop"] = time.monotonic()
            server.stop()

        report, t0 = _run_with(pipeline, [(args.before, stop)])
        figures = report.outputs[protocol]
        batch_times = pipeline.batch_times
        return {
            "protocol": protocol,
            "run": "never back",
            "emitted": figures["messages"],
            "sent": figures["sent"],
            "spool_bound": args.spool_max,
            "spool_peak_messages": figures["spool_peak_messages"],
            "spool_peak_bytes": figures["spool_peak_bytes"],
            "dropped": figures["dropped"],
            "undelivered": figures["undelivered"],
            "frames_dropped_upstream": sum(report.drops.values()),
            "fps_up": round(_rate(batch_times, t0 + 2, times["stop"], args.sources), 1),
            "fps_down": round(
                _rate(batch_times, times["stop"] + 1, batch_times[-1], args.sources), 1
            ),
        }
    finally:
        server.kill()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocols", nargs="+", default=["mqtt", "amqp", "redis"])
    parser.add_argument("--sources", type=int, default=4)
    parser.add_argument("--fps", type=float, default=30)
    parser.add_argument("--before", type=float, default=10)
    parser.add_argument("--outage", type=float, default=60)
    parser.add_argument(
        "--after", type=float, default=40, help="seconds of run after the restart is asked"
    )
    parser.add_argument("--never", type=float, default=40)
    parser.add_argument("--spool-max", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="short durations (smoke run)")
    args = parser.parse_args(argv)
    if args.quick:
        args.before, args.outage, args.after, args.never, args.spool_max = 3, 4, 3, 8, 300
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    rows = []
    with tempfile.TemporaryDirectory(prefix="vf-bench-brokers-") as tmp:
        for protocol in args.protocols:
            for run in (outage_run, never_back_run):
                row = run(protocol, Path(tmp), args)
                rows.append(row)
                print(json.dumps(row), flush=True)
    print(
        f"\n{args.sources} live synthetic streams at {args.fps:g} fps, one event per frame; "
        f"outage {args.outage:g} s after {args.before:g} s, {args.after:g} s after it; "
        f"never-back run {args.never:g} s, spool bound {args.spool_max} messages"
    )
    header = (
        f"{'protocol':8} {'run':10} {'emitted':>7} {'lost':>4} {'dup':>4} {'order':>5} "
        f"{'spool peak':>10} {'dropped':>7} {'fps up':>7} {'fps down':>8} {'fps after':>9}"
    )
    print(header)
    for r in rows:
        if r["run"] == "outage":
            print(f"{r['protocol']:8} {'outage':10} {r['emitted']:>7} {r['lost']:>4} "
                  f"{r['duplicates']:>4} {r['order_kept']!s:>5} {r['spool_peak_messages']:>10} "
                  f"{r['dropped']:>7} {r['fps_before']:>7} {r['fps_during']:>8} "
                  f"{r['fps_after']:>9}")  # fmt: skip
        else:
            print(f"{r['protocol']:8} {'never back':10} {r['emitted']:>7} {'-':>4} {'-':>4} "
                  f"{'-':>5} {r['spool_peak_messages']:>10} {r['dropped']:>7} {r['fps_up']:>7} "
                  f"{r['fps_down']:>8} {'-':>9}")  # fmt: skip
    print(json.dumps({"benchmark": "brokers", "settings": vars(args), "runs": rows}))


if __name__ == "__main__":
    main()
