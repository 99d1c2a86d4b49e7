"""Broker sinks in a visionflow pipeline file: validation with file, line and key; paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from visionflow.config.pipeline import load_pipeline_config
from visionflow.errors import ConfigError

HEAD = "sources:\n  - uri: a.mp4\nsinks:\n"


def _load(tmp_path: Path, sinks: str):
    path = tmp_path / "pipeline.yml"
    path.write_text(HEAD + sinks)
    return load_pipeline_config(path)


@pytest.mark.parametrize(
    ("sinks", "message"),
    [
        (
            "  - type: broker\n",
            r"pipeline.yml:4: sinks.0: value error, a broker sink needs a broker",
        ),
        (
            "  - type: broker\n    broker: {protocol: zeromq}\n",
            r"pipeline.yml:5: sinks.0.broker.protocol = 'zeromq': input should be 'mqtt', 'amqp', "
            "'redis' or 'kafka'",
        ),
        (
            "  - type: broker\n    broker: {protocol: mqtt, port: 70000}\n",
            r"pipeline.yml:5: sinks.0.broker.port = 70000: input should be less than or equal "
            "to 65535",
        ),
        (
            "  - type: jsonl\n    path: m.jsonl\n    broker: {protocol: mqtt}\n",
            r"sinks.0: value error, broker and messages belong to broker sinks, not jsonl",
        ),
        (
            "  - type: broker\n    broker: {protocol: mqtt}\n    messages: {payload: custom}\n",
            r"value error, payload custom needs a function",
        ),
        (
            "  - type: broker\n    broker: {protocol: mqtt, tls_ca_file: ca.pem}\n",
            r"value error, tls_ca_file, tls_cert_file and tls_key_file need tls: true",
        ),
        (
            "  - type: broker\n    broker: {protocol: mqtt, tls: true, tls_cert_file: c.pem}\n",
            r"value error, tls_cert_file and tls_key_file go together",
        ),
        (
            "  - type: broker\n    broker: {protocol: mqtt, spool: {max_bytes: 10}}\n",
            r"sinks.0.broker.spool.max_bytes = 10: input should be greater than or equal to 4096",
        ),
    ],
)
def test_bad_broker_sinks_are_refused_at_their_key(
    tmp_path: Path, sinks: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, sinks)


def test_spool_and_msgconv_paths_resolve_against_the_file(tmp_path: Path) -> None:
    config = _load(
        tmp_path,
        "  - type: broker\n    broker: {protocol: redis, spool: {path: spool/s.sqlite},\n"
        "             tls: true, tls_ca_file: ca.pem}\n"
        "    messages: {payload: deepstream-full, config: msgconv.txt}\n",
    )
    sink = config.sinks[0]
    assert sink.broker is not None
    assert sink.messages is not None
    assert sink.broker.spool.path == tmp_path / "spool" / "s.sqlite"
    assert sink.messages.config == tmp_path / "msgconv.txt"
    assert sink.broker.address == ("localhost", 6379)
    assert sink.broker.tls_ca_file == tmp_path / "ca.pem"
