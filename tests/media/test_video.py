from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from itertools import islice
from pathlib import Path

import av
import numpy as np
import pytest

from visionflow.core.frame import Frame, PixelFormat
from visionflow.errors import DecodeError, SourceError, SourceNotFoundError
from visionflow.media.bad_packets import MAX_BAD_PACKETS_IN_A_ROW
from visionflow.media.schemes import is_live_uri
from visionflow.media.synthetic import decode_stamp
from visionflow.media.video import VideoSource

WIDTH, HEIGHT = 128, 96  # the size make_clip writes
MakeClip = Callable[..., Path]

# name, writer arguments, num_frames the container states
CONTAINERS = [
    ("clip.mp4", {}, 30),
    ("clip.mov", {}, 30),
    ("clip.avi", {}, 30),
    ("clip.mkv", {}, None),
    ("clip.h264", {"format": "h264"}, None),
    ("clip.h265", {"format": "hevc", "codec": "libx265"}, None),
]


@pytest.mark.parametrize(("name", "writer", "stated"), CONTAINERS)
def test_every_container_decodes_every_frame_in_order(
    tmp_path: Path,
    make_clip: MakeClip,
    name: str,
    writer: dict[str, str],
    stated: int | None,
) -> None:
    path = make_clip(tmp_path / name, 30, **writer)
    source = VideoSource(path, source_id=3)
    assert source.num_frames == stated
    frames = list(source.frames())
    assert len(frames) == 30
    assert [f.frame_num for f in frames] == list(range(30))
    assert [decode_stamp(f.data) for f in frames] == [(0, i) for i in range(30)]
    first = frames[0]
    assert first.format is PixelFormat.RGB24
    assert first.data.shape == (HEIGHT, WIDTH, 3)
    assert first.data.dtype == np.uint8
    assert (first.source_id, first.source_width, first.source_height) == (3, WIDTH, HEIGHT)
    assert first.uri == str(path)
    assert isinstance(first.time_base, Fraction)
    pts = np.array([f.pts for f in frames])
    assert (np.diff(pts) > 0).all()
    # 25 fps: the timestamps advance by 1/25 s per frame on average
    duration = (frames[-1].time or 0.0) - (first.time or 0.0)
    assert duration == pytest.approx(29 / 25, abs=0.05)


def test_repr_shows_identity_and_state(clip: Path) -> None:
    source = VideoSource(clip)
    frames = source.frames()
    next(frames)
    assert repr(source) == f"<VideoSource #0 clip.mp4 h264 {WIDTH}x{HEIGHT} open>"
    source.close()
    assert repr(source) == f"<VideoSource #0 clip.mp4 h264 {WIDTH}x{HEIGHT} closed>"
    assert source.info is not None
    assert (source.info.codec, source.info.frames, source.info.rate) == ("h264", 30, 25)


def test_close_ends_a_running_generator(clip: Path) -> None:
    source = VideoSource(clip)
    frames = source.frames()
    assert [f.frame_num for f in islice(frames, 3)] == [0, 1, 2]
    source.close()
    assert list(frames) == []
    assert len(list(source.frames())) == 30  # and the source can be read again


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "clip.mp4"
    source = VideoSource(path)
    assert source.num_frames is None
    with pytest.raises(SourceNotFoundError) as info:
        next(iter(source.frames()))
    assert str(info.value) == f"video file not found: {path}"
    with pytest.raises(FileNotFoundError):
        next(iter(source.frames()))


