"""Gst-nvdsanalytics config files (INI or YAML), checked as ``nvdsanalytics_property_parser.cpp``.

Groups: a mandatory ``[property]`` (``enable``, ``config-width`` and ``config-height`` are
required) and per-stream groups ``[roi-filtering-stream-N]``, ``[overcrowding-stream-N]``,
``[line-crossing-stream-N]`` and ``[direction-detection-stream-N]``, each needing at least one
labelled ``roi-<L>``, ``line-crossing-<L>`` or ``direction-<L>`` key. Coordinates are integers
≥ 0 in the ``config-width`` × ``config-height`` space: a polygon is x;y pairs, a line crossing
is exactly 8 values (direction vector, then the line), a direction is exactly 4.

The keys visionflow's :class:`~visionflow.analytics.Analytics` element honours are reported
honoured (:func:`analytics_config` gives its config); ``obj-cnt-win-in-ms`` is reported ignored.
DeepStream reads past the end of an odd polygon or a short line (undefined behaviour); these are
reported as errors here.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import ValidationError

from visionflow.analytics.config import NOT_HONOURED, AnalyticsConfig, from_deepstream
from visionflow.compat.deepstream.gkeyfile import BadValueError
from visionflow.compat.deepstream.keys import (
    Document,
    Kind,
    Spec,
    Table,
    at_least,
    between,
    choice,
    ignore_group,
    load_document,
    read_group,
    record_group,
    require,
)
from visionflow.compat.deepstream.report import ConfigReport
from visionflow.errors import ConfigError

_POINTS = "an even number of integers ≥ 0: x1;y1;x2;y2;…"
_LINE = "8 integers ≥ 0: dx1;dy1;dx2;dy2 (crossing direction) then x1;y1;x2;y2 (the line)"
_DIRECTION = "4 integers ≥ 0: x1;y1;x2;y2"
_MODES = ("loose", "balanced", "strict")
_OFF = "analytics disabled ([property] enable=0)"


def _non_negative(values: list[int], allowed: str) -> list[int]:
    if any(v < 0 for v in values):
        raise BadValueError("negative coordinate", allowed)
    return values


def _polygon(values: list[int]) -> list[int]:
    if len(values) % 2:
        raise BadValueError(
            f"odd number of values ({len(values)}); a polygon is x;y pairs", _POINTS
        )
    return _non_negative(values, _POINTS)


def _exactly(count: int, allowed: str) -> Any:
    def check(values: list[int]) -> list[int]:
        if len(values) != count:
            raise BadValueError(f"{len(values)} values", allowed)
        return _non_negative(values, allowed)

    return check


_CLASS_IDS = Spec(Kind.INT_LIST)
_ENABLE = Spec(Kind.BOOLEAN)
_NON_NEGATIVE = Spec(Kind.INT, at_least(0))

PROPERTY: Table = {
    "enable": _ENABLE,
    "config-width": _NON_NEGATIVE,
    "config-height": _NON_NEGATIVE,
    "display-font-size": Spec(Kind.INT),
    "osd-mode": Spec(
        Kind.INT, choice({0: "draw nothing", 1: "draw ROIs and lines", 2: "also object status"})
    ),
    "obj-cnt-win-in-ms": Spec(Kind.INT, between(1, 1_000_000_000)),
    "display-obj-cnt": Spec(Kind.BOOLEAN),
}
ROI_FILTERING: Table = {
    "enable": _ENABLE,
    "class-id": _CLASS_IDS,
    "inverse-roi": Spec(Kind.BOOLEAN),
    "roi-*": Spec(Kind.INT_LIST, _polygon),
}
OVERCROWDING: Table = {
    "enable": _ENABLE,
    "class-id": _CLASS_IDS,
    "object-threshold": _NON_NEGATIVE,
    "time-threshold": _NON_NEGATIVE,
    "roi-*": Spec(Kind.INT_LIST, _polygon),
}
LINE_CROSSING: Table = {
    "enable": _ENABLE,
    "class-id": _CLASS_IDS,
    "extended": Spec(Kind.BOOLEAN),
    "mode": Spec(Kind.STRING),
    "line-crossing-*": Spec(Kind.INT_LIST, _exactly(8, _LINE)),
}
DIRECTION_DETECTION: Table = {
    "enable": _ENABLE,
    "class-id": _CLASS_IDS,
    "mode": Spec(Kind.STRING),
    "direction-*": Spec(Kind.INT_LIST, _exactly(4, _DIRECTION)),
}

#: Per-stream group prefix → (table, prefix of the labelled keys, mode used for unknown modes).
STREAM_GROUPS: dict[str, tuple[Table, str, str | None]] = {
    "roi-filtering-stream-": (ROI_FILTERING, "roi-", None),
    "overcrowding-stream-": (OVERCROWDING, "roi-", None),
    "line-crossing-stream-": (LINE_CROSSING, "line-crossing-", "loose"),
    "direction-detection-stream-": (DIRECTION_DETECTION, "direction-", "balanced"),
}


def read_analytics(path: str | os.PathLike[str]) -> ConfigReport:
    """Check an nvdsanalytics config and account for its keys.

    Raises:
        ConfigError: where nvdsanalytics would fail (or read out of bounds), located in the file.
    """
    return _read(path)[0]


def analytics_config(path: str | os.PathLike[str], *, unique_id: int = 0) -> AnalyticsConfig:
    """The analytics config an nvdsanalytics file gives (see :func:`read_analytics` for the
    errors)."""
    try:
        return from_deepstream(_read(path)[1], unique_id=unique_id)
    except ValidationError as exc:  # a value the checks above let through: still name the file
        raise ConfigError(f"not a valid analytics config: {exc}", file=str(path)) from None


def _read(path: str | os.PathLike[str]) -> tuple[ConfigReport, dict[str, dict[str, Any]]]:
    groups: dict[str, dict[str, Any]] = {}
    doc = load_document(path)
    report = ConfigReport(doc.file, "nvdsanalytics")
    if "property" not in doc.groups():
        raise ConfigError("no [property] group; nvdsanalytics requires one", file=doc.file)
    off = None if read_group(doc, "property", PROPERTY).get("enable", True) else _OFF
    for group in doc.groups():
        if group == "property":
            values = groups[group] = read_group(doc, group, PROPERTY)
            reasons = {k: off for k in values if k != "enable"} if off else NOT_HONOURED
            record_group(doc, group, PROPERTY, report, reasons=reasons)
            require(
                doc, group, values, ("config-width", "enable", "config-height"), "nvdsanalytics"
            )
            continue
        prefix = next((p for p in STREAM_GROUPS if group.startswith(p)), None)
        if prefix is None:
            ignore_group(doc, group, report, f"nvdsanalytics does not read group [{group}]")
            continue
        table, label, default_mode = STREAM_GROUPS[prefix]
        values = groups[group] = read_group(doc, group, table)
        why: str | None = off
        keep: tuple[str, ...] = ()
        if not group[len(prefix) :].isdigit():
            why = f"'{group[len(prefix) :]}' is not a stream number: the group applies to no stream"
        elif why is None and not values.get("enable", True):
            why, keep = "group disabled (enable=0)", ("enable",)
        ignored = {k: why for k in values if k not in keep} if why else None
        record_group(doc, group, table, report, reasons=ignored)
        _check_stream_group(doc, group, values, label, default_mode, report)
    return report, groups


def _check_stream_group(
    doc: Document,
    group: str,
    values: dict[str, Any],
    label: str,
    default_mode: str | None,
    report: ConfigReport,
) -> None:
    if not any(key.startswith(label) for key in values):
        raise ConfigError(
            f"no {label}<label> key; nvdsanalytics needs at least one in this group",
            file=doc.file,
            line=doc.group_line(group),
        )
    mode = values.get("mode")
    if default_mode is not None and mode is not None and mode not in _MODES:
        entry = next(e for e in doc.entries(group) if e.key == "mode")
        report.warnings.append(
            doc.warning(
                entry,
                f"unknown mode {mode!r} (loose, balanced or strict); DeepStream uses "
                f"{default_mode!r}",
            )
        )
