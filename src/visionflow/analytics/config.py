"""The analytics rules (DeepStream ``nvdsanalytics``) as a typed, validated model.

All coordinates are integers in a ``config_width`` × ``config_height`` space that is scaled to
each frame's size at run time (0 × 0: the coordinates are frame pixels). Rules are grouped per
stream (``source_id``), as the ``[<feature>-stream-N]`` groups of a DeepStream file.

A DeepStream file becomes an :class:`AnalyticsConfig` through :func:`from_deepstream`; the
mapping and the choices made where DeepStream's documentation is silent are in
``docs/analytics.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Mode = Literal["loose", "balanced", "strict"]


class ModeThresholds(NamedTuple):
    """What a crossing or a direction must show before it is reported.

    Attributes:
        displacement: least squared displacement (config pixels²) of the object's anchor.
        history: least number of observations of the object (frames it was tracked on).
        similarity: least cosine between the motion and the configured direction.
    """

    displacement: float
    history: int
    similarity: float


MODES: dict[str, ModeThresholds] = {
    "loose": ModeThresholds(1000.0, 3, 0.1),
    "balanced": ModeThresholds(3000.0, 10, 0.5),
    "strict": ModeThresholds(6000.0, 20, 0.8),
}
"""DeepStream's three modes (``libs/nvds_analytics``)."""

Point = tuple[int, int]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _all_classes(ids: list[int]) -> list[int]:
    return [-1] if not ids or -1 in ids else ids


class _Rule(_Strict):
    label: str = Field(
        min_length=1, description="The name reported for this ROI, line or direction."
    )
    class_ids: list[int] = Field(
        [-1], description="Classes the rule applies to; -1 (or an empty list): every class."
    )

    _norm_classes = field_validator("class_ids")(_all_classes)

    def applies_to(self, class_id: int) -> bool:
        return self.class_ids == [-1] or class_id in self.class_ids


class RoiRule(_Rule):
    """A region of interest (``[roi-filtering-stream-N] roi-<label>``): objects are annotated
    with the ROIs they are in, never removed."""

    polygon: list[Point] = Field(
        description="Corners x, y in order; an edge joins the last to the first (no corners: "
        "an empty region)."
    )
    inverse: bool = Field(False, description="Count the objects outside the polygon instead.")


class OvercrowdingRule(_Rule):
    """A zone that is overcrowded when it holds at least ``object_threshold`` objects
    (``[overcrowding-stream-N] roi-<label>``)."""

    polygon: list[Point] = Field(description="Corners x, y in order.")
    object_threshold: int = Field(
        1, ge=0, description="Objects in the zone from which it is overcrowded."
    )
    time_threshold_ms: int = Field(
        0,
        ge=0,
        description="Milliseconds (stream time, from the frames' pts) the count must stay at "
        "or above the threshold before the zone is reported overcrowded; 0: at once.",
    )


class LineRule(_Rule):
    """A counting line (``[line-crossing-stream-N] line-crossing-<label>``): an object whose
    anchor crosses ``line`` while moving along ``direction`` is counted, once per track."""

    direction: tuple[int, int, int, int] = Field(
        description="x1, y1, x2, y2: the vector from (x1, y1) to (x2, y2) is the counted direction."
    )
    line: tuple[int, int, int, int] = Field(description="x1, y1, x2, y2: the line segment.")
    extended: bool = Field(
        False, description="Count crossings of the infinite line through the segment."
    )
    mode: Mode = Field("loose", description="loose, balanced or strict (see MODES).")


class DirectionRule(_Rule):
    """A named direction (``[direction-detection-stream-N] direction-<label>``): a tracked
    object moving along it is labelled with it."""

    vector: tuple[int, int, int, int] = Field(
        description="x1, y1, x2, y2: the direction from (x1, y1) to (x2, y2)."
    )
    mode: Mode = Field("balanced", description="loose, balanced or strict (see MODES).")


class StreamRules(_Strict):
    """The rules of one stream."""

    rois: list[RoiRule] = Field([], description="ROI filtering.")
    overcrowding: list[OvercrowdingRule] = Field([], description="Overcrowding zones.")
    lines: list[LineRule] = Field([], description="Line crossing.")
    directions: list[DirectionRule] = Field([], description="Direction detection.")

    @model_validator(mode="after")
    def _distinct_labels(self) -> StreamRules:
        for name in ("rois", "overcrowding", "lines", "directions"):
            labels = [rule.label for rule in getattr(self, name)]
            twice = sorted({label for label in labels if labels.count(label) > 1})
            if twice:
                raise ValueError(f"{name}: label {twice[0]!r} is used twice; labels must differ")
        return self


