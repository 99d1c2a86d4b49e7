"""Analytics results as JSON-ready records (the ``analytics`` fields of ``visionflow.frame/1``;
see ``docs/metadata-schema.md``)."""

from __future__ import annotations

from typing import Any

from visionflow.core.meta import (
    ANALYTICS_DIRECTION,
    ANALYTICS_LINES,
    ANALYTICS_OVERCROWDING,
    ANALYTICS_ROI,
    AnalyticsFrameMeta,
    Detections,
)


def frame_analytics(meta: AnalyticsFrameMeta) -> dict[str, Any]:
    """One analytics element's frame results; class ids become string keys."""
    return {
        "component_id": meta.component_id,
        "objects_in_roi": dict(meta.objects_in_roi),
        "overcrowding": {
            label: {"overcrowded": bool(flag), "count": meta.overcrowding_counts.get(label, 0)}
            for label, flag in meta.overcrowding.items()
        },
        "line_crossings": dict(meta.line_crossings),
        "line_counts": dict(meta.line_counts),
        "line_class_counts": {
            line: {str(c): n for c, n in counts.items()}
            for line, counts in meta.line_class_counts.items()
        },
        "object_counts": {str(c): n for c, n in meta.object_counts.items()},
    }


def object_analytics(dets: Detections) -> list[dict[str, Any] | None]:
    """Per object, its analytics status, or None where no analytics element ran (or for objects
    added after it)."""
    if ANALYTICS_ROI not in dets.extra:
        return [None] * len(dets)
    columns = [
        dets.extra.get(name)
        for name in (ANALYTICS_ROI, ANALYTICS_OVERCROWDING, ANALYTICS_LINES, ANALYTICS_DIRECTION)
    ]
    records: list[dict[str, Any] | None] = []
    for i in range(len(dets)):
        roi, zones, lines, direction = (None if c is None else c[i] for c in columns)
        if roi is None:  # an object another stage added after the analytics
            records.append(None)
            continue
        records.append(
            {
                "roi": list(roi),
                "overcrowding": list(zones or ()),
                "lines": list(lines or ()),
                "direction": direction,
            }
        )
    return records