def test_file_that_is_not_media_gives_ffmpeg_reason(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("not a video\n" * 100)
    with pytest.raises(SourceError) as info:
        next(iter(VideoSource(path).frames()))
    assert str(info.value) == (f"cannot open '{path}': Invalid data found when processing input")


def test_file_uris_absolute_and_relative(clip: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(list(VideoSource(f"file://{clip}").frames())) == 30
    monkeypatch.chdir(clip.parent.parent)
    relative = f"file://{clip.parent.name}/{clip.name}"
    frames = list(VideoSource(relative).frames())
    assert len(frames) == 30
    assert frames[0].uri == relative


def test_damaged_packets_are_skipped_counted_and_logged(
    tmp_path: Path,
    make_clip: MakeClip,
    damage: Callable[..., None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = make_clip(tmp_path / "damaged.mp4", 60)
    damage(path, 0.45, 0.5)
    source = VideoSource(path)
    with caplog.at_level(logging.WARNING, logger="visionflow.media.video"):
        frames = list(source.frames())
    assert 0 < source.bad_packets < MAX_BAD_PACKETS_IN_A_ROW
    assert 0 < len(frames) < 60
    stamps = [decode_stamp(f.data)[1] for f in frames[:10]]
    assert stamps == list(range(10))  # the frames before the damage are intact and in order
    assert [f.frame_num for f in frames] == list(range(len(frames)))
    assert f"{path}: skipping undecodable data before frame" in caplog.text
    assert f"{path}: {source.bad_packets} undecodable packets skipped" in caplog.text


def test_garbage_ends_the_stream_with_decode_error(
    tmp_path: Path, make_clip: MakeClip, damage: Callable[..., None]
) -> None:
    path = make_clip(tmp_path / "garbage.mp4", 90)
    damage(path, 0.3, 1.0)
    source = VideoSource(path)
    received: list[Frame] = []
    with pytest.raises(DecodeError) as info:
        received.extend(source.frames())
    assert str(info.value) == (
        f"{path}: {MAX_BAD_PACKETS_IN_A_ROW} packets in a row could not be decoded before frame "
        f"{len(received)} (Invalid data found when processing input); giving up"
    )
    assert len(received) > 0


def test_truncated_file_ends_early_without_error(tmp_path: Path, make_clip: MakeClip) -> None:
    path = make_clip(tmp_path / "cut.mkv", 60)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    frames = list(VideoSource(path).frames())
    assert 0 < len(frames) < 60
    assert [decode_stamp(f.data)[1] for f in frames] == list(range(len(frames)))


def test_loop_keeps_counting_frames_and_time(tmp_path: Path, make_clip: MakeClip) -> None:
    path = make_clip(tmp_path / "short.mp4", 5)
    frames = list(islice(VideoSource(path, loop=True).frames(), 12))
    assert [f.frame_num for f in frames] == list(range(12))
    assert [decode_stamp(f.data)[1] for f in frames] == [0, 1, 2, 3, 4] * 2 + [0, 1]
    assert np.allclose(np.diff([f.time or 0.0 for f in frames]), 1 / 25)
    assert VideoSource(path, loop=True).num_frames is None


def test_realtime_paces_at_the_stream_rate(tmp_path: Path, make_clip: MakeClip) -> None:
    path = make_clip(tmp_path / "fast.mp4", 10, fps=50)
    source = VideoSource(path, realtime=True)
    assert source.live
    started = time.monotonic()
    assert len(list(source.frames())) == 10
    assert time.monotonic() - started >= 9 / 50 - 0.01
    assert not VideoSource(path, realtime=True, live=False).live


@pytest.mark.parametrize(
    ("uri", "live"),
    [
        ("clip.mp4", False),
        ("/data/cam.h264", False),
        ("file:///data/clip.mkv", False),
        ("rtsp://10.0.0.5:554/stream1", True),
        ("RTSPS://cam/stream", True),
        ("rtmp://server/live/key", True),
        ("udp://239.0.0.1:5000", True),
        ("srt://host:9000", True),
        ("http://cam.local/mjpeg", True),
        ("https://host/live/index.m3u8", True),
        ("https://host/videos/clip.mp4", False),
        ("http://host/a.MKV?token=1", False),
    ],
)
def test_live_is_detected_from_the_uri(uri: str, live: bool) -> None:
    assert is_live_uri(uri) is live
    assert VideoSource(uri).live is live
    assert VideoSource(uri, live=not live).live is not live


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


@pytest.mark.parametrize("scheme", ["rtsp", "http"])
def test_silent_server_fails_instead_of_hanging(silent_server: int, scheme: str) -> None:
    uri = f"{scheme}://127.0.0.1:{silent_server}/stream"
    started = time.monotonic()
    with pytest.raises(SourceError) as info:
        next(iter(VideoSource(uri, timeout=0.5).frames()))
    assert time.monotonic() - started < 3
    assert str(info.value) == f"cannot open '{uri}': no response within 0.5 s"


def test_refused_connection_is_a_source_error() -> None:
    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    uri = f"rtsp://127.0.0.1:{port}/stream"
    with pytest.raises(SourceError, match=f"^cannot open '{re.escape(uri)}': Connection refused$"):
        next(iter(VideoSource(uri, timeout=1, reconnect_attempts=0).frames()))
    # a live stream that is down at the start is retried for `timeout` seconds
    started = time.monotonic()
    with pytest.raises(SourceError) as info:
        next(iter(VideoSource(uri, timeout=1).frames()))
    assert 0.4 < time.monotonic() - started < 1.5
    assert str(info.value) == (f"cannot open '{uri}': Connection refused (tried 2 times in 1 s)")


def test_stream_that_stops_sending_fails_after_its_frames(
    tmp_path: Path, make_clip: MakeClip
) -> None:
    data = make_clip(tmp_path / "cam.h264", 60, format="h264").read_bytes()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    done = threading.Event()

    def serve() -> None:
        conn, _ = server.accept()
        conn.recv(4096)
        conn.sendall(
            b"HTTP/1.0 200 OK\r\nContent-Type: video/h264\r\n\r\n" + data[: len(data) // 2]
        )
        done.wait(10)  # then silence, with the connection still open
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    uri = f"http://127.0.0.1:{server.getsockname()[1]}/cam"
    received: list[Frame] = []
    try:
        with pytest.raises(SourceError) as info:
            received.extend(VideoSource(uri, timeout=0.5, reconnect_attempts=0).frames())
    finally:
        done.set()
        thread.join()
        server.close()
    assert str(info.value) == f"{uri}: no data for 0.5 s before frame {len(received)}"
    assert [decode_stamp(f.data)[1] for f in received] == list(range(len(received)))
    assert 10 < len(received) < 60


def _thread_ids() -> set[str]:
    return set(os.listdir("/proc/self/task"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="watches threads in /proc")
def test_frames_are_converted_without_threads_per_frame(
    tmp_path: Path, make_clip: MakeClip
) -> None:
    path = make_clip(tmp_path / "hd.mp4", 24, width=1280, height=720)
    frames = VideoSource(path).frames()
    kept = [next(frames) for _ in range(4)]  # the decoder's threads are running by now
    running = _thread_ids()
    seen: set[str] = set()
    done = threading.Event()

    def watch() -> None:  # short-lived threads live ~1 ms: look often
        while not done.is_set():
            seen.update(_thread_ids())
            time.sleep(0.0005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    kept += list(frames)
    done.set()
    watcher.join()
    # nothing started per frame (a threaded converter starts two per frame with FFmpeg 8)
    assert seen - running - {str(watcher.native_id)} == set()
    with av.open(str(path)) as container:
        expected = [p.to_ndarray(format="rgb24") for p in container.decode(video=0)]
    assert len(kept) == len(expected) == 24
    for frame, pixels in zip(kept, expected, strict=True):
        np.testing.assert_array_equal(frame.data, pixels)  # the same conversion, bit for bit
