"""Mutated configs through every reader: no traceback, every rejection precise.

Seeds are configs of every kind ``validate`` recognises, written here, the configs the package
ships, the real DeepStream configs shipped in ``tests/data/deepstream`` (so the test runs from the
repository alone) and — when it is present (see :mod:`support.corpus`) — the whole DeepStream
corpus. Each seed is mutated deterministically (empty values,
YAML tags, dates, huge integers, hex floats, deep nesting, lines without ``=``, typos, bytes that
are not UTF-8, truncation…) and read by ``validate_file`` and by the loaders ``infer`` and ``run``
use. Nothing may escape but :class:`~visionflow.errors.ConfigError`, and a rejection must name the
file and the line.

Run ``python tests/compat/deepstream/test_fuzz.py [COUNT]`` to print the crash rate and the share
of rejections that name file and line over COUNT (default 4,000) mutations of the corpus.
"""

from __future__ import annotations

import random
import re
import shutil
import sys
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from support.corpus import CORPUS, DATA, NEEDS_CORPUS, PRESENT
from visionflow.errors import ConfigError
from visionflow.validate import validate_file

ZOO = Path(__file__).resolve().parents[3] / "src/visionflow/zoo/models"

#: Seeds written here, one per kind of file, so the test needs nothing outside the repository.
SEEDS: dict[str, str] = {
    "pgie.txt": """\
[property]
gpu-id=0
net-scale-factor=0.0039215697906911373
offsets=0;0;0
model-color-format=0
onnx-file=model.onnx
labelfile-path=labels.txt
batch-size=1
network-mode=0
num-detected-classes=4
interval=0
gie-unique-id=1
process-mode=1
network-type=0
cluster-mode=2
maintain-aspect-ratio=1
symmetric-padding=1
infer-dims=3;64;64
output-blob-names=output0

[class-attrs-all]
pre-cluster-threshold=0.25
nms-iou-threshold=0.45
topk=300
border-color=1;0;0;1

[class-attrs-2]
pre-cluster-threshold=0.5
""",
    "pgie.yml": """\
property:
  gpu-id: 0
  net-scale-factor: 0.0039215697906911373
  onnx-file: model.onnx
  labelfile-path: labels.txt
  batch-size: 1
  network-mode: 2
  num-detected-classes: 4
  gie-unique-id: 1
  network-type: 0
  cluster-mode: 2
  offsets: 0;0;0
  infer-dims: 3;64;64
class-attrs-all:
  pre-cluster-threshold: 0.25
  nms-iou-threshold: 0.45
  topk: 300
""",
    "sgie_seg.txt": """\
[property]
onnx-file=seg.onnx
network-type=2
num-detected-classes=3
segmentation-threshold=0.5
model-color-format=1
offsets=103.9;116.7;123.6
net-scale-factor=1.0
process-mode=1
""",
    "app.txt": """\
[application]
enable-perf-measurement=1
perf-measurement-interval-sec=5

[tiled-display]
enable=1
rows=1
columns=2
width=1280
height=720

[source0]
enable=1
type=3
uri=file:///tmp/clip.mp4
num-sources=2
gpu-id=0

[sink0]
enable=1
type=3
container=1
codec=1
output-file=out.mp4
bitrate=2000000

[osd]
enable=1
border-width=2
text-size=15
font=Serif

[streammux]
live-source=0
batch-size=2
batched-push-timeout=40000
width=1920
height=1080
enable-padding=0

[primary-gie]
enable=1
gie-unique-id=1
config-file=pgie.txt

[tracker]
enable=1
tracker-width=640
tracker-height=384
ll-lib-file=/opt/nvidia/deepstream/deepstream/lib/libnvds_nvmultiobjecttracker.so
ll-config-file=tracker.yml

[tests]
file-loop=0
""",
    "app.yml": """\
application:
  enable-perf-measurement: 1
source:
  csv-file-path: sources.csv
streammux:
  batch-size: 1
  width: 1280
  height: 720
primary-gie:
  enable: 1
  gie-unique-id: 1
  config-file: pgie.yml
sink0:
  enable: 1
  type: 1
""",
    "tracker.yml": """\
%YAML:1.0
BaseConfig:
  minDetectorConfidence: 0.1894
TargetManagement:
  enableBboxUnClipping: 1
  preserveStreamUpdateOrder: 0
  maxTargetsPerStream: 150
  minIouDiff4NewTarget: 0.3686
  minTrackerConfidence: 0.1513
  probationAge: 2
  maxShadowTrackingAge: 42
  earlyTerminationAge: 1
TrajectoryManagement:
  useUniqueID: 0
DataAssociator:
  dataAssociatorType: 0
  associationMatcherType: 1
  checkClassMatch: 1
  minMatchingScore4Overall: 0.6622
  minMatchingScore4SizeSimilarity: 0.0
  minMatchingScore4Iou: 0.0
  matchingScoreWeight4SizeSimilarity: 0.0
  matchingScoreWeight4Iou: 1.0
StateEstimator:
  stateEstimatorType: 1
  processNoiseVar4Loc: 2.0
  processNoiseVar4Size: 1.0
  processNoiseVar4Vel: 0.1
  measurementNoiseVar4Detector: 4.0
  measurementNoiseVar4Tracker: 16.0
""",
    "analytics.txt": """\
[property]
enable=1
config-width=1920
config-height=1080
osd-mode=2
display-font-size=12

[roi-filtering-stream-0]
enable=1
roi-RF=295;643;579;634;642;913;56;828
inverse-roi=0
class-id=-1

[overcrowding-stream-0]
enable=1
roi-OC=295;643;579;634;642;913;56;828
object-threshold=3
class-id=-1

[line-crossing-stream-0]
enable=1
line-crossing-Exit=789;672;1084;900;851;773;1203;732
class-id=0
extended=0
mode=loose

[direction-detection-stream-0]
enable=1
direction-South=284;840;360;662
class-id=0
""",
    "msgconv.txt": """\
[sensor0]
enable=1
type=Camera
id=CAMERA_ID
location=45.293701447;-75.8303914499;48.1557479338
description=Aisle Camera
coordinate=5.2;10.1;11.2

[place0]
enable=1
id=0
type=intersection/road
name=HWY_20_AND_LOCUST__EBA
location=30.32;-40.55;100.0
coordinate=1.0;2.0;3.0
place-sub-field1=C_127_158
place-sub-field2=Lane 1
place-sub-field3=P1

[analytics0]
enable=1
id=XYZ_1
description=Vehicle Detection and License Plate Recognition
source=OpenALR
version=1.0
""",
    "preprocess.txt": """\
[property]
enable=1
target-unique-ids=1
network-input-order=0
process-on-frame=1
unique-id=5
gpu-id=0
maintain-aspect-ratio=1
symmetric-padding=1
processing-width=640
processing-height=640
scaling-buf-pool-size=6
tensor-buf-pool-size=6
network-input-shape=1;3;640;640
network-color-format=0
tensor-data-type=0
tensor-name=input_1
scaling-pool-memory-type=0
scaling-pool-compute-hw=0
scaling-filter=0
custom-lib-path=/opt/nvidia/deepstream/deepstream/lib/gst-plugins/libcustom2d_preprocess.so
custom-tensor-preparation-function=CustomTensorPreparation

[user-configs]
pixel-normalization-factor=0.003921568
offsets=0;0;0

[group-0]
src-ids=0
custom-input-transformation-function=CustomAsyncTransformation
process-on-roi=1
roi-params-src-0=0;540;900;500
""",
    "pipeline.yml": """\
sources:
  - uri: clip.mp4
  - uri: rtsp://camera/stream
streammux: {batch_size: 2, batched_push_timeout: 40000}
infer:
  - config: pgie.txt
    device: cpu
osd: {display_text: true}
tiler: {rows: 1, columns: 2}
sinks:
  - {type: video, path: out/annotated.mp4}
  - {type: jsonl, path: out/metadata.jsonl}
""",
    "model.yml": """\
onnx_file: model.onnx
labelfile_path: labels.txt
parser: yolov8
precision: fp16
net_scale_factor: 0.0039215697906911373
maintain_aspect_ratio: true
num_detected_classes: 4
cluster_mode: nms
class_attrs_all: {pre_cluster_threshold: 0.25, nms_iou_threshold: 0.45, topk: 300}
class_attrs:
  0: {pre_cluster_threshold: 0.4}
""",
}

