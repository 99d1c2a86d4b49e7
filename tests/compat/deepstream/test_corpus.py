"""Every file of the DeepStream corpus through ``validate_file``.

The corpus (``shared/corpus/deepstream``, see its SOURCES.txt) holds real configs from NVIDIA's
and the community's repositories. Each must come back as a report; files DeepStream itself would
reject must carry a precise error; every other file must be valid with every one of its keys —
found here with a small independent reader — accounted for as honoured or ignored.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from support.corpus import CORPUS, DATA, corpus_params, listed, needs_corpus
from visionflow.compat.deepstream.report import ConfigReport
from visionflow.validate import validate_file

FILES = corpus_params("corpus-files.txt")  # collected without the corpus too, then skipped

#: Corpus files DeepStream rejects, with the error visionflow must report. Spec §10 names one
#: such file (the UNet config with network-mode=100, #19 @b60f99a); this corpus snapshot does not
#: include it, so it is reproduced below from a corpus segmentation config.
INVALID: dict[str, str] = {}

_GROUP = re.compile(r"^\s*\[([^\]]+)\]\s*$")
_KEY = re.compile(r"^\s*([^#\s=\[][^=]*?)\s*=")
_PROTO_FIELD = re.compile(r"([A-Za-z_]\w*)\s*(?::|\{)")
_PROTO_NOISE = re.compile(r'"(?:[^"\\]|\\.)*"|#[^\n]*')


def _keys(path: Path, report: ConfigReport) -> set[str]:
    """The keys of the file as ``group.key`` (written independently of the readers)."""
    text = path.read_text(encoding="utf-8")
    if report.kind == "nvinferserver":
        return set(_PROTO_FIELD.findall(_PROTO_NOISE.sub("", text)))
    if report.kind == "labels":
        return set()
    if text.lstrip().startswith("%YAML") or path.suffix in (".yml", ".yaml"):
        data = yaml.safe_load(text.replace("%YAML:1.0", "", 1)) or {}
        keys = set()
        for group, body in data.items():
            if isinstance(body, dict):
                keys |= {f"{group}.{key}" for key in body}
            elif body is not None:
                keys.add(str(group))
        return keys
    keys, group = set(), None
    for line in text.splitlines():
        if header := _GROUP.match(line):
            group = header.group(1)
        elif (key := _KEY.match(line)) and group is not None:
            keys.add(f"{group}.{key.group(1)}")
    return keys


@pytest.mark.parametrize("path", FILES)
def test_corpus_file(path: Path) -> None:
    report = validate_file(path)

    assert isinstance(report, ConfigReport)
    assert report.kind != "unknown"
    name = str(path.relative_to(CORPUS))
    if name in INVALID:
        assert report.errors == [INVALID[name]]
        return
    assert report.errors == []
    reported = set(report.honoured) | set(report.ignored)
    if report.kind == "nvinferserver":  # fields are reported as dotted paths
        reported = {part for key in reported for part in key.split(".")}
    assert _keys(path, report) - reported == set()


def test_unet_with_network_mode_100_is_rejected(tmp_path: Path) -> None:
    """Spec §10 #19: tao_apps' UNet config at b60f99a has ``network-mode=100``."""
    source = DATA / (
        "NVIDIA-AI-IOT__deepstream_tao_apps/configs/nvinfer/citysemsegformer_tao/"
        "pgie_citysemsegformer_tao_config.txt"
    )
    copy = tmp_path / "pgie_unet_tao_config.txt"
    shutil.copy(source, copy)
    lines = copy.read_text().splitlines()
    line = next(i for i, text in enumerate(lines) if text.startswith("network-mode="))
    lines[line] = "network-mode=100"
    copy.write_text("\n".join(lines) + "\n")

    report = validate_file(copy)

    assert report.errors == [
        f"{copy}:{line + 1}: [property] network-mode = 100: invalid value; expected 0 (FP32), "
        "1 (INT8), 2 (FP16) or 3 (best)"
    ]


@needs_corpus
def test_the_shipped_list_of_corpus_files_is_current() -> None:
    """``tests/data/deepstream/corpus-files.txt`` names every corpus file (it is what the corpus
    tests are collected from without the corpus); update it when the corpus changes."""
    present = [param.id for param in FILES]  # every corpus file, found in the corpus
    assert sorted(listed("corpus-files.txt")) == sorted(present)
