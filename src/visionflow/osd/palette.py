"""Class colours: a fixed palette of 20 distinct colours, with per-class overrides.

Class ``c`` gets ``colors[c mod 20]`` (so ``−1``, the class of a whole-frame classifier object, gets
the last one, a neutral grey) unless an override names it. Overrides are given the DeepStream way,
as ``r, g, b[, a]`` floats in ``[0, 1]`` (``border-color = 1;0;0;1``); colours are stored as RGBA
``uint8``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from visionflow.errors import ConfigError

RGBA = tuple[int, int, int, int]
"""An RGBA colour, ``uint8`` channels."""

DEFAULT_COLORS: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75),  # red
    (60, 180, 75),  # green
    (255, 225, 25),  # yellow
    (67, 99, 216),  # blue
    (245, 130, 49),  # orange
    (145, 30, 180),  # purple
    (66, 212, 244),  # cyan
    (240, 50, 230),  # magenta
    (191, 239, 69),  # lime
    (250, 190, 212),  # pink
    (70, 153, 144),  # teal
    (220, 190, 255),  # lavender
    (154, 99, 36),  # brown
    (255, 250, 200),  # beige
    (128, 0, 0),  # maroon
    (170, 255, 195),  # mint
    (128, 128, 0),  # olive
    (255, 216, 177),  # apricot
    (0, 0, 117),  # navy
    (169, 169, 169),  # grey
)
"""RGB colours of class ids 0..19 (Sasha Trubetskoy's 20 distinct colours, in his order)."""


def rgba_from_floats(value: Sequence[float], *, key: str = "color") -> RGBA:
    """``(r, g, b[, a])`` floats in ``[0, 1]`` (DeepStream ``border-color``) → RGBA ``uint8``.

    Raises:
        ConfigError: not 3 or 4 values, or a value outside ``[0, 1]``.
    """
    values = tuple(float(v) for v in value)
    text = ";".join(f"{v:g}" for v in values)
    if len(values) not in (3, 4):
        raise ConfigError(f"has {len(values)} values", key=key, value=text, allowed="r;g;b;a")
    if not all(0.0 <= v <= 1.0 for v in values):
        raise ConfigError("has a value outside [0, 1]", key=key, value=text, allowed="r;g;b;a")
    r, g, b, a = (round(v * 255) for v in (*values, 1.0)[:4])
    return r, g, b, a


class Palette:
    """A deterministic colour per class id.

    Args:
        overrides: class id → ``(r, g, b[, a])`` floats in ``[0, 1]``, taking precedence over the
            palette (DeepStream ``[class-attrs-N] border-color``).
        colors: the RGB ``uint8`` colours cycled through by class id.
    """

    def __init__(
        self,
        overrides: Mapping[int, Sequence[float]] | None = None,
        colors: Sequence[tuple[int, int, int]] = DEFAULT_COLORS,
    ) -> None:
        if not colors:
            raise ValueError("a palette needs at least one colour")
        base = np.asarray(colors, np.uint8).reshape(-1, 3)
        self._base = np.concatenate([base, np.full((len(base), 1), 255, np.uint8)], axis=1)
        self.overrides: dict[int, RGBA] = {
            int(cid): rgba_from_floats(color, key=f"class {cid} color")
            for cid, color in (overrides or {}).items()
        }

    def rgba(self, class_ids: np.ndarray | Sequence[int]) -> np.ndarray:
        """(N,) class ids → (N, 4) RGBA ``uint8`` colours."""
        ids = np.asarray(class_ids, np.int64).reshape(-1)
        out = self._base[ids % len(self._base)]
        for cid, color in self.overrides.items():
            out[ids == cid] = color
        return out

    def color(self, class_id: int) -> RGBA:
        """The RGBA ``uint8`` colour of one class."""
        r, g, b, a = (int(v) for v in self.rgba([class_id])[0])
        return r, g, b, a

    def __repr__(self) -> str:
        return f"<Palette {len(self._base)} colours, {len(self.overrides)} overrides>"