#: Values that broke readers: empty, tags, dates, huge numbers, hex floats, nesting, quoting…
VALUES = (
    "",
    "!!int abc",
    "!!float x",
    "!!binary x",
    "!!timestamp x",
    "!!python/object:os.system x",
    "2024-01-01",
    "2001-12-14t21:59:43.10-05:00",
    "9" * 5000,
    "-" + "9" * 5000,
    "0x1p99999",
    "-0x1p99999",
    "1e999",
    "1e-999",
    "nan",
    "inf",
    "-1",
    "-2",
    "0",
    "4294967296",
    "2147483648",
    "[1, 2]",
    "{a: 1}",
    "~",
    "null",
    "true",
    "yes",
    "&a x",
    "*a",
    "'unterminated",
    '"\\q"',
    "1;2;3;4;5",
    ";",
    ";;",
    "0x10",
    "1.5",
    "é",
    "a b",
    "[" * 5000 + "]" * 5000,
    "{a: " * 300 + "1" + "}" * 300,
    "- " * 300 + "x",
    "\\",
    "%d",
    "/abs/path/x.onnx",
    "<<: *a",
)

#: Whole lines inserted into a file.
LINES = (
    "[",
    "[]",
    "[group",
    "key",
    "widht 640",
    "=value",
    "- - -",
    "{",
    "a: [",
    "\t\tx: 1",
    "%YAML 1.2",
    "---",
    "...",
    "? complex",
    "!!python/object:x {}",
    "[property]",
    "property:",
    "sources:",
    "  - 1",
    "<<: *nothing",
    "a: &x 1",
    "b: *x",
    "[" * 2000,
    "x: " + "[" * 2000 + "]" * 2000,
    "\ufeff",
    "\x00",
)


