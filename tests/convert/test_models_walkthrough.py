"""docs/models.md's INT8 walk-through, run command by command as a user would type it.

The commands are read from the page itself (every ``visionflow`` command of a ``bash`` block that
names the walk-through's model), so the page and the code cannot drift apart. The files they
name are generated here: a small classifier with known answers under the page's model name, its
inference config and a calibration video.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest

from support.colour_net import colour_frames, colour_net

DOCS = Path(__file__).resolve().parents[2] / "docs" / "models.md"
MODEL = "shapes_det.onnx"
CLI = "import sys; from visionflow.cli import main; sys.argv[0] = 'visionflow'; sys.exit(main())"


def walkthrough_commands(text: str) -> list[list[str]]:
    """The ``visionflow`` commands of the page's ``bash`` blocks that name :data:`MODEL`."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["visionflow"] and MODEL in words:
                commands.append(words)
    return commands


def write_video(path: Path, frames: list[np.ndarray]) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    colour_net(tmp_path / MODEL)
    (tmp_path / "shapes_det.infer.yml").write_text(
        f"onnx_file: {MODEL}\nnetwork_type: classifier\nbatch_size: 4\n"
        "net_scale_factor: 0.00392156862745098\nmodel_color_format: RGB\n"
        "maintain_aspect_ratio: true\nsymmetric_padding: true\n"
    )
    write_video(tmp_path / "calibration.mp4", colour_frames(24))
    old = os.umask(0o022)
    try:
        yield tmp_path
    finally:
        os.umask(old)


def run(folder: Path, words: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VISIONFLOW_CACHE": str(folder / "cache")}
    return subprocess.run(
        [sys.executable, "-c", CLI, *words[1:]],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_page_holds_the_int8_walkthrough() -> None:
    commands = walkthrough_commands(DOCS.read_text())
    assert [c[1] for c in commands] == ["convert", "bench"]
    assert "--calib-file" in commands[0]
    assert "--calib-file" in commands[1]


def test_the_int8_walkthrough_runs_as_written(folder: Path) -> None:
    convert, bench = walkthrough_commands(DOCS.read_text())
    before = set(folder.iterdir())

    done = run(folder, convert)
    assert done.returncode == 0, done.stdout + done.stderr
    engine = folder / convert[convert.index("--output") + 1]
    calib = folder / convert[convert.index("--calib-file") + 1]
    report = folder / convert[convert.index("--report") + 1]
    assert "agreement with fp32 on 16 images: 100.0%" in done.stdout
    # only what the command names (and the engine's key file) is left beside the model
    left = {p.name for p in set(folder.iterdir()) - before} - {"cache"}
    assert left == {engine.name, engine.name + ".json", calib.name, report.name}
    assert stat.S_IMODE(calib.stat().st_mode) == 0o644  # the umask's mode, as any new file

    done = run(folder, bench)
    assert done.returncode == 0, done.stdout + done.stderr
    batches = bench[bench.index("--batch") + 1].split(",")
    rows = [line.split() for line in done.stdout.splitlines() if "int8" in line or "fp32" in line]
    timed = {(cells[1], cells[3]) for cells in rows if len(cells) > 3}
    assert timed == {(p, b) for p in ("fp32", "int8") for b in batches}
    assert "calibrating" not in done.stderr  # the cache written by convert was reused
