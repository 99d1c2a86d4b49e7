"""Readers of tracker, nvdsanalytics, nvmsgconv/broker, nvdspreprocess and unsupported files."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from support.corpus import DATA
from visionflow.compat.deepstream.analytics import read_analytics
from visionflow.compat.deepstream.msgconv import read_msgbroker, read_msgconv
from visionflow.compat.deepstream.preprocess import read_preprocess
from visionflow.compat.deepstream.report import ConfigReport
from visionflow.compat.deepstream.tracker import read_tracker, read_tracker_ini
from visionflow.compat.deepstream.unsupported import read_nvinferserver
from visionflow.errors import ConfigError

PY = "NVIDIA-AI-IOT__deepstream_python_apps/apps"
TAO = "NVIDIA-AI-IOT__deepstream_tao_apps"

Reader = Callable[[Path], ConfigReport]


@pytest.mark.parametrize(
    ("reader", "name", "count", "reason"),
    [
        (
            read_tracker_ini,
            f"{PY}/deepstream-test2/dstest2_tracker_config.txt",
            5,
            "Python sample apps only",
        ),
        (
            read_preprocess,
            f"{PY}/deepstream-preprocess-test/config_preprocess.txt",
            27,
            "nvdspreprocess is",
        ),
    ],
)
def test_corpus_files_load_with_every_key_ignored(
    reader: Reader, name: str, count: int, reason: str
) -> None:
    report = reader(DATA / name)

    assert report.valid
    assert report.honoured == []
    assert len(report.ignored) == count
    assert all(reason in why for why in report.ignored.values() if "disabled" not in why)


@pytest.mark.parametrize(
    ("reader", "name", "count"),
    [
        (read_msgconv, f"{PY}/deepstream-test4/dstest4_msgconv_config.txt", 29),
        (read_msgbroker, f"{PY}/deepstream-test4/cfg_amqp.txt", 7),
    ],
)
def test_msgconv_and_broker_files_load_with_every_key_honoured(
    reader: Reader, name: str, count: int
) -> None:
    """The message converter honours the schema groups; the adapter keys a broker sink does
    not use are reported where the sink is built (visionflow.brokers.deepstream)."""
    report = reader(DATA / name)

    assert report.valid
    assert len(report.honoured) == count
    assert report.ignored == {}


def broken(tmp_path: Path, name: str, old: str, new: str) -> Path:
    """A copy of a corpus file with ``old`` replaced by ``new`` (which must occur)."""
    source = DATA / name
    text = source.read_text()
    assert old in text
    copy = tmp_path / source.name
    shutil.copy(source, copy)
    copy.write_text(text.replace(old, new, 1))
    return copy


ANALYTICS = f"{PY}/deepstream-nvdsanalytics/config_nvdsanalytics.txt"


@pytest.mark.parametrize(
    ("reader", "name", "old", "new", "message"),
    [
        (
            read_analytics, ANALYTICS, "roi-RF=295;643;579;634;642;913;56;828",
            "roi-RF=295;643;579;634;642;913;56",
            ":{line}: [roi-filtering-stream-0] roi-RF = 295;643;579;634;642;913;56: odd number of "
            "values (7); a polygon is x;y pairs; expected an even number of integers ≥ 0: "
            "x1;y1;x2;y2;…",
        ),
        (
            read_analytics, ANALYTICS, "line-crossing-Exit=789;672;1084;900;851;773;1203;732",
            "line-crossing-Exit=789;672;1084;900;851;773;1203",
            ":{line}: [line-crossing-stream-0] line-crossing-Exit = 789;672;1084;900;851;773;1203: "
            "7 values; expected 8 integers ≥ 0: dx1;dy1;dx2;dy2 (crossing direction) then "
            "x1;y1;x2;y2 (the line)",
        ),
        (
            read_analytics, ANALYTICS, "inverse-roi=0", "inverse-roi=no",
            ":{line}: [roi-filtering-stream-0] inverse-roi = no: not a boolean; expected true, "
            "false, 1 or 0",
        ),
        (
            read_analytics, ANALYTICS, "config-width=1920\n", "",
            ":{line}: [property] config-width: missing; nvdsanalytics requires it",
        ),
        (
            read_tracker, f"{PY}/deepstream-test2/config_tracker_NvDCF_perf.yml",
            "featureImgSizeLevel: 2", "featureImgSizeLevel: 7",
            ":{line}: [VisualTracker] featureImgSizeLevel = 7: out of range; expected a number "
            "from 1 to 5",
        ),
        (
            read_tracker, f"{PY}/../tests/integration/tracker_config.yml",
            "networkMode: 1", "networkMode: 3",
            ":{line}: [ReID] networkMode = 3: invalid value; expected 0 (FP32), 1 (FP16) or "
            "2 (INT8)",
        ),
        (
            read_msgconv, f"{PY}/deepstream-test4/dstest4_msgconv_config.txt",
            "coordinate=5.2;10.1;11.2", "coordinate=5.2;10.1",
            ":{line}: [sensor0] coordinate = 5.2;10.1: 2 values; expected 3 numbers x;y;z",
        ),
        (
            read_preprocess, f"{PY}/deepstream-preprocess-test/config_preprocess.txt",
            "roi-params-src-0=0;540;900;500;960;0;900;500;0;0;540;900;",
            "roi-params-src-0=0;540;900;500;960;0;900;500;0;0;540;",
            ":{line}: [group-0] roi-params-src-0 = 0;540;900;500;960;0;900;500;0;0;540;: "
            "11 values; expected left;top;width;height for each ROI (4 per ROI)",
        ),
        (
            read_preprocess, f"{PY}/deepstream-preprocess-test/config_preprocess.txt",
            "tensor-data-type=0", "tensor-data-type=9",
            ":{line}: [property] tensor-data-type = 9: invalid value; expected 0 (FP32), "
            "1 (UINT8), 2 (INT8), 3 (UINT32), 4 (INT32), 5 (FP16), 6 (UINT64) or 7 (INT64)",
        ),
    ],
)  # fmt: skip
def test_broken_copies_fail_with_precise_messages(
    tmp_path: Path, reader: Reader, name: str, old: str, new: str, message: str
) -> None:
    path = broken(tmp_path, name, old, new)
    lines = path.read_text().splitlines()
    # The error names the edited line, or for a removed key its group's header.
    mark = new.split("=")[0].split(":")[0] if new else "[property]"
    line = next(i for i, text in enumerate(lines, 1) if text.strip().startswith(mark))

    with pytest.raises(ConfigError) as info:
        reader(path)

    assert str(info.value) == f"{path}{message.format(line=line)}"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_analytics_stream_group_needs_a_labelled_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "a.txt",
        "[property]\nenable=1\nconfig-width=640\nconfig-height=480\n"
        "[direction-detection-stream-0]\nenable=1\nclass-id=0\n",
    )

    with pytest.raises(ConfigError) as info:
        read_analytics(path)

    assert str(info.value) == (
        f"{path}:5: no direction-<label> key; nvdsanalytics needs at least one in this group"
    )


def test_analytics_unknown_mode_falls_back_with_a_warning(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "a.txt",
        "[property]\nenable=1\nconfig-width=640\nconfig-height=480\n"
        "[line-crossing-stream-0]\nline-crossing-A=1;1;1;5;0;3;2;3\nmode=fast\n",
    )

    report = read_analytics(path)

    assert report.valid
    assert report.warnings == [
        f"{path}:7: [line-crossing-stream-0] mode: unknown mode 'fast' (loose, balanced or "
        "strict); DeepStream uses 'loose'"
    ]


def test_msgconv_disabled_groups_are_not_read(tmp_path: Path) -> None:
    path = write(tmp_path, "m.txt", "[sensor0]\nenable=0\nlocation=1;2\n[place1]\nenable=1\nid=7\n")

    report = read_msgconv(path)

    assert report.ignored == {
        "sensor0.enable": "group disabled (enable is not true)",
        "sensor0.location": "group disabled (enable is not true)",
    }
    assert report.honoured == ["place1.enable", "place1.id"]


def test_msgconv_group_numbers_are_unique(tmp_path: Path) -> None:
    path = write(tmp_path, "m.txt", "[place1]\nenable=1\n[place01]\nenable=1\n")

    with pytest.raises(ConfigError) as info:
        read_msgconv(path)

    assert str(info.value) == f"{path}:3: [place01] repeats place 1 of [place1]"


def test_tracker_yaml_errors_and_unknown_keys(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yml", "%YAML:1.0\nReID:\n  inferDims: [3, 256]\n")
    odd = write(
        tmp_path, "odd.yml", "%YAML:1.0\nBaseConfig:\n  minDetectorConfidence: 0.1\n  foo: 1\n"
    )

    with pytest.raises(ConfigError) as info:
        read_tracker(bad)
    report = read_tracker(odd)

    assert str(info.value) == (
        f"{bad}:3: [ReID] inferDims = …: 2 values; expected 3 positive integers, e.g. [3, 256, 128]"
    )
    assert (
        report.ignored["BaseConfig.foo"] == "not an NvMultiObjectTracker key documented by NVIDIA"
    )
    assert report.warnings == [
        f"{odd}:4: BaseConfig.foo: not an NvMultiObjectTracker key documented by NVIDIA"
    ]


def test_preprocess_requires_its_tensor_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "p.txt", "[property]\nenable=1\nprocessing-width=640\n")

    with pytest.raises(ConfigError) as info:
        read_preprocess(path)

    assert str(info.value) == (
        f"{path}:1: [property] processing-height: missing; nvdspreprocess requires it"
    )


def test_nvinferserver_fields_are_listed_as_dotted_paths(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "triton.txt",
        'infer_config {\n  unique_id: 1\n  backend {\n    outputs: [ {name: "a"}, {name: "b"} ]\n'
        '    triton { model_name: "m" version: -1 }\n  }\n}\ninput_control { interval: 0 }\n',
    )
    unbalanced = write(tmp_path, "bad.txt", "infer_config {\n  unique_id: 1\n")

    report = read_nvinferserver(path)

    assert list(report.ignored) == [
        "infer_config",
        "infer_config.unique_id",
        "infer_config.backend",
        "infer_config.backend.outputs",
        "infer_config.backend.outputs.name",
        "infer_config.backend.triton",
        "infer_config.backend.triton.model_name",
        "infer_config.backend.triton.version",
        "input_control",
        "input_control.interval",
    ]
    with pytest.raises(ConfigError, match="missing '}' at the end"):
        read_nvinferserver(unbalanced)