def _value_span(line: str) -> tuple[int, int] | None:
    """Where the value of a ``key=value`` or ``key: value`` line is."""
    for match in (re.match(r"[^=#\[]+=", line), re.match(r"\s*[^:#\[\s][^:]*:\s?", line)):
        if match:
            return match.end(), len(line)
    return None


def _mutate(text: str, rng: random.Random) -> bytes:
    """One deterministic mutation of a config's text."""
    lines = text.split("\n")
    n = len(lines)
    i = rng.randrange(n)
    op = rng.randrange(12)
    if op <= 2:  # replace a value (most interesting: the readers' value rules)
        candidates = [j for j, line in enumerate(lines) if _value_span(line)]
        if candidates:
            j = rng.choice(candidates)
            span = _value_span(lines[j])
            assert span is not None
            lines[j] = lines[j][: span[0]] + rng.choice(VALUES)
    elif op == 3:  # a line loses its '=' or ':'
        lines[i] = lines[i].replace("=", " ", 1) if "=" in lines[i] else lines[i].replace(":", "")
    elif op == 4:
        del lines[i]
    elif op == 5:
        lines.insert(i, lines[rng.randrange(n)])
    elif op == 6:
        lines.insert(i, rng.choice(LINES))
    elif op == 7:  # a typo in a key
        line = lines[i]
        cut = max(line.find("="), line.find(":"))
        if cut > 2:
            k = rng.randrange(cut - 1)
            lines[i] = line[:k] + line[k + 1] + line[k] + line[k + 2 :]
    elif op == 8:  # indentation
        lines[i] = rng.choice(("  ", "\t", " ", "")) + lines[i].lstrip()
    elif op == 9:  # truncation
        joined = "\n".join(lines)
        return joined[: rng.randrange(len(joined) + 1)].encode("utf-8", "surrogatepass")
    elif op == 10:  # bytes that are not UTF-8
        data = "\n".join(lines).encode()
        k = rng.randrange(len(data) + 1)
        return data[:k] + rng.choice((b"\xff", b"\xc3", b"\xe9t\xe9", b"\x80\x80")) + data[k:]
    else:  # one character changed
        line = lines[i]
        if line:
            k = rng.randrange(len(line))
            lines[i] = line[:k] + rng.choice("=:;[]{}#-\"' \t,&*!%|>") + line[k + 1 :]
    return "\n".join(lines).encode()


def _loaders(kind: str) -> list[Callable[[Path], object]]:
    """The loaders ``visionflow infer`` and ``visionflow run`` call for a file of this kind."""
    if kind in ("nvinfer", "visionflow-infer"):
        from visionflow.config.infer_loader import load_infer_config

        return [load_infer_config]
    if kind == "deepstream-app":
        from visionflow.compat.deepstream.app import read_deepstream_app

        return [read_deepstream_app]
    if kind == "visionflow-pipeline":
        from visionflow.config.pipeline import load_pipeline_config

        return [load_pipeline_config]
    return []


_PLACE = re.compile(r":\d+(?::\d+)?: ")
#: Rejections about the file as a whole (nothing in it to point at): they name the file only.
WHOLE_FILE = (
    ": empty file;",
    ": no source visionflow can read",
    ": no [property] group",
)


