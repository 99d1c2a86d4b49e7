"""visionflow's own configuration files: typed models with precise, located errors."""

from __future__ import annotations
