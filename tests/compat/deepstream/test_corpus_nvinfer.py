"""Every real nvinfer config of the shared corpus loads, and its report accounts for every key.

nvinfer files are those with a ``[property]`` group (or a top-level ``property:`` mapping) that
names a model (``onnx-file``, ``model-engine-file``…); tracker, analytics, preprocess and
post-process files, which also have ``[property]``, are left to their own readers. None of the
corpus files is one nvinfer rejects (the invalid UNet of spec §10 is not in it), so each must load;
the rejection itself is tested in ``test_nvinfer.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from support.corpus import CORPUS, corpus_params, listed, needs_corpus
from visionflow.compat.deepstream.nvinfer import read_nvinfer

_MODEL_KEY = re.compile(
    r"^\s*(onnx-file|model-engine-file|tlt-encoded-model|model-file|uff-file|proto-file)\s*[=:]",
    re.M,
)
_PROPERTY = re.compile(r"^(\[property\]|property:)\s*$", re.M)


def is_nvinfer_file(path: Path) -> bool:
    if path.suffix not in (".txt", ".yml", ".yaml"):
        return False
    text = path.read_text()
    return bool(_PROPERTY.search(text) and _MODEL_KEY.search(text))


def keys_in(path: Path) -> set[str]:
    """``group.key`` of every key line, found without the readers under test."""
    text = path.read_text()
    if path.suffix in (".yml", ".yaml"):
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        assert isinstance(root, yaml.MappingNode)
        keys = set()
        for group, value in root.value:
            if isinstance(value, yaml.MappingNode):
                keys |= {f"{group.value}.{key.value}" for key, _ in value.value}
            elif not (isinstance(value, yaml.ScalarNode) and value.value in ("", "~", "null")):
                keys.add(group.value)
        return keys
    keys, group = set(), ""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            group = line.strip("[] \t")
        elif line and not line.startswith("#"):
            keys.add(f"{group}.{line.partition('=')[0].strip()}")
    return keys


FILES = corpus_params("corpus-nvinfer-files.txt", is_nvinfer_file)  # skipped without the corpus


@needs_corpus
def test_corpus_has_the_nvinfer_files_of_the_spec() -> None:
    paths = [param.values[0] for param in FILES]
    names = {p.name for p in paths}
    assert len(paths) >= 80
    # the shipped list, from which these tests are collected without the corpus, is current
    assert sorted(listed("corpus-nvinfer-files.txt")) == sorted(
        str(p.relative_to(CORPUS)) for p in paths
    )
    assert {
        "pgie_trafficcamnet_config.txt",
        "pgie_trafficcamnet_config.yml",
        "dstest2_sgie1_config.txt",
    } <= names


@pytest.mark.parametrize("path", FILES)
def test_corpus_file_loads_and_every_key_is_accounted_for(path: Path) -> None:
    config, report = read_nvinfer(path)
    honoured, ignored = set(report.honoured), set(report.ignored)
    assert not honoured & ignored
    assert honoured | ignored == keys_in(path)
    assert report.valid
    assert report.kind == "nvinfer"
    assert (
        config.onnx_file
        or config.model_engine_file
        or config.model_file
        or config.tlt_encoded_model
    )
