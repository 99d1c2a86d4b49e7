"""Running a pipeline with its API: the server starts before the pipeline and stops after it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from visionflow.serve.api import create_app
from visionflow.serve.control import Controller
from visionflow.serve.server import ApiServer

if TYPE_CHECKING:
    from visionflow.app import App
    from visionflow.core.pipeline import PipelineReport

log = logging.getLogger(__name__)


def run_with_api(
    app: App,
    *,
    host: str = "127.0.0.1",
    port: int = 9000,
    token: str | None = None,
    view: bool = False,
    progress: bool = False,
) -> PipelineReport:
    """Run ``app`` (in this thread, so Ctrl-C and SIGTERM drain it) while serving its API on
    ``host:port`` (and the live view at ``/view`` with ``view``); the server stops after the
    run. Raises VisionflowError when the port cannot be bound."""
    controller = Controller(app.pipeline)
    api = create_app(controller, token=token)
    live = None
    if view:
        from visionflow.serve.view import LiveView

        live = LiveView(controller)
        live.attach(api)
    server = ApiServer(api, host, port).start()
    where = f"{server.url}/view" if view else f"{server.url}/api/v1/health"
    log.info("serving %s%s", where, " (token required)" if token else "")
    try:
        return app.run(progress=progress)
    finally:
        if live is not None:
            live.close()
        server.stop()
