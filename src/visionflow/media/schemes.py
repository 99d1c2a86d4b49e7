"""URI schemes and paths of media sources: plain paths, ``file://`` URIs, network streams and
which of them are live. Pure string work — no FFmpeg — so choosing a source, placing streams on a
cluster or checking a REST request imports no decoder.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

LIVE_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "rtmps", "rtp", "srt", "udp", "tcp"})
"""URI schemes of streams that are always live."""
NETWORK_SCHEMES = LIVE_SCHEMES | {"http", "https"}
"""URI schemes :class:`~visionflow.media.video.VideoSource` opens over the network (with a
timeout)."""
VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".flv", ".wmv", ".ts", ".mts", ".m2ts",
     ".mpg", ".mpeg", ".h264", ".264", ".h265", ".265", ".hevc", ".ivf", ".y4m", ".mjpeg"}
)  # fmt: skip
"""Suffixes of video files; an http(s) URL whose path ends in one is a file, not a live stream."""


def uri_scheme(uri: str) -> str:
    """The lower-case scheme of ``uri``; ``""`` for a plain path (``C:\\clip.mp4`` included)."""
    scheme = urlsplit(uri).scheme.lower() if "://" in uri or uri[:5].lower() == "file:" else ""
    return scheme if len(scheme) > 1 else ""


def file_uri_path(uri: str) -> Path:
    """The path of a ``file://`` URI.

    Absolute (``file:///data/clip.mp4``, ``file://localhost/data/clip.mp4``) and, as DeepStream
    configs write them, relative (``file://../streams/clip.mp4``) forms are accepted; percent
    escapes are decoded.
    """
    rest = uri.split(":", 1)[1]
    rest = rest[2:] if rest.startswith("//") else rest
    if rest.lower().startswith("localhost/"):
        rest = rest[len("localhost") :]
    return Path(unquote(rest))


def is_live_uri(uri: str) -> bool:
    """Whether ``uri`` names a live stream: RTSP, RTMP, RTP, SRT, UDP or TCP, or an http(s) URL
    whose path does not end in a video file suffix (an HLS playlist, an MJPEG camera)."""
    scheme = uri_scheme(uri)
    if scheme in LIVE_SCHEMES:
        return True
    if scheme in ("http", "https"):
        return PurePosixPath(urlsplit(uri).path).suffix.lower() not in VIDEO_SUFFIXES
    return False
