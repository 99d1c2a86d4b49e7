"""Choosing a source class from a path or URI (DeepStream's ``uri=`` and ``uridecodebin``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from fractions import Fraction
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from visionflow.core.source import Source
from visionflow.errors import ConfigError
from visionflow.media.images import IMAGE_SUFFIXES, ImageSource, has_glob
from visionflow.media.schemes import NETWORK_SCHEMES, file_uri_path, uri_scheme
from visionflow.media.synthetic import SyntheticSource

_SCHEMES = ("file", *sorted(NETWORK_SCHEMES), "synthetic")
_SYNTHETIC_KEYS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "frames": ("num_frames", int),
    "fps": ("fps", Fraction),
    "pattern": ("pattern", str),
    "seed": ("seed", int),
    "live": ("live", lambda text: text.lower() in ("1", "true", "yes")),
}


def open_source(
    spec: str | os.PathLike[str],
    source_id: int = 0,
    *,
    loop: bool = False,
    live: bool | None = None,
    timeout: float | None = None,
    reconnect_attempts: int | None = None,
    **opts: Any,
) -> Source:
    """The source for ``spec``; ``opts`` go to the chosen class's constructor.

    ``loop`` (restart at the end) applies to video files; ``live`` (drop the oldest frames when
    the pipeline falls behind; default: by URI scheme) to videos, streams and synthetic sources;
    ``timeout`` and ``reconnect_attempts`` (see :class:`VideoSource`; None: its defaults) to
    videos and streams.

    * a folder, a glob (``*``, ``?``, ``[``) or a file with an image suffix → :class:`ImageSource`;
    * ``synthetic://WIDTHxHEIGHT?frames=N&fps=F&pattern=P&seed=S&live=1`` →
      :class:`SyntheticSource` (every query key is optional; without ``frames`` it is endless);
    * any other path, ``file://`` URI or network URI (``rtsp``, ``rtsps``, ``rtmp``, ``rtmps``,
      ``rtp``, ``srt``, ``udp``, ``tcp``, ``http``, ``https``) → :class:`VideoSource`.

    Nothing is opened here, so a missing file fails when the stream starts.

    Raises:
        ConfigError: an unsupported scheme, or a malformed ``synthetic://`` URI.
    """
    text = os.fspath(spec)
    scheme = uri_scheme(text)
    video_opts = dict(opts, loop=loop, live=live)
    if timeout is not None:
        video_opts["timeout"] = timeout
    if reconnect_attempts is not None:
        video_opts["reconnect_attempts"] = reconnect_attempts
    if scheme == "synthetic":
        return _synthetic(text, source_id, opts if live is None else {**opts, "live": live})
    if scheme not in ("", "file"):
        if scheme not in NETWORK_SCHEMES:
            raise ConfigError(
                f"unsupported URI scheme '{scheme}'",
                key="uri",
                value=text,
                allowed=f"a path or a URI with one of the schemes {', '.join(_SCHEMES)}",
            )
        return _video(text, source_id, video_opts)
    path = file_uri_path(text) if scheme == "file" else None
    location = str(path) if path is not None else text
    if has_glob(location) or os.path.isdir(location) or _suffix(location) in IMAGE_SUFFIXES:
        return ImageSource(location, source_id, **opts)
    return _video(text, source_id, video_opts)


def _video(uri: str, source_id: int, opts: dict[str, Any]) -> Source:
    from visionflow.media.video import VideoSource  # PyAV: only where a video is opened

    return VideoSource(uri, source_id, **opts)


def _suffix(location: str) -> str:
    return os.path.splitext(location)[1].lower()


def _synthetic(uri: str, source_id: int, opts: dict[str, Any]) -> SyntheticSource:
    parts = urlsplit(uri)
    width, _, height = parts.netloc.lower().partition("x")
    if not (width.isdigit() and height.isdigit()):
        raise ConfigError(
            "malformed synthetic source", key="uri", value=uri, allowed="synthetic://WIDTHxHEIGHT?…"
        )
    params: dict[str, Any] = {"num_frames": None}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in _SYNTHETIC_KEYS:
            raise ConfigError(
                f"unknown query key '{key}'",
                key="uri",
                value=uri,
                allowed=", ".join(_SYNTHETIC_KEYS),
            )
        name, parse = _SYNTHETIC_KEYS[key]
        try:
            params[name] = parse(value)
        except (ValueError, ZeroDivisionError):
            raise ConfigError(f"invalid {key} '{value}'", key="uri", value=uri) from None
    params.update(opts)
    return SyntheticSource(int(width), int(height), source_id=source_id, **params)
