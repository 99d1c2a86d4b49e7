"""A bounded, ordered, on-disk message spool (SQLite, write-ahead log).

Messages wait here while their broker is down and leave in the order they came. The spool holds
at most ``max_messages`` messages and ``max_bytes`` payload bytes; a message that does not fit is
refused (counted by the caller as dropped), so what is spooled stays a contiguous run of the
oldest undelivered messages. The file survives the process: messages left in it are sent first
by the next sink that opens it. Only the sender thread uses a spool.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from visionflow.brokers.converter import Message
from visionflow.errors import SinkError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id INTEGER NOT NULL,
    payload BLOB NOT NULL
)
"""


class Spool:
    """An SQLite spool file.

    Args:
        path: the file (created with its folder).
        max_bytes, max_messages: the bound.

    Attributes:
        count, size: messages and payload bytes held now.
        peak_count, peak_size: the most held at once since opening.
    """

    def __init__(self, path: str | os.PathLike[str], max_bytes: int, max_messages: int) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.max_messages = max_messages
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)
            row = self._db.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM spool")
            self.count, self.size = row.fetchone()
        except (sqlite3.Error, OSError) as exc:
            raise SinkError(f"cannot open the message spool '{self.path}': {exc}") from exc
        self.peak_count, self.peak_size = self.count, self.size

    def __len__(self) -> int:
        return int(self.count)

    def append(self, messages: Iterable[Message]) -> int:
        """Store messages at the tail, in order, as long as they fit; returns how many were
        stored (the rest, from the first that did not fit, are refused)."""
        rows: list[tuple[int, bytes]] = []
        count, size = self.count, self.size
        for m in messages:
            if count + 1 > self.max_messages or size + len(m.payload) > self.max_bytes:
                break
            rows.append((m.source_id, m.payload))
            count += 1
            size += len(m.payload)
        if rows:
            try:
                with self._db:
                    self._db.execute("BEGIN")
                    self._db.executemany(
                        "INSERT INTO spool (source_id, payload) VALUES (?, ?)", rows
                    )
            except sqlite3.Error as exc:
                raise SinkError(f"cannot write to the message spool '{self.path}': {exc}") from exc
            self.count, self.size = count, size
            self.peak_count = max(self.peak_count, count)
            self.peak_size = max(self.peak_size, size)
        return len(rows)

    def head(self, limit: int) -> list[tuple[int, Message]]:
        """The oldest ``limit`` messages with their sequence numbers (not removed)."""
        rows = self._db.execute(
            "SELECT seq, source_id, payload FROM spool ORDER BY seq LIMIT ?", (limit,)
        ).fetchall()
        return [(seq, Message(bytes(payload), source)) for seq, source, payload in rows]

    def remove(self, entries: Sequence[tuple[int, Message]]) -> None:
        """Remove delivered messages (a head as :meth:`head` returned it)."""
        if not entries:
            return
        last = entries[-1][0]
        try:
            self._db.execute("DELETE FROM spool WHERE seq <= ?", (last,))
        except sqlite3.Error as exc:
            raise SinkError(f"cannot update the message spool '{self.path}': {exc}") from exc
        self.count -= len(entries)
        self.size -= sum(len(m.payload) for _, m in entries)

    def close(self, *, delete: bool = False) -> None:
        """Close the file; ``delete`` removes it (and its WAL files)."""
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
        if delete:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
