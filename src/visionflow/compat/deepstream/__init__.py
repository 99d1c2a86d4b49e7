"""Readers for DeepStream's configuration files (nvinfer, deepstream-app, tracker, analytics…)."""

from __future__ import annotations
