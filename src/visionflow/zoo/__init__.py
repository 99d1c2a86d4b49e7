"""Pre-trained models that ship with visionflow and work offline, and the scenes they know.

``bundled_config(name)`` gives the path of a ready-to-run inference config for a bundled model::

    Infer(bundled_config("shapes_det"))
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from visionflow.errors import ModelNotFoundError

BUNDLED = {
    "shapes_det": "Circles, squares and triangles in generated scenes (YOLOv8 layout, 640x384).",
}


def bundled_config(name: str) -> Path:
    """The inference config of a bundled model (``shapes_det``)."""
    if name not in BUNDLED:
        raise ModelNotFoundError(
            f"no bundled model '{name}'; bundled: {', '.join(sorted(BUNDLED))}"
        )
    return Path(str(files("visionflow.zoo") / "models" / f"{name}.infer.yml"))
