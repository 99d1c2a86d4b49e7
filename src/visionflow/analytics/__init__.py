"""Video analytics on detected and tracked objects (DeepStream ``nvdsanalytics``).

::

    from visionflow.analytics import Analytics

    analytics = Analytics("config_nvdsanalytics.txt")  # a DeepStream nvdsanalytics file
"""

from visionflow.analytics.config import (
    MODES,
    AnalyticsConfig,
    DirectionRule,
    LineRule,
    OvercrowdingRule,
    RoiRule,
    StreamRules,
)
from visionflow.analytics.element import Analytics

__all__ = [
    "MODES",
    "Analytics",
    "AnalyticsConfig",
    "DirectionRule",
    "LineRule",
    "OvercrowdingRule",
    "RoiRule",
    "StreamRules",
]
