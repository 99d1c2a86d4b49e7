"""Live streams from real servers on 127.0.0.1 (gst-rtsp-server, an HTTP MPEG-TS server) that the
tests start, kill, freeze (SIGSTOP) and restart: reading, loss, reconnection, stalls."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from tests.media.conftest import write_clip
from tests.support.stream_server import StreamServer, rtsp_unavailable

from visionflow.core.batch import Batch
from visionflow.core.frame import Frame
from visionflow.core.pipeline import Pipeline
from visionflow.errors import SourceError
from visionflow.media.synthetic import decode_stamp
from visionflow.media.video import VideoSource
from visionflow.mux.streammux import StreamMux

FPS = 25
KINDS = ["rtsp", "http"]


@pytest.fixture(scope="module")
def served_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 s of stamped 128x96 H.264 at 25 fps, a key frame every second."""
    return write_clip(tmp_path_factory.mktemp("live") / "cam.mp4", 20 * FPS, fps=FPS, gop=FPS)


@pytest.fixture(scope="module")
def rtsp_ready() -> None:
    reason = rtsp_unavailable()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture(params=KINDS)
def server(request: pytest.FixtureRequest, served_clip: Path) -> Iterator[StreamServer]:
    """A running server of each kind (the test may kill and restart it; it is always ended)."""
    if request.param == "rtsp":
        request.getfixturevalue("rtsp_ready")
    with StreamServer(request.param, served_clip) as running:
        yield running


@pytest.fixture
def rtsp_server(served_clip: Path, rtsp_ready: None) -> Iterator[StreamServer]:
    """A running RTSP server, for behaviour that does not depend on the protocol."""
    with StreamServer("rtsp", served_clip) as running:
        yield running


def stamps(frames: list[Frame]) -> list[int]:
    return [decode_stamp(f.data)[1] for f in frames]


def read_all(source: VideoSource, into: list[Frame], at: int, action: Callable[[], None]) -> None:
    """Read ``source`` to its end into ``into``, calling ``action`` after frame number ``at``."""
    for frame in source.frames():
        into.append(frame)
        if len(into) == at:
            action()


def test_reads_a_real_stream(server: StreamServer) -> None:
    source = VideoSource(server.uri, timeout=5)
    assert source.live
    assert source.reconnecting
    frames: list[Frame] = []
    started = time.monotonic()
    for frame in source.frames():
        frames.append(frame)
        if len(frames) == 30:
            break
    source.close()
    elapsed = time.monotonic() - started
    assert stamps(frames) == list(range(30))  # every frame, in order, pixels intact
    assert [f.frame_num for f in frames] == list(range(30))
    assert (np.diff([f.pts for f in frames]) > 0).all()
    assert (frames[-1].time or 0) - (frames[0].time or 0) == pytest.approx(29 / FPS, abs=0.01)
    assert elapsed > 29 / FPS * 0.8  # served in real time, as a camera would
    assert frames[0].data.shape == (96, 128, 3)


def test_killed_server_is_reconnected_when_it_comes_back(
    server: StreamServer, caplog: pytest.LogCaptureFixture
) -> None:
    source = VideoSource(server.uri, source_id=3, timeout=2)
    frames: list[Frame] = []
    times: list[float] = []
    back: list[float] = []

    def restart() -> None:
        time.sleep(1.5)
        server.start()
        back.append(time.monotonic())

    restarter = threading.Thread(target=restart)
    with caplog.at_level(logging.INFO, logger="visionflow.media.video"):
        for frame in source.frames():
            frames.append(frame)
            times.append(time.monotonic())
            if len(frames) == 20:
                server.kill()
                restarter.start()
            if back and times[-1] > back[0] and len(frames) >= 40:
                break
        source.close()
    restarter.join()
    assert source.reconnects == 1
    first_after = next(t for t in times if t > back[0])
    assert first_after - back[0] < 5.0  # frames flow again soon after the server is back
    # numbering and time go on across the gap; the new connection starts a new stream
    assert [f.frame_num for f in frames] == list(range(len(frames)))
    assert (np.diff([f.pts for f in frames]) > 0).all()
    lost = len(stamps(frames)) - next(i for i, t in enumerate(times) if t > back[0])
    assert stamps(frames)[-lost:][:3] == [0, 1, 2]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings[0].startswith(f"source #3 ({server.uri}): stream lost after frame ")
    assert warnings[-1].startswith(f"source #3 ({server.uri}): reconnected after ")
    attempts = [r.getMessage() for r in caplog.records if "reconnect attempt" in r.getMessage()]
    assert attempts
    assert "Connection refused" in attempts[0]


