"""Bad requests get a 4xx with a clear reason and the API stays up; with a token, every request
without it is refused (401)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.serving import ServeFactory
from visionflow.serve import TOKEN_ENV, parse_address, resolve_token

ADD, REMOVE, INTERVAL = "/api/v1/stream/add", "/api/v1/stream/remove", "/api/v1/infer/set-interval"

# (method, path, raw body or JSON, status, words the reason must hold)
BAD_REQUESTS = [
    ("post", ADD, b"{not json", 400, "malformed JSON body"),
    ("post", ADD, b"", 400, "needs a JSON body"),
    ("post", ADD, b"[1, 2]", 400, "must be a JSON object, not list"),
    ("post", ADD, b"\xff\xfe", 400, "malformed JSON body"),
    ("post", ADD, {"uri": 3}, 422, "uri: Input should be a valid string (got 3)"),
    ("post", ADD, {"uri": "clip.mp4", "loop": "yes"}, 422, "loop: Input should be a valid boolean"),
    ("post", ADD, {"uri": "clip.mp4", "colour": 1}, 422, "colour: Extra inputs are not permitted"),
    ("post", ADD, {}, 422, "uri: Field required"),
    ("post", ADD, {"uri": "gopher://x/y"}, 422, "camera_url"),
    (
        "post",
        ADD,
        {"uri": "/no/such/clip.mp4"},
        422,
        "camera_url: no such file or folder: /no/such",
    ),
    ("post", ADD, {"uri": "file:///no/such.mp4"}, 422, "no such file or folder: /no/such.mp4"),
    (
        "post",
        ADD,
        {"key": "sensor", "value": {"camera_id": "a", "change": "camera_add"}},
        422,
        "value.camera_url: Field required",
    ),
    (
        "post",
        ADD,
        {"value": {"camera_id": "a", "camera_url": "x.mp4", "change": "camera_remove"}},
        422,
        "does not add a stream",
    ),
    ("post", ADD, {"key": "sensor"}, 422, "needs a 'value' (or 'event') object"),
    ("post", REMOVE, {"source_id": 99}, 404, "no stream with source_id 99"),
    ("post", REMOVE, {"source_id": "0"}, 422, "source_id: Input should be a valid integer"),
    ("post", REMOVE, {"source_id": 0, "camera_id": "0"}, 422, "exactly one of source_id"),
    ("post", REMOVE, {"camera_id": "nobody"}, 404, "no running stream with camera_id 'nobody'"),
    (
        "post",
        REMOVE,
        {"value": {"camera_id": "0", "camera_url": "other.mp4", "change": "camera_remove"}},
        404,
        "camera_url 'other.mp4'",
    ),
    (
        "post",
        INTERVAL,
        {"stream": {"stream_id": "0", "interval": -1}},
        422,
        "greater than or equal",
    ),
    ("post", INTERVAL, {"stream": {"interval": 2.5}}, 422, "stream.interval"),
    ("post", INTERVAL, {"element": "nope", "interval": 1}, 404, "no element named 'nope'"),
    ("get", "/api/v1/stream/abc/stats", None, 422, "source_id"),
    ("get", "/api/v1/stream/7/stats", None, 404, "no stream with source_id 7"),
    ("get", "/api/v1/nothing-here", None, 404, "Not Found"),
    ("get", ADD, None, 405, "Method Not Allowed"),
    ("post", ADD, b"[" * 2_000_000, 413, "at most 1048576"),
]


def test_bad_requests_get_a_4xx_with_a_clear_reason_and_the_api_stays_up(
    serve: ServeFactory,
) -> None:
    s = serve()
    for method, path, body, status, words in BAD_REQUESTS:
        kwargs = {"content": body} if isinstance(body, bytes) else {"json": body}
        answer = s.client.request(method, path, **({} if body is None else kwargs))
        assert answer.status_code == status, (path, body, answer.text)
        reason = answer.json()["reason"]
        assert words in reason, (path, body, reason)
        assert answer.json()["status"].startswith(f"HTTP/1.1 {status} ")
    health = s.client.get("/api/v1/health").json()
    assert health["state"] == "running"
    assert health["streams_running"] == 1
    assert s.thread.is_alive()
    assert s.finish().balanced


def test_a_camera_id_in_use_is_refused(serve: ServeFactory, clips: list[Path]) -> None:
    s = serve()
    first = s.client.post(ADD, json={"uri": str(clips[1]), "camera_id": "gate"})
    assert first.status_code == 200
    second = s.client.post(ADD, json={"uri": str(clips[2]), "camera_id": "gate"})
    assert second.status_code == 409
    assert second.json()["reason"] == "a stream with camera_id 'gate' is running"


PATHS = [
    ("get", "/api/v1/health"),
    ("get", "/api/v1/stream/get-stream-info"),
    ("post", ADD),
    ("post", REMOVE),
    ("post", INTERVAL),
    ("get", "/api/v1/stats"),
    ("post", "/api/v1/app/quit"),
    ("get", "/metrics"),
    ("get", "/view"),
    ("get", "/docs"),
    ("get", "/no/such/path"),
]


def test_with_a_token_every_request_without_it_is_refused(
    serve: ServeFactory, clips: list[Path]
) -> None:
    s = serve(token="s3cret-token", view=True)
    wrong = [{}, {"Authorization": "Bearer nope"}, {"Authorization": "s3cret-token"}]
    for method, path in PATHS:
        for headers in wrong:
            answer = s.client.request(method, path, headers=headers, json={"uri": str(clips[1])})
            assert answer.status_code == 401, (path, headers)
            assert "API token is required" in answer.json()["reason"]
            assert answer.headers["www-authenticate"] == "Bearer"
    assert s.client.get("/api/v1/health?token=nope").status_code == 401
    assert s.client.get("/api/v1/stream/get-stream-info").status_code == 401
    assert s.thread.is_alive()  # the refused quit did not stop it
    assert s.pipeline.stream_states() == {0: "running"}  # nor did the refused add/remove

    for headers, query in (
        ({"Authorization": "Bearer s3cret-token"}, ""),
        ({"X-API-Token": "s3cret-token"}, ""),
        ({}, "?token=s3cret-token"),
    ):
        assert s.client.get(f"/api/v1/health{query}", headers=headers).status_code == 200
    added = s.client.post(ADD, headers={"Authorization": "Bearer s3cret-token"},
                          json={"uri": str(clips[1])})  # fmt: skip
    assert added.status_code == 200
    s.finish()


def test_the_token_comes_from_the_flag_then_the_environment_then_the_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    assert resolve_token(None, None) is None
    assert resolve_token(None, "from-config") == "from-config"
    monkeypatch.setenv(TOKEN_ENV, "from-env")
    assert resolve_token(None, "from-config") == "from-env"
    assert resolve_token("from-flag", "from-config") == "from-flag"


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("0.0.0.0:8080", ("0.0.0.0", 8080)),
        (":9100", ("127.0.0.1", 9100)),
        ("9100", ("127.0.0.1", 9100)),
        ("localhost", ("localhost", 9000)),
        ("[::1]:9000", ("::1", 9000)),
    ],
)
def test_api_addresses(text: str, address: tuple[str, int]) -> None:
    assert parse_address(text) == address


@pytest.mark.parametrize("text", ["host:port", "host:70000", "1.2.3.4:-1"])
def test_bad_api_addresses_say_what_is_wrong(text: str) -> None:
    with pytest.raises(ValueError, match="is not HOST:PORT"):
        parse_address(text)


def test_deepstream_event_for_value_and_streaming_change_add_a_stream(
    serve: ServeFactory, clips: list[Path]
) -> None:
    """As nvds_rest_server reads it: ``event`` stands for ``value``, a change containing
    ``streaming`` adds, unknown fields are ignored."""
    s = serve()
    answer = s.client.post(
        ADD,
        json={
            "key": "sensor",
            "event": {"camera_id": "cam-9", "camera_url": str(clips[1]),
                      "change": "camera_streaming", "vendor": "ignored"},
            "headers": {"source": "vst"},
        },
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.json()["camera_id"] == "cam-9"
    removed = s.client.post(
        REMOVE,
        json={"event": {"camera_id": "cam-9", "camera_url": str(clips[1]), "change": "remove"}},
    )
    assert removed.json()["reason"] == "STREAM_REMOVE_SUCCESS"
    s.finish()
