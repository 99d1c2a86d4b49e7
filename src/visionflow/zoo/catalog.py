"""The model zoo: pre-trained models that run offline, each with a model card and a ready config.

Two sources, neither downloads anything:

* **bundled** models ship inside visionflow (``visionflow/zoo/models/``);
* **package** models ship inside another PyPI package, found in the installed package — PP-OCR's
  text detector, direction classifier and recogniser inside ``rapidocr-onnxruntime``
  (``pip install 'visionflow[ocr]'``). Without the package the entry is listed as unavailable
  with the command that installs it.

An entry is either one model (its config is a visionflow inference YAML whose ``model: NAME``
key takes the weights — and for a recogniser the dictionary — from here) or a chain of entries
run as primary + secondary stages (``ppocr``: detector → direction classifier → recogniser).
Each has a model card, a YAML data file beside its config (``NAME.card.yml``; the bundled
detector's includes its training record ``shapes_det.yml``): task, inputs, labels, licence,
where the weights come from, measured accuracy and speed.

``visionflow models list`` / ``visionflow models show NAME`` print them; ``visionflow infer
--config NAME`` runs an entry, and ``model: NAME`` works in configs and pipeline stages.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from visionflow.errors import ConfigError, ModelNotFoundError

BUNDLED = "bundled"


@dataclass(frozen=True)
class ZooEntry:
    """One zoo entry.

    Attributes:
        name: the name used in ``model: NAME`` and on the command line.
        task: what it does (``detection``, ``text-detection``, ``text-direction``,
            ``text-recognition``, ``ocr``).
        summary: one line.
        source: ``bundled``, or the PyPI distribution the weights ship in.
        package: the import name of that distribution (None for bundled models).
        weights: the ONNX file, relative to ``visionflow/zoo/models`` (bundled) or to the
            installed package's folder; None for a chain.
        config: the ready config (chains: the first stage's) in ``visionflow/zoo/models``.
        card: the model card file in ``visionflow/zoo/models``.
        extra: the visionflow extra that installs the package.
        dictionary_key: ONNX metadata key holding the recogniser's dictionary, one character a
            line (the labels of a ``ctc`` parser), or None.
        stages: for a chain, the entries it runs, primary first.
    """

    name: str
    task: str
    summary: str
    source: str
    config: str
    card: str
    package: str | None = None
    weights: str | None = None
    extra: str | None = None
    dictionary_key: str | None = None
    stages: tuple[str, ...] = ()

    @property
    def install(self) -> str | None:
        """The pip command that makes a package entry available (None for bundled models)."""
        if self.source == BUNDLED:
            return None
        return (
            f"pip install 'visionflow[{self.extra}]'"
            if self.extra
            else f"pip install {self.source}"
        )

    @property
    def available(self) -> bool:
        """Whether its weights can be found (bundled, or the package is installed)."""
        if self.stages:
            return all(entry(stage).available for stage in self.stages)
        return self.package is None or importlib.util.find_spec(self.package) is not None

    def unavailable_reason(self) -> str | None:
        """Why it cannot run, with the command that fixes it; None when it can."""
        if self.available:
            return None
        return f"needs the package {self.source}, which is not installed: {self.install}"

    def weights_path(self) -> Path:
        """The ONNX file, where it lies on this machine.

        Raises:
            ModelNotFoundError: a chain (no weights of its own), the package is missing, or the
                file is not in it.
        """
        if self.weights is None:
            raise ModelNotFoundError(
                f"zoo entry '{self.name}' is a chain of {', '.join(self.stages)}; "
                "it has no weights of its own"
            )
        if self.package is None:
            path = Path(str(files("visionflow.zoo") / "models" / self.weights))
        else:
            reason = self.unavailable_reason()
            if reason is not None:
                raise ModelNotFoundError(f"zoo model '{self.name}' {reason}")
            spec = importlib.util.find_spec(self.package)
            origin = spec.origin if spec is not None else None
            if origin is None:
                raise ModelNotFoundError(f"zoo model '{self.name}': {self.package} has no files")
            path = Path(origin).parent / self.weights
        if not path.is_file():
            raise ModelNotFoundError(
                f"zoo model '{self.name}': {path} is missing from {self.source}"
            )
        return path

    def config_path(self) -> Path:
        """The ready config (a chain: its first stage's)."""
        return _data_file(self.config)

    def stage_configs(self) -> list[Path]:
        """The configs to run, primary first: the entry's own, or each stage's of a chain."""
        if not self.stages:
            return [self.config_path()]
        return [entry(stage).config_path() for stage in self.stages]

    def card_data(self) -> dict[str, Any]:
        """The model card as a mapping. A card with ``include: FILE`` (a file beside it, e.g.
        the training record the training script writes) gets that file's keys under
        ``included``, so figures kept there are shown without being copied."""
        data = _read_yaml(_data_file(self.card))
        if isinstance(data.get("include"), str):
            data["included"] = _read_yaml(_data_file(data.pop("include")))
        return data


_ENTRIES = (
    ZooEntry(
        name="shapes_det",
        task="detection",
        summary="Circles, squares and triangles in generated scenes (YOLOv8 layout); the demo's.",
        source=BUNDLED,
        weights="shapes_det.onnx",
        config="shapes_det.infer.yml",
        card="shapes_det.card.yml",
    ),
    ZooEntry(
        name="ppocr_det",
        task="text-detection",
        summary="PP-OCRv4 text detector (DB): rotated boxes of text lines, Chinese and Latin.",
        source="rapidocr-onnxruntime",
        package="rapidocr_onnxruntime",
        weights="models/ch_PP-OCRv4_det_infer.onnx",
        config="ppocr_det.infer.yml",
        card="ppocr_det.card.yml",
        extra="ocr",
    ),
    ZooEntry(
        name="ppocr_cls",
        task="text-direction",
        summary="PP-OCR v2.0 mobile text direction classifier: a text line upright (0) or "
        "upside down (180).",
        source="rapidocr-onnxruntime",
        package="rapidocr_onnxruntime",
        weights="models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
        config="ppocr_cls.infer.yml",
        card="ppocr_cls.card.yml",
        extra="ocr",
    ),
    ZooEntry(
        name="ppocr_rec",
        task="text-recognition",
        summary="PP-OCRv4 text recogniser (CTC, 6,623 characters: Chinese, Latin, digits, "
        "punctuation).",
        source="rapidocr-onnxruntime",
        package="rapidocr_onnxruntime",
        weights="models/ch_PP-OCRv4_rec_infer.onnx",
        config="ppocr_rec.infer.yml",
        card="ppocr_rec.card.yml",
        extra="ocr",
        dictionary_key="character",
    ),
    ZooEntry(
        name="ppocr",
        task="ocr",
        summary="PP-OCR as a pipeline: text detection → direction classifier → recognition "
        "(secondary), strings as object labels.",
        source="rapidocr-onnxruntime",
        package="rapidocr_onnxruntime",
        config="ppocr_det.infer.yml",
        card="ppocr.card.yml",
        extra="ocr",
        stages=("ppocr_det", "ppocr_cls", "ppocr_rec"),
    ),
)

CATALOG: dict[str, ZooEntry] = {e.name: e for e in _ENTRIES}
"""Every zoo entry by name."""


def entry(name: str) -> ZooEntry:
    """The zoo entry called ``name``.

    Raises:
        ModelNotFoundError: no such entry (the message lists them).
    """
    try:
        return CATALOG[name]
    except KeyError:
        raise ModelNotFoundError(
            f"no zoo model '{name}'; the zoo has: {', '.join(CATALOG)} (visionflow models list)"
        ) from None


def model_fields(name: str) -> dict[str, Any]:
    """The inference-config fields a ``model: NAME`` key supplies: ``onnx_file`` and, for a
    recogniser, ``labels`` (its dictionary, read from the model's ONNX metadata).

    Raises:
        ConfigError: unknown entry, a chain, or its package is not installed (the message
            names the pip command).
    """
    try:
        zoo = entry(name)
        if zoo.stages:
            raise ModelNotFoundError(
                f"zoo entry '{name}' is a chain of {', '.join(zoo.stages)}: run it with "
                f"'visionflow infer --config {name}', or give one stage per inference element"
            )
        weights = zoo.weights_path()
    except ModelNotFoundError as exc:
        raise ConfigError(str(exc), key="model", value=name) from None
    fields: dict[str, Any] = {"onnx_file": weights}
    if zoo.dictionary_key is not None:
        fields["labels"] = tuple(
            tuple(char.split(";")) for char in onnx_metadata_lines(weights, zoo.dictionary_key)
        )
    return fields


@lru_cache(maxsize=8)
def onnx_metadata_lines(path: Path, key: str) -> tuple[str, ...]:
    """The lines of the ONNX model's metadata entry ``key`` (e.g. PP-OCR's ``character``).

    Raises:
        ModelNotFoundError: the model has no such entry.
    """
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    for prop in model.metadata_props:
        if prop.key == key:
            return tuple(prop.value.splitlines())
    raise ModelNotFoundError(f"{path}: no metadata entry '{key}' (the recogniser's dictionary)")


def _read_yaml(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as stream:
        data = yaml.safe_load(stream)
    return data if isinstance(data, dict) else {}


def _data_file(name: str) -> Path:
    return Path(str(files("visionflow.zoo") / "models" / name))


def stage_configs(value: str) -> list[Path]:
    """What ``visionflow infer --config VALUE`` runs: an existing file, else the configs of the
    zoo entry called ``value`` (one per stage of a chain), else the path as given (so that a
    missing file is reported as such).

    Raises:
        ModelNotFoundError: ``value`` names a zoo entry whose package is not installed.
    """
    path = Path(value)
    if path.exists() or value not in CATALOG:
        return [path]
    zoo = CATALOG[value]
    reason = zoo.unavailable_reason()
    if reason is not None:
        raise ModelNotFoundError(f"zoo model '{value}' {reason}")
    return zoo.stage_configs()
