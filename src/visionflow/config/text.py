"""Reading a config file's text, with errors that say where the file stops being readable.

Every reader (GKeyFile INI, YAML, protobuf text) starts here, so a missing file, a folder, or bytes
that are not UTF-8 give the same :class:`~visionflow.errors.ConfigError` everywhere: for bad bytes
the message names the byte, its offset, and the line and column where it sits.
"""

from __future__ import annotations

import os
from pathlib import Path

from visionflow.errors import ConfigError


def read_config_text(path: str | os.PathLike[str]) -> str:
    """The file's text, decoded as UTF-8 (a leading byte-order mark is kept for the readers).

    Raises:
        ConfigError: the file is missing, a folder, unreadable, or not UTF-8 text.
    """
    file = os.fspath(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError("file not found", file=file) from None
    except IsADirectoryError:
        raise ConfigError("is a folder, not a file", file=file) from None
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror}", file=file) from None
    return decode_utf8(data, file)


def decode_utf8(data: bytes, file: str) -> str:
    """``data`` as UTF-8 text; a ConfigError names the first bad byte and where it is."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        start = data.rfind(b"\n", 0, exc.start) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        column = len(data[start : exc.start].decode("utf-8", "replace")) + 1
        raise ConfigError(
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start} ({exc.reason})",
            file=file,
            line=line,
            column=column,
            allowed="a file saved as UTF-8",
        ) from None
