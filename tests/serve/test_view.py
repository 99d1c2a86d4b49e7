"""The live view in a real headless browser (Debian's chromium + chromedriver, driven by
selenium): the page shows the annotated streams moving, with the OSD's boxes, and the live
metadata."""

from __future__ import annotations

import base64
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from support.serving import ServeFactory, pipeline_config
from visionflow.osd.palette import DEFAULT_COLORS

webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs a headless browser: Debian's chromium and chromium-driver",
)
BOX_COLOURS = np.array(DEFAULT_COLORS[:3], dtype=np.int16)  # circle, square, triangle
READ_IMAGE = """
const img = document.querySelector(arguments[0]);
if (!img || !img.complete || img.naturalWidth === 0) return null;
const canvas = document.createElement("canvas");
canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
canvas.getContext("2d").drawImage(img, 0, 0);
return canvas.toDataURL("image/png");
"""


def box_colour_share(rgb: np.ndarray, tolerance: int = 24) -> float:
    """Share of pixels within ``tolerance`` (per channel) of the OSD's class colours."""
    near = np.abs(rgb[:, :, None, :].astype(np.int16) - BOX_COLOURS).max(axis=-1) <= tolerance
    return float(near.any(axis=-1).mean())


@pytest.fixture
def browser() -> object:
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1100,900",
                "--disable-dev-shm-usage"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    yield driver
    driver.quit()


def read_image(driver: object, selector: str) -> np.ndarray:
    deadline = time.monotonic() + 30
    while (url := driver.execute_script(READ_IMAGE, selector)) is None:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, f"no picture in {selector}"
        time.sleep(0.1)
    png = np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8)
    return cv2.cvtColor(cv2.imdecode(png, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def test_the_live_view_shows_moving_annotated_frames_and_metadata(
    serve: ServeFactory, clips: list[Path], browser: object, tmp_path: Path
) -> None:
    s = serve(pipeline_config(clips[:2], tiler=True), token="view-token", view=True)
    s.wait_for(lambda: s.frames_out(0) > 5, what="frames")
    browser.get(f"{s.server.url}/view?token=view-token")  # type: ignore[attr-defined]
    first = read_image(browser, "#view-tiled img")
    time.sleep(1.0)
    second = read_image(browser, "#view-tiled img")
    browser.save_screenshot(str(tmp_path / "view.png"))  # type: ignore[attr-defined]

    assert first.shape == second.shape == (384, 640, 3)  # the tiler's mosaic
    assert np.abs(first.astype(np.int16) - second).mean() > 1.0, "the picture does not move"
    # the OSD's boxes: far more pixels of the class colours than the clips themselves have
    raw = np.concatenate([decode_first(c) for c in clips[:2]], axis=1)
    shown = max(box_colour_share(first), box_colour_share(second))
    assert shown > 0.002
    assert shown > 3 * box_colour_share(raw), (shown, box_colour_share(raw))

    deadline = time.monotonic() + 20
    rows: list[str] = []
    while time.monotonic() < deadline:
        rows = [r.text for r in browser.find_elements("css selector", "#meta tr")]  # type: ignore[attr-defined]
        if rows and any(label in " ".join(rows) for label in ("circle", "square", "triangle")):
            break
        time.sleep(0.2)
    assert rows, "no live metadata on the page"
    assert any(label in " ".join(rows) for label in ("circle", "square", "triangle")), rows
    s.finish()


def test_the_view_serves_each_stream_without_a_tiler(
    serve: ServeFactory, clips: list[Path], browser: object
) -> None:
    s = serve(pipeline_config(clips[:2]), view=True)
    s.wait_for(lambda: s.frames_out(0) > 5 and s.frames_out(1) > 5, what="frames")
    browser.get(f"{s.server.url}/view")  # type: ignore[attr-defined]
    for sid in ("0", "1"):
        assert read_image(browser, f"#view-{sid} img").shape == (192, 320, 3)
    s.client.post("/api/v1/stream/remove", json={"source_id": 1})
    deadline = time.monotonic() + 20
    while browser.find_elements("css selector", "#view-1"):  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "a removed stream stays on the page"
        time.sleep(0.2)
    s.finish()


def decode_first(clip: Path) -> np.ndarray:
    capture = cv2.VideoCapture(str(clip))
    ok, frame = capture.read()
    capture.release()
    assert ok
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def test_without_an_osd_the_view_draws_the_boxes_itself(clips: list[Path]) -> None:
    from visionflow.app import App
    from visionflow.serve import Controller
    from visionflow.serve.view import LiveView

    config = pipeline_config(clips[:1], loop=False).model_copy(update={"osd": None})
    app = App.from_config(config)
    view = LiveView(Controller(app.pipeline))
    assert view.draw_boxes
    app.run()
    latest = view.latest("0")
    assert latest is not None
    assert len(latest.meta.detections) > 0
    drawn = cv2.cvtColor(cv2.imdecode(np.frombuffer(view.jpeg(latest), np.uint8), 1),
                         cv2.COLOR_BGR2RGB)  # fmt: skip
    raw = latest.frame.to_numpy()
    assert box_colour_share(drawn) > 3 * box_colour_share(raw) + 0.001
    assert view.summary(latest)["objects"][0]["label"] in ("circle", "square", "triangle")