def test_stalled_stream_is_lost_after_timeout_and_reconnected(
    server: StreamServer, caplog: pytest.LogCaptureFixture
) -> None:
    timeout = 1.5
    source = VideoSource(server.uri, timeout=timeout)
    frames: list[Frame] = []
    paused = 0.0
    lost_at: list[float] = []

    class ResumeOnLoss(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "stream lost" in record.getMessage():
                lost_at.append(time.monotonic())
                server.resume()

    handler = ResumeOnLoss()
    logger = logging.getLogger("visionflow.media.video")
    logger.addHandler(handler)
    try:
        with caplog.at_level(logging.INFO, logger="visionflow.media.video"):
            for frame in source.frames():
                frames.append(frame)
                if len(frames) == 10:
                    server.pause()  # the connection stays open and nothing comes
                    paused = time.monotonic()
                if source.reconnects and len(frames) >= 20:
                    break
            source.close()
    finally:
        logger.removeHandler(handler)
    assert len(lost_at) == 1
    assert source.reconnects == 1
    # the silence that counts is `timeout` since the last data, not twice that
    assert timeout * 0.8 < lost_at[0] - paused < timeout + 1.0  # (it was 2 × timeout)
    assert f"(no data for {timeout:g} s); reconnecting" in caplog.text
    assert [f.frame_num for f in frames] == list(range(len(frames)))


def test_without_reconnection_a_stall_fails_after_timeout(rtsp_server: StreamServer) -> None:
    server = rtsp_server
    source = VideoSource(server.uri, timeout=1.5, reconnect_attempts=0)
    received: list[Frame] = []
    paused: list[float] = []

    def pause() -> None:
        server.pause()
        paused.append(time.monotonic())

    with pytest.raises(SourceError) as info:
        read_all(source, received, 10, pause)
    failed = time.monotonic()
    source.close()
    assert 1.2 < failed - paused[0] < 2.5  # (it was 2 × timeout)
    assert str(info.value) == f"{server.uri}: no data for 1.5 s before frame {len(received)}"


def test_without_reconnection_a_lost_stream_ends_its_source_loudly(
    server: StreamServer, caplog: pytest.LogCaptureFixture
) -> None:
    source = VideoSource(server.uri, source_id=2, timeout=2, reconnect_attempts=0)
    received: list[Frame] = []
    if server.kind == "http":  # the connection is reset: the source fails
        with pytest.raises(SourceError) as info:
            read_all(source, received, 10, server.kill)
        assert str(info.value) == (
            f"{server.uri}: read failed (Input/output error) before frame {len(received)}"
        )
    else:  # the server ends the stream: a warning says so
        with caplog.at_level(logging.WARNING, logger="visionflow.media.video"):
            read_all(source, received, 10, server.kill)
        assert caplog.records[-1].getMessage() == (
            f"source #2 ({server.uri}): the server ended the stream after frame "
            f"{len(received)}; not reconnecting (reconnect_attempts=0)"
        )
    source.close()
    assert 10 <= len(received) < 60


def test_gives_up_after_the_reconnect_attempts(
    server: StreamServer, caplog: pytest.LogCaptureFixture
) -> None:
    source = VideoSource(server.uri, timeout=2, reconnect_attempts=2)
    received: list[Frame] = []
    with pytest.raises(SourceError) as info:
        read_all(source, received, 10, server.kill)
    source.close()
    assert str(info.value).startswith(
        f"{server.uri}: stream lost after frame {len(received)} and not back after 2 reconnect "
        f"attempts (last: cannot open '{server.uri}': Connection refused)"
    )


def test_a_camera_down_at_the_start_is_waited_for(served_clip: Path, rtsp_ready: None) -> None:
    server = StreamServer("rtsp", served_clip)
    source = VideoSource(server.uri, timeout=5)
    starter = threading.Timer(1.0, server.start)
    starter.start()
    try:
        frames = []
        for frame in source.frames():
            frames.append(frame)
            if len(frames) == 5:
                break
        source.close()
    finally:
        starter.join()
        server.kill()
    assert stamps(frames) == [0, 1, 2, 3, 4]


def test_interrupt_ends_a_source_waiting_to_reconnect(rtsp_server: StreamServer) -> None:
    server = rtsp_server
    source = VideoSource(server.uri, timeout=2)  # reconnects forever
    received: list[Frame] = []
    ended: list[float] = []

    def read() -> None:
        for frame in source.frames():
            received.append(frame)
            if len(received) == 5:
                server.kill()
        ended.append(time.monotonic())

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(2.5)  # killed, reconnect attempts failing
    assert reader.is_alive()
    asked = time.monotonic()
    source.interrupt()
    reader.join(3)
    assert not reader.is_alive()
    assert ended[0] - asked < 1.0
    source.close()


@pytest.mark.parametrize("push_timeout", [40_000, -1])
def test_other_streams_flow_while_one_reconnects(
    rtsp_server: StreamServer, served_clip: Path, push_timeout: int
) -> None:
    camera = VideoSource(rtsp_server.uri, timeout=2)
    steady = VideoSource(served_clip, realtime=True)  # a second stream at the camera's pace
    pipeline = Pipeline(
        [camera, steady], mux=StreamMux(batch_size=2, batched_push_timeout=push_timeout)
    )
    arrivals: list[tuple[float, int]] = []  # (time, source id) of every frame out
    killed: list[float] = []

    def on_batch(batch: Batch) -> None:
        now = time.monotonic()
        arrivals.extend((now, f.source_id) for f in batch.frames)
        if not killed and sum(1 for _, sid in arrivals if sid == 0) == 20:
            rtsp_server.kill()
            killed.append(now)
        if killed and now - killed[0] > 2.5:
            pipeline.stop()

    guard = threading.Timer(12.0, pipeline.stop)  # ends the run should the frames stop
    guard.start()
    try:
        report = pipeline.run(on_batch)
    finally:
        guard.cancel()
    assert killed
    during = [sid for t, sid in arrivals if killed[0] + 0.5 < t]
    # the file stream goes on at its pace while the camera is away (~2 s at 25 fps)
    assert during.count(1) > 30  # ~50 at 25 fps; a muxer that waited let through 5
    assert report.source_failures == []
