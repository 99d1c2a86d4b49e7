"""Front-ends that read other frameworks' configuration files into visionflow's models."""

from __future__ import annotations
