"""The on-disk spool: order, bound, persistence across openings."""

from __future__ import annotations

from pathlib import Path

import pytest

from visionflow.brokers import Message
from visionflow.brokers.spool import Spool
from visionflow.errors import SinkError


def _messages(n: int, size: int = 10, start: int = 0) -> list[Message]:
    return [Message(f"{i:0{size}d}".encode(), i % 3) for i in range(start, start + n)]


def test_messages_leave_in_the_order_they_came(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite", max_bytes=10**6, max_messages=1000)
    assert spool.append(_messages(5)) == 5
    assert spool.append(_messages(5, start=5)) == 5
    head = spool.head(4)
    assert [m.payload for _, m in head] == [m.payload for m in _messages(4)]
    spool.remove(head)
    rest = spool.head(100)
    assert [int(m.payload) for _, m in rest] == list(range(4, 10))
    assert [m.source_id for _, m in rest] == [i % 3 for i in range(4, 10)]
    assert (len(spool), spool.size, spool.peak_count, spool.peak_size) == (6, 60, 10, 100)


def test_the_bound_refuses_what_does_not_fit_and_keeps_the_oldest(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite", max_bytes=4096, max_messages=7)
    assert spool.append(_messages(10)) == 7  # the count bound
    assert [int(m.payload) for _, m in spool.head(100)] == list(range(7))
    spool.remove(spool.head(7))
    big = [Message(b"x" * 1000, 0)] * 5
    assert spool.append(big) == 4  # the byte bound: 4 of 1000 bytes fit in 4096
    assert spool.size <= spool.max_bytes


def test_what_is_left_is_there_for_the_next_opening(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    spool = Spool(path, max_bytes=10**6, max_messages=1000)
    spool.append(_messages(3))
    spool.close()
    again = Spool(path, max_bytes=10**6, max_messages=1000)
    assert len(again) == 3
    assert [int(m.payload) for _, m in again.head(10)] == [0, 1, 2]
    again.close(delete=True)
    assert not path.exists()


def test_a_spool_that_cannot_be_created_names_its_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SinkError, match="cannot open the message spool"):
        Spool(blocker / "s.sqlite", 4096, 10)
