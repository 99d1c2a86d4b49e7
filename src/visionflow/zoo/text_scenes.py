"""Generated text scenes with ground truth, for OCR tests and benchmarks.

Lines of words and numbers are drawn with real TrueType fonts (Pillow's FreeType renderer; the
DejaVu fonts of Debian's ``fonts-dejavu-core``, or any ``.ttf`` under the usual font folders) at
a tilt, on noisy backgrounds (gradients, Gaussian noise, blobs and lines), and the exact rotated
quadrilateral of each line is kept. Pillow ships with ``rapidocr-onnxruntime``
(``visionflow[ocr]``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from visionflow.errors import MissingDependencyError

FONT_DIRS = (
    Path("/usr/share/fonts"),
    Path("/usr/local/share/fonts"),
    Path("/Library/Fonts"),
    Path("C:/Windows/Fonts"),
)
"""Where fonts are looked for."""

PREFERRED_FONTS = (
    "DejaVuSans.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSerif-Bold.ttf",
)
"""Fonts used when present, in turn, one per line."""

_WORD_TEXT = """
invoice total station platform exit north south gate open closed delivery parking warning
service entrance office garden coffee market bakery street river bridge airport ticket number
order account customer hotel museum library school
"""
WORDS = tuple(_WORD_TEXT.split())


@dataclass(frozen=True)
class TextLine:
    """One drawn line: its text, font and the (4, 2) float32 corners of its box on the image,
    clockwise from the top-left corner of the text as written."""

    text: str
    font: str
    angle: float
    quad: np.ndarray


def find_fonts() -> list[Path]:
    """TrueType fonts on this machine: :data:`PREFERRED_FONTS` first, in that order.

    Raises:
        FileNotFoundError: no ``.ttf`` file in :data:`FONT_DIRS` (Debian: apt-get install
            fonts-dejavu-core).
    """
    found = {p.name: p for d in FONT_DIRS if d.is_dir() for p in sorted(d.rglob("*.ttf"))}
    preferred = [found[name] for name in PREFERRED_FONTS if name in found]
    if preferred:
        return preferred
    if found:
        return list(found.values())[:5]
    raise FileNotFoundError(
        "no TrueType font found under "
        + ", ".join(map(str, FONT_DIRS))
        + " (Debian: apt-get install fonts-dejavu-core)"
    )


def random_text(rng: np.random.Generator) -> str:
    """Two or three words and a number, e.g. ``"gate 42 coffee"``."""
    words = [str(w) for w in rng.choice(WORDS, size=int(rng.integers(2, 4)), replace=False)]
    words.insert(int(rng.integers(0, len(words) + 1)), str(int(rng.integers(1, 9999))))
    if rng.random() < 0.3:
        words[0] = words[0].capitalize()
    return " ".join(words)


def render_text_scene(
    seed: int,
    size: tuple[int, int] = (1280, 720),
    lines: int = 5,
    max_tilt: float = 15.0,
    noise: float = 8.0,
) -> tuple[np.ndarray, list[TextLine]]:
    """A (H, W, 3) uint8 RGB image of ``lines`` text lines and their ground truth.

    Lines are placed in horizontal bands so they do not overlap; each is tilted by up to
    ``max_tilt`` degrees either way, drawn 28–56 px high in a dark or light colour against the
    background's local brightness. ``noise`` is the Gaussian noise's standard deviation.
    """
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError as err:
        raise MissingDependencyError("Pillow", "ocr", "Rendering text scenes") from err
    rng = np.random.default_rng(seed)
    width, height = size
    fonts = find_fonts()
    image = _background(rng, width, height)
    band = height / lines
    truth = []
    for i in range(lines):
        text = random_text(rng)
        font_path = fonts[i % len(fonts)]
        font = ImageFont.truetype(str(font_path), int(rng.integers(28, 57)))
        left, top, right, bottom = font.getbbox(text)
        tw, th = right - left, bottom - top
        angle = float(rng.uniform(-max_tilt, max_tilt))
        pad = 6
        layer = Image.new("L", (int(tw) + 2 * pad, int(th) + 2 * pad), 0)
        ImageDraw.Draw(layer).text((pad - left, pad - top), text, font=font, fill=255)
        rotated = layer.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
        rw, rh = rotated.size
        cx = float(rng.uniform(rw / 2 + 4, max(rw / 2 + 5, width - rw / 2 - 4)))
        cy = band * (i + 0.5) + float(rng.uniform(-band / 6, band / 6))
        cy = min(max(cy, rh / 2), height - rh / 2)
        x0, y0 = round(cx - rw / 2), round(cy - rh / 2)
        ya, xa = max(y0, 0), max(x0, 0)
        region = image[ya : y0 + rh, xa : x0 + rw].astype(np.float32)
        alpha = np.asarray(rotated, np.float32)[..., None] / 255.0
        alpha = alpha[ya - y0 : ya - y0 + region.shape[0], xa - x0 : xa - x0 + region.shape[1]]
        dark = region.mean() > 110
        color = rng.integers(0, 70, 3) if dark else rng.integers(190, 256, 3)
        region = region * (1 - alpha) + color.astype(np.float32) * alpha
        image[ya : y0 + rh, xa : x0 + rw] = region.clip(0, 255).astype(np.uint8)
        truth.append(TextLine(text, font_path.name, angle, _quad(cx, cy, tw, th, angle)))
    noisy = image.astype(np.float32) + rng.normal(0, noise, image.shape)
    return noisy.clip(0, 255).astype(np.uint8), truth


def _quad(cx: float, cy: float, w: float, h: float, angle: float) -> np.ndarray:
    """Corners of a ``w × h`` box centred at ``(cx, cy)``, turned ``angle`` degrees
    counter-clockwise (Pillow's direction), clockwise from the text's top-left."""
    t = math.radians(angle)
    cos, sin = math.cos(t), math.sin(t)
    corners = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    # y points down: a counter-clockwise turn on screen is (x, y) → (x cos + y sin, −x sin + y cos)
    x = corners[:, 0] * cos + corners[:, 1] * sin + cx
    y = -corners[:, 0] * sin + corners[:, 1] * cos + cy
    return np.stack([x, y], axis=1).astype(np.float32)


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A gradient with soft blobs and thin lines, (H, W, 3) uint8."""
    c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
    image: np.ndarray = (
        np.broadcast_to(c0 + (c1 - c0) * t, (height, width, 3)).astype(np.uint8).copy()
    )
    for _ in range(int(rng.integers(3, 8))):
        center = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        axes = (int(rng.integers(20, 200)), int(rng.integers(20, 120)))
        color = tuple(int(v) for v in rng.integers(0, 256, 3))
        cv2.ellipse(image, center, axes, float(rng.uniform(0, 180)), 0, 360, color, -1)
    image = cv2.GaussianBlur(image, (0, 0), 9)
    for _ in range(int(rng.integers(2, 6))):
        p1 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        p2 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.line(image, p1, p2, tuple(int(v) for v in rng.integers(0, 256, 3)), 1, cv2.LINE_AA)
    return image
