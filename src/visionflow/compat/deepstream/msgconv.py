"""nvmsgconv schema configs (``[sensorN]``/``[placeN]``/``[analyticsN]``) and message-broker
adapter configs (``[message-broker]``), checked as DeepStream's parsers check them.

msgconv (``deepstream_schema.cpp``): a group is read only when its ``enable`` is true (INI:
a GLib boolean; YAML: an integer); N must be a number and unique per group kind; ``location``
(lat;lon;alt) and ``coordinate`` (x;y;z) are exactly 3 numbers; other values are text.

Broker adapters (Kafka, MQTT, AMQP, Redis, Azure) read their ``[message-broker]`` keys as text;
``cfg_nvmsgbroker.txt`` has an ``[nvmsgbroker]`` group of integers.

The message converter (:mod:`visionflow.brokers.payload_deepstream`) reads the schema groups
through :func:`schema_groups`; broker adapter keys are mapped by
:mod:`visionflow.brokers.deepstream`, which reports the ones it does not honour.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from visionflow.compat.deepstream.gkeyfile import decimal
from visionflow.compat.deepstream.keys import (
    Document,
    IniDocument,
    Kind,
    Spec,
    Table,
    YamlDocument,
    check_group,
    ignore_group,
    items,
    load_document,
    read_group,
)
from visionflow.compat.deepstream.report import ConfigReport
from visionflow.errors import ConfigError

MSGCONV = None  # the schema groups are honoured by visionflow.brokers
BROKER = None  # adapter keys: visionflow.brokers.deepstream reports the ones it does not use

_TEXT = Spec(Kind.STRING)
_LOCATION = Spec(Kind.DOUBLE_LIST, items(3, "3 numbers lat;lon;alt"))
_COORDINATE = Spec(Kind.DOUBLE_LIST, items(3, "3 numbers x;y;z"))

SENSOR: Table = {
    "enable": Spec(Kind.BOOLEAN),
    "id": _TEXT,
    "type": _TEXT,
    "description": _TEXT,
    "location": _LOCATION,
    "coordinate": _COORDINATE,
}
PLACE: Table = {
    "enable": Spec(Kind.BOOLEAN),
    "id": _TEXT,
    "type": _TEXT,
    "name": _TEXT,
    "location": _LOCATION,
    "coordinate": _COORDINATE,
    "place-sub-field1": _TEXT,
    "place-sub-field2": _TEXT,
    "place-sub-field3": _TEXT,
}
ANALYTICS_MODULE: Table = {
    "enable": Spec(Kind.BOOLEAN),
    "id": _TEXT,
    "description": _TEXT,
    "source": _TEXT,
    "version": _TEXT,
}
SCHEMA_GROUPS: dict[str, Table] = {"sensor": SENSOR, "place": PLACE, "analytics": ANALYTICS_MODULE}

MESSAGE_BROKER: Table = dict.fromkeys(
    (
        "proto-cfg",
        "producer-proto-cfg",
        "consumer-proto-cfg",
        "consumer-group-id",
        "partition-key",
        "username",
        "password",
        "client-id",
        "enable-tls",
        "tls-cafile",
        "tls-capath",
        "tls-certfile",
        "tls-keyfile",
        "loop-timeout",
        "keep-alive",
        "set-threaded",
        "hostname",
        "port",
        "exchange",
        "topic",
        "amqp-framesize",
        "amqp-heartbeat",
        "streamsize",
        "payloadkey",
        "consumergroup",
        "consumername",
        "connection_str",
        "custom_msg_properties",
        "cleanup-timeout",
        "share-connection",
    ),
    _TEXT,
)
NVMSGBROKER: Table = {
    key: Spec(Kind.INT)
    for key in ("auto-reconnect", "retry-interval", "max-retry-limit", "work-interval")
}

_GROUP_NAME = re.compile(r"(sensor|place|analytics)([0-9]+)")


def read_msgconv(path: str | os.PathLike[str]) -> ConfigReport:
    """Check an nvmsgconv config (INI, or YAML by suffix) and account for its keys.

    Raises:
        ConfigError: where nvmsgconv would fail to load the file, located in it.
    """
    doc = load_document(path)
    report = ConfigReport(doc.file, "msgconv")
    seen: dict[tuple[str, int], str] = {}
    for group in doc.groups():
        kind = next((k for k in SCHEMA_GROUPS if group.startswith(k)), None)
        if kind is None:
            ignore_group(doc, group, report, f"nvmsgconv does not read group [{group}]")
            continue
        match = _GROUP_NAME.match(group)
        if match is None:
            raise ConfigError(
                f"[{group}] has no number; expected [{kind}<N>]",
                file=doc.file,
                line=doc.group_line(group),
            )
        number = decimal(match.group(2))
        if (kind, number) in seen:
            raise ConfigError(
                f"[{group}] repeats {kind} {number} of [{seen[(kind, number)]}]",
                file=doc.file,
                line=doc.group_line(group),
            )
        seen[(kind, number)] = group
        table = SCHEMA_GROUPS[kind]
        if not _enabled(doc, group):
            ignore_group(doc, group, report, "group disabled (enable is not true)")
            continue
        check_group(doc, group, table, report, ignore=MSGCONV)
    return report


def schema_groups(path: str | os.PathLike[str]) -> dict[str, dict[int, dict[str, object]]]:
    """The enabled ``[sensorN]``, ``[placeN]`` and ``[analyticsN]`` groups of an nvmsgconv
    config, ``{"sensor": {N: {key: value}}, …}``, after :func:`read_msgconv`'s checks."""
    read_msgconv(path)
    doc = load_document(path)
    groups: dict[str, dict[int, dict[str, object]]] = {kind: {} for kind in SCHEMA_GROUPS}
    for group in doc.groups():
        match = _GROUP_NAME.fullmatch(group) or _GROUP_NAME.match(group)
        if match is None or not _enabled(doc, group):
            continue
        kind = match.group(1)
        groups[kind][decimal(match.group(2))] = read_group(doc, group, SCHEMA_GROUPS[kind])
    return groups


def _enabled(doc: Document, group: str) -> bool:
    """nvmsgconv parses a group only when its ``enable`` is true. INI: a missing or unreadable
    ``enable`` skips the group silently; YAML: ``enable`` must be an integer (yaml-cpp throws)."""
    entries = [e for e in doc.entries(group) if e.key == "enable"]
    if not entries:
        return False
    if isinstance(doc, YamlDocument):
        return bool(doc.read(entries[-1], Kind.INT))
    try:
        return bool(doc.read(entries[-1], Kind.BOOLEAN))
    except ConfigError:
        return False


def read_msgbroker(path: str | os.PathLike[str]) -> ConfigReport:
    """Check a message-broker adapter config (``[message-broker]``, ``[nvmsgbroker]``)."""
    doc = IniDocument(Path(path))
    report = ConfigReport(doc.file, "msgbroker")
    for group in doc.groups():
        table = {"message-broker": MESSAGE_BROKER, "nvmsgbroker": NVMSGBROKER}.get(group)
        if table is None:
            ignore_group(doc, group, report, f"broker adapters do not read group [{group}]")
        else:
            check_group(doc, group, table, report, ignore=BROKER)
    return report