@dataclass
class Tally:
    """What became of the mutations."""

    runs: int = 0
    crashes: list[str] = field(default_factory=list)
    rejections: int = 0
    placed: int = 0
    whole_file: int = 0
    unplaced: list[str] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)

    def check(self, path: Path) -> None:
        self.runs += 1
        try:
            report = validate_file(path)
        except Exception:  # a crash is what this counts
            self.crashes.append(f"validate {path.name}: {traceback.format_exc(limit=-3)}")
            return
        self.kinds[report.kind] += 1
        for error in report.errors:
            self._rejection(path, error)
        for load in _loaders(report.kind):
            try:
                load(path)
            except ConfigError as exc:
                self._rejection(path, str(exc))
            except Exception:
                self.crashes.append(f"{load.__name__} {path.name}: {traceback.format_exc(-3)}")

    def _rejection(self, path: Path, error: str) -> None:
        self.rejections += 1
        if _PLACE.search(error) and str(path) in error:
            self.placed += 1
        elif error.startswith(str(path)) and any(p in error for p in WHOLE_FILE):
            self.whole_file += 1
        else:
            self.unplaced.append(error)


def _seed_files(folder: Path, corpus: bool) -> list[Path]:
    """Seed configs written under ``folder``: those of this file, the package's and the shipped
    DeepStream configs — or, when ``corpus`` is set, the whole corpus tree (copied there)."""
    folder.mkdir(parents=True, exist_ok=True)
    seeds = []
    for name, text in SEEDS.items():
        (folder / name).write_text(text)
        seeds.append(folder / name)
    (folder / "labels.txt").write_text("car\nperson\nbike\nsign\n")
    for path in sorted(ZOO.glob("*.yml")):
        shutil.copy(path, folder / path.name)
        seeds.append(folder / path.name)
    shutil.copytree(CORPUS if corpus else DATA, folder / "corpus", dirs_exist_ok=True)
    shipped = sorted(
        p
        for p in (folder / "corpus").rglob("*")
        if p.is_file()
        and p.suffix in (".txt", ".yml", ".yaml")
        and p.name != "SOURCES.txt"
        and p.parent != folder / "corpus"  # the shipped lists of corpus files
    )
    return shipped if corpus else seeds + shipped


def _mutations(seeds: list[Path], count: int, seed: int) -> Iterator[Path]:
    """``count`` mutated files, each written beside its seed so nested paths still resolve."""
    rng = random.Random(seed)
    texts = {p: p.read_text(encoding="utf-8") for p in seeds}
    for n in range(count):
        source = seeds[n % len(seeds)]
        target = source.with_name(f"fuzz-{n}{source.suffix}")
        target.write_bytes(_mutate(texts[source], rng))
        yield target
        target.unlink()


def run_fuzz(folder: Path, count: int, *, corpus: bool, seed: int = 10) -> Tally:
    tally = Tally()
    for path in _mutations(_seed_files(folder, corpus), count, seed):
        tally.check(path)
    return tally


def _summary(tally: Tally) -> str:
    return "\n".join(
        [
            f"{len(tally.crashes)} tracebacks in {tally.runs} files",
            *tally.crashes[:5],
            f"{tally.placed} of {tally.rejections} rejections name file and line, "
            f"{tally.whole_file} are about the whole file",
            *tally.unplaced[:10],
        ]
    )


def test_generated_seeds_never_crash_and_every_rejection_is_placed(tmp_path: Path) -> None:
    tally = run_fuzz(tmp_path, 1000, corpus=False)

    assert tally.crashes == [], _summary(tally)
    assert tally.rejections > 200  # the mutations do reach the error paths
    assert tally.unplaced == [], _summary(tally)


@pytest.mark.slow
@pytest.mark.skipif(not PRESENT, reason=NEEDS_CORPUS)
def test_corpus_mutations_never_crash_and_every_rejection_is_placed(tmp_path: Path) -> None:
    tally = run_fuzz(tmp_path, 1000, corpus=True)

    assert tally.crashes == [], _summary(tally)
    assert tally.unplaced == [], _summary(tally)


if __name__ == "__main__":
    import logging
    import tempfile

    logging.disable(logging.WARNING)

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
    with tempfile.TemporaryDirectory() as tmp:
        result = run_fuzz(Path(tmp), count, corpus=PRESENT)
    print(_summary(result))
    print(f"crash rate {len(result.crashes) / result.runs:.2%}; kinds {dict(result.kinds)}")
    causes = Counter(c.strip().splitlines()[-1][:100] for c in result.crashes)
    for cause, n in causes.most_common():
        print(f"{n:5d} {cause}")
    for error in result.unplaced[:40]:
        print("UNPLACED", error[:200])
