"""Runtime control of a running pipeline: the REST API (DeepStream's REST server paths), Prometheus
metrics and the live view. Needs the ``serve`` extra (FastAPI, uvicorn, prometheus-client)."""

from __future__ import annotations

from visionflow.serve.api import create_app
from visionflow.serve.control import Controller, StreamEntry
from visionflow.serve.runner import run_with_api
from visionflow.serve.server import TOKEN_ENV, ApiServer, parse_address, resolve_token

__all__ = [
    "TOKEN_ENV",
    "ApiServer",
    "Controller",
    "StreamEntry",
    "create_app",
    "parse_address",
    "resolve_token",
    "run_with_api",
]