class AnalyticsConfig(_Strict):
    """What the analytics element computes and draws (DeepStream ``[property]`` and the
    per-stream groups)."""

    enable: bool = Field(True, description="Run at all; disabled, frames pass untouched.")
    config_width: int = Field(
        0, ge=0, description="Width of the coordinate space of the rules (0: frame pixels)."
    )
    config_height: int = Field(
        0, ge=0, description="Height of the coordinate space of the rules (0: frame pixels)."
    )
    osd_mode: Literal[0, 1, 2] = Field(
        2, description="0: draw nothing; 1: ROIs and lines; 2: also counts and object status."
    )
    display_font_size: int = Field(12, ge=1, description="Text height in pixels on the OSD.")
    display_obj_cnt: bool = Field(False, description="Draw the per-class object counts too.")
    unique_id: int = Field(0, ge=0, description="Reported as the analytics' component id.")
    use_past_frame: bool = Field(
        False,
        description="visionflow's own (nvdsanalytics does not read it): feed the tracker's "
        "past-frame data (the frames a track was on probation) into line crossing and "
        "direction before the frame's objects, so a line crossed while a track was on "
        "probation is counted on the frame the track is confirmed.",
    )
    streams: dict[int, StreamRules] = Field(
        {}, description="Rules per stream (source_id); streams not named get none."
    )

    def rules(self, source_id: int) -> StreamRules:
        return self.streams.get(source_id) or _NO_RULES

    def scale(self, width: int, height: int) -> tuple[float, float]:
        """Factors from frame pixels to the rules' coordinates (x, y)."""
        sx = self.config_width / width if self.config_width and width else 1.0
        sy = self.config_height / height if self.config_height and height else 1.0
        return sx, sy


_NO_RULES = StreamRules()

_PROPERTY = {
    "enable": "enable",
    "config-width": "config_width",
    "config-height": "config_height",
    "osd-mode": "osd_mode",
    "display-font-size": "display_font_size",
    "display-obj-cnt": "display_obj_cnt",
}
NOT_HONOURED = {
    "obj-cnt-win-in-ms": "per-class counts are not smoothed over a time window: each frame's "
    "counts are reported",
}
"""``[property]`` keys read but without effect, with the reason."""


def _pairs(values: list[int]) -> list[Point]:
    return [(values[i], values[i + 1]) for i in range(0, len(values) - 1, 2)]


def from_deepstream(
    groups: Mapping[str, Mapping[str, Any]], *, unique_id: int = 0
) -> AnalyticsConfig:
    """The config that checked nvdsanalytics groups give.

    Args:
        groups: group name → ``{key: value}`` as :func:`visionflow.compat.deepstream.analytics`
            reads them (values converted and checked).
        unique_id: the element's unique id.
    """
    prop = groups.get("property", {})
    settings: dict[str, Any] = {field: prop[key] for key, field in _PROPERTY.items() if key in prop}
    if "display_font_size" in settings:  # DeepStream takes any integer; below 1 draws at 1 px
        settings["display_font_size"] = max(1, settings["display_font_size"])
    streams: dict[int, dict[str, list[Any]]] = {}
    for group, values in groups.items():
        feature, _, number = group.rpartition("-stream-")
        if not number.isdigit() or not values.get("enable", True):
            continue
        rules = streams.setdefault(
            int(number), {"rois": [], "overcrowding": [], "lines": [], "directions": []}
        )
        classes = list(values.get("class-id") or [-1])
        for key, value in values.items():
            if feature == "roi-filtering" and key.startswith("roi-"):
                rules["rois"].append(
                    RoiRule(
                        label=key[4:],
                        polygon=_pairs(value),
                        inverse=bool(values.get("inverse-roi", False)),
                        class_ids=classes,
                    )
                )
            elif feature == "overcrowding" and key.startswith("roi-"):
                rules["overcrowding"].append(
                    OvercrowdingRule(
                        label=key[4:],
                        polygon=_pairs(value),
                        object_threshold=values.get("object-threshold", 1),
                        time_threshold_ms=values.get("time-threshold", 0),
                        class_ids=classes,
                    )
                )
            elif feature == "line-crossing" and key.startswith("line-crossing-"):
                mode = values.get("mode", "loose")
                rules["lines"].append(
                    LineRule(
                        label=key[len("line-crossing-") :],
                        direction=tuple(value[:4]),
                        line=tuple(value[4:]),
                        extended=bool(values.get("extended", False)),
                        mode=mode if mode in MODES else "loose",
                        class_ids=classes,
                    )
                )
            elif feature == "direction-detection" and key.startswith("direction-"):
                mode = values.get("mode", "balanced")
                rules["directions"].append(
                    DirectionRule(
                        label=key[len("direction-") :],
                        vector=tuple(value),
                        mode=mode if mode in MODES else "balanced",
                        class_ids=classes,
                    )
                )
    return AnalyticsConfig(
        **settings,
        unique_id=unique_id,
        streams={n: StreamRules(**r) for n, r in sorted(streams.items())},
    )
