from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from visionflow.infer.backends.openvino import decline_telemetry

# `import openvino` (also pytest.importorskip("openvino") in test modules) would post usage
# telemetry from a forked process — offline tests must not, and a fork beside running threads
# can hang the process at exit
decline_telemetry()


@pytest.fixture(autouse=True, scope="session")
def _engine_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Keep engines built by the tests out of the user's cache folder."""
    cache = tmp_path_factory.mktemp("engine-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VISIONFLOW_CACHE", str(cache))
        yield cache
