"""The HTTP side the REST routes share: DeepStream's answer envelope, refused requests, and
reading a JSON body into a model with errors that name the field."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

API = "/api/v1"
MAX_BODY = 1 << 20
"""Largest request body read (1 MiB); a larger one is refused with 413."""

M = TypeVar("M", bound=BaseModel)


class RequestRefusedError(Exception):
    """A request the API refuses, with its status code and reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def envelope(code: int, reason: str, **extra: Any) -> dict[str, Any]:
    """DeepStream's answer: ``{"status": "HTTP/1.1 <code> <phrase>", "reason": …}`` + extra."""
    return {"status": f"HTTP/1.1 {code} {HTTPStatus(code).phrase}", "reason": reason, **extra}


def reply(code: int, reason: str, **extra: Any) -> JSONResponse:
    return JSONResponse(envelope(code, reason, **extra), status_code=code)


async def read_json(request: Request) -> dict[str, Any]:
    """The request's body as a JSON object; RequestRefusedError (400, 413) otherwise."""
    body = await request.body()
    if len(body) > MAX_BODY:
        raise RequestRefusedError(
            413, f"the body is {len(body)} bytes; at most {MAX_BODY} are read"
        )
    if not body.strip():
        raise RequestRefusedError(400, "the request needs a JSON body")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestRefusedError(400, f"malformed JSON body: {exc}") from None
    if not isinstance(data, dict):
        raise RequestRefusedError(400, f"the body must be a JSON object, not {type(data).__name__}")
    return data


def parse(model: type[M], data: dict[str, Any]) -> M:
    """``data`` as ``model``; RequestRefusedError (422) naming each wrong field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestRefusedError(422, describe(exc.errors())) from None


def describe(errors: Any) -> str:
    """Validation errors as one line: ``value.camera_url: Field required; …``."""
    parts = []
    for error in errors:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        value = error.get("input")
        shown = f" (got {json.dumps(value)[:60]})" if error.get("type") != "missing" else ""
        parts.append(f"{where or 'body'}: {error.get('msg', 'invalid')}{shown}")
    return "; ".join(parts)
