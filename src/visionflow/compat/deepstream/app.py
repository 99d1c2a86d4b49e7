"""deepstream-app config files (INI, or YAML by suffix) → :class:`PipelineConfig` + report.

The file is read as ``deepstream_app_config_parser.c`` (INI) and
``deepstream_app_config_parser_yaml.cpp`` (YAML) read it, then mapped onto visionflow:

* ``[sourceN]`` (URI, MultiURI with ``num-sources`` and ``%d``, RTSP), ``[source-list]`` +
  ``[source-attr-all]``, or the YAML ``source: csv-file-path`` table → sources; ``file://``
  URIs are relative to the config's folder; ``[tests] file-loop`` loops file sources; cameras,
  audio and IPC sources are skipped with a notice.
* ``[streammux]`` → batching; ``[tiled-display]`` → tiler; ``[osd]`` → OSD.
* ``[primary-gie]``, ``[secondary-gieN]`` → inference stages. The nvinfer file is read with
  :func:`~visionflow.compat.deepstream.nvinfer.read_nvinfer`; the GIE's ``gie-unique-id``,
  ``batch-size``, ``interval``, ``operate-on-gie-id`` and ``operate-on-class-ids`` override it.
  As in deepstream-app, a secondary GIE is built only when its ``operate-on-gie-id`` chains to
  the primary GIE, and GIE ids must be distinct (an unset one counts as 0).
* ``[sinkN]``: fakesink and file sinks map directly; display (2), RTSP (4) and DRM (5) sinks
  become a video file next to the config, with a warning; message sinks (6) become broker sinks
  (:mod:`visionflow.brokers.deepstream`), with ``[message-converter]`` for ``disable-msgconv``.
* ``[tracker]`` → the tracker, configured by its ``ll-config-file``
  (:func:`~visionflow.compat.deepstream.tracker.read_tracker`).
* ``[nvds-analytics]`` → the analytics element, configured by its ``config-file``
  (:func:`~visionflow.compat.deepstream.analytics.read_analytics`).
* Preprocess, message and other groups are validated and reported.

GKeyFile rules apply: a source, GIE or sink group whose ``enable`` is missing, 0 or not an
integer is skipped. Every key ends in the report as honoured or ignored (with the reason).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from visionflow.compat.deepstream import app_keys as K
from visionflow.compat.deepstream.analytics import read_analytics
from visionflow.compat.deepstream.detect import detect_kind, unrecognised
from visionflow.compat.deepstream.gkeyfile import decimal, strtol
from visionflow.compat.deepstream.keys import (
    CsvDocument,
    Document,
    IniDocument,
    Kind,
    Spec,
    Table,
    YamlDocument,
    check_group,
    describe,
    ignore_group,
    load_document,
    numbered,
    read_group,
    record_group,
    resolve,
)
from visionflow.compat.deepstream.msgconv import read_msgbroker, read_msgconv
from visionflow.compat.deepstream.nvinfer import read_nvinfer
from visionflow.compat.deepstream.preprocess import read_preprocess
from visionflow.compat.deepstream.report import ConfigReport
from visionflow.compat.deepstream.tracker import read_tracker
from visionflow.compat.deepstream.unsupported import read_nvinferserver
from visionflow.config.pipeline import (
    AnalyticsStageConfig,
    InferStageConfig,
    OSDConfig,
    PipelineConfig,
    SinkConfig,
    SourceConfig,
    StreamMuxConfig,
    TilerConfig,
    TrackerStageConfig,
)
from visionflow.errors import ConfigError
from visionflow.infer.config import InferConfig, ProcessMode
from visionflow.record.config import SmartRecordConfig

KIND = "deepstream-app"
log = logging.getLogger(__name__)
Model = TypeVar("Model", bound=BaseModel)

MAX_SOURCES = 1024
MAX_SECONDARY_GIES = 16

#: The GIE keys visionflow applies over the nvinfer file (the nvinfer key has the same name).
OVERRIDES = ("gie-unique-id", "batch-size", "interval", "operate-on-gie-id", "operate-on-class-ids")
_STAGE_FIELDS = {key.replace("-", "_"): key for key in OVERRIDES}

#: Groups deepstream-app's YAML reader handles (it skips the others silently) …
_YAML_GROUPS = frozenset(
    {"application", "source", "streammux", "osd", "segvisual", "pre-process", "primary-gie",
     "tracker", "tiled-display", "img-save", "nvds-analytics", "ds-example",
     "message-converter", "tests"}
)  # fmt: skip
#: … and the prefixes of its numbered groups.
_YAML_NUMBERED = ("secondary-gie", "sink", "message-consumer")
#: Groups of K.NOT_RUN matched by prefix (deepstream-app numbers them).
_NUMBERED = ("secondary-pre-process", "message-consumer", "dewarper")
_NESTED: dict[str, tuple[str, Callable[[Path], ConfigReport] | None]] = {
    "nvds-analytics": ("config-file", read_analytics),
    "pre-process": ("config-file", read_preprocess),
    "secondary-pre-process": ("config-file", read_preprocess),
    "message-converter": ("msg-conv-config", read_msgconv),
    "message-consumer": ("config-file", read_msgbroker),
    "dewarper": ("config-file", None),
}
_NOT_BUILT_SINK = {
    2: "on-screen display",
    4: "RTSP streaming",
    5: "DRM overlay",
}
_SINGLE: dict[str, Table] = {
    "streammux": K.STREAMMUX,
    "osd": K.OSD,
    "tiled-display": K.TILED_DISPLAY,
}
_CODECS = {1: "h264", 2: "h265", 3: "mpeg4"}
_FAKE_SINK = SinkConfig.model_validate({"type": "fake"})
_CONTAINERS = {1: ".mp4", 2: ".mkv"}
_PRINTF = re.compile(r"%([%d])")


def read_deepstream_app(path: str | os.PathLike[str]) -> tuple[PipelineConfig, ConfigReport]:
    """Read a deepstream-app config into a runnable pipeline; the report's warnings (what is
    ignored or replaced, e.g. a display sink written to a file) are also logged.

    Raises:
        ConfigError: a value DeepStream rejects (naming file, line, group, key, value and what
            is allowed), or what stops the run: a missing nested config or CSV file, an
            unsupported inference plugin, no source visionflow can read.
    """
    kind = detect_kind(path)
    if kind == "unknown":
        raise unrecognised(path)
    if kind != KIND:
        hint = (
            "; run a model config with 'visionflow infer -c FILE -i INPUT'"
            if kind in ("nvinfer", "visionflow-infer")
            else ""
        )
        raise ConfigError(
            f"this is {'an' if kind.startswith('nv') else 'a'} {kind} config, not a "
            f"deepstream-app config or a visionflow pipeline{hint}",
            file=os.fspath(path),
            line=1,
            allowed="a deepstream-app config ([source0], [primary-gie], [sink0] …) or a "
            "visionflow pipeline YAML (sources:, infer:, sinks:)",
        )
    config, report = _AppReader(Path(path), strict=True).read()
    if config is None:  # strict mode raises before this
        raise ConfigError("no pipeline could be built", file=report.file)
    for warning in report.warnings:
        log.warning("%s", warning)
    return config, report


def check_deepstream_app(path: str | os.PathLike[str]) -> ConfigReport:
    """Validate a deepstream-app config as ``visionflow validate`` does: like
    :func:`read_deepstream_app`, but missing nested files (models, nvinfer configs, CSV source
    tables) and unsupported plugins are warnings, not errors.

    Raises:
        ConfigError: a value DeepStream rejects.
    """
    return _AppReader(Path(path), strict=False).read()[1]


def model_warnings(config: InferConfig, where: str) -> list[str]:
    """Warnings about the model file an nvinfer config makes visionflow load."""
    engine = config.model_engine_file
    model = config.onnx_file or (engine if engine and engine.suffix in (".onnx", ".ort") else None)
    if model is None and config.model_file is not None:
        # `infer` imports model-file (+ proto-file for Caffe) to ONNX itself on first use
        parts = [config.model_file] + ([config.proto_file] if config.proto_file else [])
        missing = [f"{where}: model file {p} not found" for p in parts if not os.path.exists(p)]
        if missing or config.model_file.suffix.lower() == ".onnx":
            return missing
        return [
            f"{where}: model-file {config.model_file} is not ONNX; visionflow converts it to "
            "ONNX on first use (cached; 'visionflow convert' does it ahead of time)"
        ]
    if model is None:
        return [
            f"{where}: no ONNX model (onnx-file); visionflow runs ONNX models — convert the "
            "model with 'visionflow convert'"
        ]
    return [] if os.path.isfile(model) else [f"{where}: model file {model} not found"]


@dataclass
class _Gie:
    """A parsed GIE group: ``table`` is GIE plus keys to skip; ``build`` is why it is not
    built (None when it is)."""

    group: str
    values: dict[str, Any]
    table: Table
    build: str | None

    @property
    def app_id(self) -> int:
        return int(self.values.get("gie-unique-id", 0))

    @property
    def operate_on(self) -> int:
        return int(self.values.get("operate-on-gie-id", 0))


@dataclass
class _Source:
    uri: str
    is_file: bool
    timeout: float | None = None  # rtsp-reconnect-interval-sec (None: visionflow's default)
    reconnect_attempts: int = 0  # deepstream-app reconnects type=4 (RTSP) sources only
    smart_record: SmartRecordConfig | None = None


class _AppReader:
    def __init__(self, path: Path, strict: bool) -> None:
        self.path = path
        self.strict = strict
        self.doc = load_document(path)
        self.yaml = isinstance(self.doc, YamlDocument)
        self.report = ConfigReport(self.doc.file, KIND)
        self.values: dict[str, dict[str, Any]] = {}  # single groups: streammux, osd …
        self.sources: list[_Source] = []
        self.camera_ids: dict[int, str] = {}
        self.listed: list[tuple[str, dict[str, Any]]] | None = None  # [source-list] entries
        self.primary: _Gie | None = None
        self.secondaries: list[_Gie] = []
        self.sinks: list[tuple[str, dict[str, Any]]] = []
        self.tracker: TrackerStageConfig | None = None
        self.analytics: AnalyticsStageConfig | None = None

    # --- driver ---------------------------------------------------------------------------------

    def read(self) -> tuple[PipelineConfig | None, ConfigReport]:
        done = () if self.yaml else self._source_list()
        for group in self.doc.groups():
            if group not in done:
                self._group(group)
        if isinstance(self.doc, YamlDocument):
            for entry in self.doc.stray():
                self.report.ignore(entry.key, "not a group of keys")
        if self.listed is not None:
            line = self.doc.group_line("source-list")
            for name, values in self.listed:
                self._add_source(self.doc, name, values, None, line)
        stages = self._inference()
        return self._pipeline(stages), self.report

    def _group(self, group: str) -> None:
        if self.yaml and group not in _YAML_GROUPS and not group.startswith(_YAML_NUMBERED):
            ignore_group(self.doc, group, self.report, "deepstream-app's YAML reader skips it")
        elif group in ("application", "tests"):
            table = K.APPLICATION if group == "application" else K.TESTS
            self.values[group] = check_group(self.doc, group, table, self.report)
        elif group in ("streammux", "osd", "tiled-display"):
            self.values[group] = read_group(self.doc, group, _SINGLE[group])
        elif group == "tracker":
            self._tracker(group)
        elif group == "nvds-analytics":
            self._analytics(group)
        elif group == "primary-gie" or group.startswith("secondary-gie"):
            self._gie(group)
        elif group.startswith("sink"):
            self._sink(group)
        elif group == "message-converter":
            self._message_converter(group)
        elif self.yaml and group == "source":
            self._csv_sources(group)
        elif group.startswith("source"):
            self._source_group(group)
        elif (kind := _not_run_kind(group)) is not None:
            self._not_run(group, kind)
        else:
            ignore_group(self.doc, group, self.report, f"deepstream-app does not read [{group}]")

    def _blocker(self, message: str, group: str | None = None, key: str | None = None) -> None:
        """What stops a run but does not make the file invalid (a missing nested file …);
        ``group`` and ``key`` place it (the key's last line, else the group's header)."""
        line = self._line(group, key)
        if self.strict:
            raise ConfigError(message, file=self.doc.file, line=line)
        where = self.doc.file if line is None else f"{self.doc.file}:{line}"
        self.report.warnings.append(f"{where}: {message}")

    def _line(self, group: str | None, key: str | None) -> int | None:
        if group is None or group not in self.doc.groups():
            return None
        entries = [e for e in self.doc.entries(group) if e.key == key]
        return entries[-1].line if entries else self.doc.group_line(group)

    def _enablement(self, doc: Document, group: str) -> tuple[bool, str | None]:
        """(whether DeepStream parses the group's keys, why it is not built or None)."""
        entries = [e for e in doc.entries(group) if e.key == "enable"]
        if not entries:
            reason = "not built: enable is missing (deepstream-app builds it only with enable=1)"
            return not isinstance(doc, IniDocument), reason
        if isinstance(doc, IniDocument):
            try:
                enabled = doc.read(entries[-1], Kind.INT)
            except ConfigError:
                self.report.warnings.append(
                    doc.warning(
                        entries[-1], "not an integer; deepstream-app then skips the group silently"
                    )
                )
                return False, f"group disabled: enable={doc.raw(entries[-1])} is not an integer"
        else:
            enabled = doc.read(entries[-1], Kind.INT)
        if enabled:
            return True, None
        return isinstance(doc, CsvDocument), "group disabled (enable=0)"

    # --- sources --------------------------------------------------------------------------------

    def _source_list(self) -> tuple[str, ...]:
        """``[source-list]`` + ``[source-attr-all]``: read before every other group."""
        groups = self.doc.groups()
        if "source-list" not in groups:
            if "source-attr-all" in groups:
                check_group(
                    self.doc,
                    "source-attr-all",
                    K.SOURCE,
                    self.report,
                    ignore="unused without a [source-list] group",
                )
            return ("source-attr-all",)
        listing = check_group(self.doc, "source-list", K.SOURCE_LIST, self.report)
        self.values["source-list"] = listing
        uris: list[str] | None = listing.get("list")
        count = listing.get("num-source-bins", len(uris or ()))
        if uris is not None and "num-source-bins" in listing:
            for key in ("list", "sensor-id-list", "sensor-name-list"):
                if len(listing.get(key, ())) != count:
                    raise self._key_error(
                        "source-list",
                        key,
                        f"{len(listing.get(key, ()))} entries for num-source-bins={count}",
                        f"{count} entries",
                    )
        if "source-attr-all" not in groups:
            raise ConfigError(
                "[source-list] needs a [source-attr-all] group",
                file=self.doc.file,
                line=self.doc.group_line("source-list"),
            )
        attributes = read_group(self.doc, "source-attr-all", K.SOURCE)
        replaced = "replaced by each [source-list] entry"
        record_group(
            self.doc,
            "source-attr-all",
            K.SOURCE,
            self.report,
            reasons={"uri": replaced, "type": replaced},
        )
        self.listed = [
            (f"source-list entry {i}", {**attributes, **self._listed_uri(uris[i] if uris else "")})
            for i in range(count)
        ]
        return "source-list", "source-attr-all"

    def _listed_uri(self, uri: str) -> dict[str, Any]:
        if uri.startswith("file://"):
            return {"type": 2, "uri": uri}
        if uri.startswith("rtsp://"):
            return {"type": 4, "uri": uri}
        node = uri[4:]
        if uri[:4] in ("usb:", "csi:") and node.isascii() and node.isdigit():
            return {
                "type": 1 if uri.startswith("usb") else 5,
                "camera-v4l2-dev-node": decimal(node),
            }
        if not uri:
            return {}
        raise self._key_error(
            "source-list",
            "list",
            f"entry {uri!r} is not a source",
            "file://…, rtsp://…, usb:<dev node> or csi:<sensor id>",
        )

    def _source_group(self, group: str) -> None:
        index = numbered(group, "source")
        if index is None:
            raise ConfigError(
                f"[{group}] is not a source group",
                file=self.doc.file,
                line=self.doc.group_line(group),
                allowed="[source<N>], [source-list] or [source-attr-all]",
            )
        parse, reason = self._enablement(self.doc, group)
        if not parse:
            ignore_group(self.doc, group, self.report, reason or "")
            return
        if index in self.camera_ids:
            raise ConfigError(
                f"[{group}] repeats source {index} of [{self.camera_ids[index]}]",
                file=self.doc.file,
                line=self.doc.group_line(group),
            )
        self.camera_ids[index] = group
        values = read_group(self.doc, group, K.SOURCE)
        if self.listed is not None:
            if index >= len(self.listed):
                raise ConfigError(
                    f"[{group}] has no entry in [source-list] ({len(self.listed)} entries)",
                    file=self.doc.file,
                    line=self.doc.group_line(group),
                )
            name, listed = self.listed[index]
            self.listed[index] = (name, {**listed, **values})
            record_group(self.doc, group, K.SOURCE, self.report)
        elif reason is None:
            self._add_source(self.doc, group, values, self.report, self.doc.group_line(group))
        else:
            record_group(self.doc, group, K.SOURCE, self.report, ignore=reason)

    def _csv_sources(self, group: str) -> None:
        table = {"csv-file-path": Spec(Kind.STRING)}
        values = read_group(self.doc, group, table)
        record_group(
            self.doc,
            group,
            table,
            self.report,
            unknown="not read: deepstream-app's YAML reader takes csv-file-path only",
        )
        if "csv-file-path" not in values:
            raise ConfigError(
                "source: needs csv-file-path (a CSV table of sources)",
                file=self.doc.file,
                line=self.doc.group_line(group),
            )
        path = resolve(values["csv-file-path"], self.doc.file)
        if not os.path.isfile(path):
            self._blocker(
                f"source: csv-file-path: CSV source table {path} not found", group, "csv-file-path"
            )
            return
        csv = CsvDocument(path)
        nested = ConfigReport(csv.file, KIND)
        for row in csv.groups():
            _parse, reason = self._enablement(csv, row)
            values = read_group(csv, row, K.SOURCE)
            if reason is None:
                self._add_source(csv, row, values, nested, csv.group_line(row))
            else:
                record_group(csv, row, K.SOURCE, nested, ignore=reason)
        self.report.merge(nested, prefix=f"{group}/")

    def _add_source(
        self,
        doc: Document,
        group: str,
        values: dict[str, Any],
        report: ConfigReport | None,
        line: int,
    ) -> None:
        """Turn a source group's values into sources; ``report`` None: already recorded;
        ``line`` locates errors."""
        kind = values.get("type")
        if kind is None:
            raise ConfigError(
                f"[{group}] has no type",
                file=doc.file,
                line=line,
                allowed=describe(K.SOURCE_TYPES),
            )
        if kind not in (2, 3, 4):
            notice = _source_notice(kind, values)
            if report is not None:
                record_group(doc, group, K.SOURCE, report, ignore=notice)
            self.report.warnings.append(f"{doc.file}: [{group}] {notice}; the source is skipped")
            return
        if kind == 3 and self.listed is not None:
            raise ConfigError(
                f"[{group}] type=3 (MultiURI) cannot be used with [source-list]",
                file=doc.file,
                line=line,
            )
        uri = values.get("uri")
        if not uri:
            raise ConfigError(
                f"[{group}] type={kind} ({K.SOURCE_TYPES[kind]}) needs a uri",
                file=doc.file,
                line=line,
            )
        uri = "file://" + str(resolve(uri[7:], doc.file)) if uri.startswith("file://") else uri
        uris = (
            [_printf(uri, j) for j in range(max(1, values.get("num-sources", 1)))]
            if (kind == 3)
            else [uri]
        )
        if len(self.sources) + len(uris) > MAX_SOURCES:
            raise ConfigError(f"more than {MAX_SOURCES} sources", file=doc.file)
        # deepstream-app watches type=4 (RTSP) sources only: no data for
        # rtsp-reconnect-interval-sec seconds (> 0) → reconnect, rtsp-reconnect-attempts times
        # in a row (-1: forever; any other negative value: never)
        interval = values.get("rtsp-reconnect-interval-sec", 0) if kind == 4 else 0
        attempts = values.get("rtsp-reconnect-attempts", -1) if interval > 0 else 0
        timeout = float(interval) if interval > 0 else None
        attempts = attempts if attempts >= -1 else 0
        record = _smart_record(values)
        self.sources += [
            _Source(u, "://" not in u or u.startswith("file://"), timeout, attempts, record)
            for u in uris
        ]
        if report is not None:
            only_multi = "applies to type=3 (MultiURI) only"
            reasons = {"num-sources": only_multi} if kind != 3 else {}
            if record is None:
                reasons |= {k: K.SMART_RECORD_OFF for k in K.SOURCE if k.startswith("smart-rec")}
            elif values["smart-record"] == 1:
                reasons["smart-record"] = (
                    "1: recordings start from visionflow's API, probes and analytics events; "
                    "start/stop messages from the cloud (msgbroker) are not received"
                )
            if record is not None and record.interval == 0 and "smart-rec-interval" in values:
                reasons["smart-rec-interval"] = "used with smart-record=2 only"
            if kind != 4:
                for key in ("rtsp-reconnect-interval-sec", "rtsp-reconnect-attempts"):
                    reasons[key] = "deepstream-app reconnects type=4 (RTSP) sources only"
            elif interval <= 0:
                reasons["rtsp-reconnect-attempts"] = (
                    "no reconnection: rtsp-reconnect-interval-sec is not > 0"
                )
            record_group(doc, group, K.SOURCE, report, reasons=reasons)

    # --- inference ------------------------------------------------------------------------------

    def _gie(self, group: str) -> None:
        parse, reason = self._enablement(self.doc, group)
        if not parse:
            ignore_group(self.doc, group, self.report, reason or "")
            return
        primary = group == "primary-gie"
        built = [g for g in self.secondaries if g.build is None]
        if not primary and reason is None and len(built) == MAX_SECONDARY_GIES:
            raise ConfigError(
                f"more than {MAX_SECONDARY_GIES} secondary GIEs",
                file=self.doc.file,
                line=self.doc.group_line(group),
            )
        table = dict(K.GIE)
        for entry in self.doc.entries(group):
            colour = next(
                (p for p in ("bbox-border-color", "bbox-bg-color") if entry.key.startswith(p)), None
            )
            suffix = entry.key[len(colour) :] if colour else ""
            if colour and suffix and strtol(suffix)[1] == 0:
                if self.yaml:
                    raise self.doc.error(entry, f"no class id after {colour}", f"{colour}<N>")
                table[entry.key] = Spec(Kind.STRING, ignore=f"skipped: no class id after {colour}")
                self.report.warnings.append(
                    self.doc.warning(entry, f"deepstream-app skips it (expected {colour}<N>)")
                )
        values = read_group(self.doc, group, table)
        if "config-file" not in values:
            raise ConfigError(
                "missing; deepstream-app requires it in every GIE group",
                file=self.doc.file,
                line=self.doc.group_line(group),
                group=group,
                key="config-file",
            )
        if "labelfile-path" in values and reason is None:
            labels = resolve(values["labelfile-path"], self.doc.file)
            if not os.path.isfile(labels):
                self._blocker(
                    f"[{group}] labelfile-path: {labels} not found (deepstream-app "
                    "fails when it cannot open it)",
                    group,
                    "labelfile-path",
                )
        gie = _Gie(group, values, table, reason)
        if primary:
            self.primary = gie
        else:
            self.secondaries.append(gie)

    def _inference(self) -> list[InferStageConfig]:
        primary_id = self.primary.app_id if self.primary is not None else 0
        active = [g for g in self.secondaries if g.build is None]
        for i, gie in enumerate(active):
            clashes = [g for g in active[:i] if g.app_id == gie.app_id]
            if gie.app_id == primary_id or clashes:
                other = clashes[0].group if clashes else "primary-gie"
                raise self._key_error(
                    gie.group,
                    "gie-unique-id",
                    f"id {gie.app_id} is also [{other}]'s (an unset gie-unique-id counts as 0)",
                    "a gie-unique-id of its own for every enabled GIE",
                )
        depth = _chain(primary_id, active)
        stages = []
        if self.primary is not None:
            stages.append(self._stage(self.primary, None))
        for gie in self.secondaries:
            if gie.build is None and gie.group not in depth:
                gie.build = (
                    f"not built: operate-on-gie-id={gie.operate_on} leads neither to the primary "
                    f"GIE (gie-unique-id {primary_id}) nor to a built secondary GIE"
                )
                self.report.warnings.append(f"{self.doc.file}: [{gie.group}] {gie.build}")
        ordered = sorted(
            (g for g in self.secondaries if g.group in depth), key=lambda g: depth[g.group]
        )
        for gie in [g for g in self.secondaries if g.group not in depth]:
            record_group(self.doc, gie.group, gie.table, self.report, ignore=gie.build)
        stages += [self._stage(g, depth[g.group]) for g in ordered]
        return [s for s in stages if s is not None]

    def _stage(self, gie: _Gie, depth: int | None) -> InferStageConfig | None:
        if gie.build is not None:
            record_group(self.doc, gie.group, gie.table, self.report, ignore=gie.build)
            return None
        record_group(self.doc, gie.group, gie.table, self.report)
        path = resolve(gie.values["config-file"], self.doc.file)
        plugin = gie.values.get("plugin-type", 0)
        if plugin != 0:
            name = {1: "nvinferserver (Triton)", 2: "nvdsvideotemplate"}[plugin]
            if plugin == 1 and os.path.isfile(path):
                self.report.merge(read_nvinferserver(path), prefix=f"{gie.group}/")
            self._blocker(
                f"[{gie.group}] plugin-type={plugin}: {name} is not supported; use an "
                "nvinfer config (plugin-type=0) with an ONNX model",
                gie.group,
                "plugin-type",
            )
            return None
        if not os.path.isfile(path):
            self._blocker(f"[{gie.group}] config-file: {path} not found", gie.group, "config-file")
            return None
        config, nested = read_nvinfer(path)
        prefix = f"{gie.group}/"
        self.report.merge(nested, prefix=prefix)
        for key in OVERRIDES:
            name = f"{prefix}property.{key}"
            if gie.values.get(key) not in (None, []) and name in self.report.honoured:
                self.report.honoured.remove(name)
                self.report.ignore(name, f"overridden by [{gie.group}] {key}")
        self.report.warnings += model_warnings(config, f"[{gie.group}] {path}")
        fields: dict[str, Any] = {
            field: gie.values[key]
            for field, key in _STAGE_FIELDS.items()
            if gie.values.get(key) not in (None, [])
        }
        if depth is not None and config.process_mode is not ProcessMode.SECONDARY:
            # deepstream-app sets process-mode=2 on every secondary GIE, whatever its file says
            fields["process_mode"] = "secondary"
            name = f"{prefix}property.process-mode"
            if name in self.report.honoured:
                self.report.honoured.remove(name)
                self.report.ignore(name, f"deepstream-app runs [{gie.group}] in secondary mode")
        if self.listed is not None:
            sgie_batch = self.values.get("source-list", {}).get("sgie-batch-size", 0)
            if depth is None:
                fields["batch_size"] = max(1, len(self.sources))
            elif sgie_batch:
                fields["batch_size"] = sgie_batch
        return self._model(InferStageConfig, gie.group, config=path, name=gie.group, **fields)

    # --- tracker, sinks and accepted-but-not-run groups -------------------------------------------

    def _tracker(self, group: str) -> None:
        """``[tracker]``: the low-level file's honoured keys make the tracker (the first file
        of a ``;`` list: sub-batches are not available, every stream uses it)."""
        table = {**K.TRACKER_KEYS, **K.LEGACY_TRACKER_KEYS}
        values = read_group(self.doc, group, table)
        enabled = values.get("enable", 0) != 0
        legacy = dict.fromkeys(K.LEGACY_TRACKER_KEYS, K.LEGACY)
        reasons = {**legacy, **K.TRACKER_NOT_HONOURED}
        files = [item for item in values.get("ll-config-file", "").split(";") if item]
        library = values.get("ll-lib-file", K.TRACKER_LIBRARY)
        if os.path.basename(library) != os.path.basename(K.TRACKER_LIBRARY):
            reasons["ll-lib-file"] = (
                f"only NvMultiObjectTracker ({os.path.basename(K.TRACKER_LIBRARY)}) is "
                "reproduced; it tracks instead"
            )
            warning = f"[{group}] ll-lib-file: {library}: {reasons['ll-lib-file']}"
            self.report.warnings.append(f"{self.doc.file}: {warning}")
        if len(files) > 1:
            reasons["ll-config-file"] = (
                f"sub-batches are not available: every stream uses the first file, {files[0]}"
            )
        ignore = None if enabled else "tracker disabled (enable=0 or missing)"
        record_group(self.doc, group, table, self.report, ignore=ignore, reasons=reasons)
        self.report.warnings += [
            self.doc.warning(e, K.LEGACY) for e in self.doc.entries(group) if e.key in legacy
        ]
        if not enabled:
            return
        if not files:  # NvMultiObjectTracker's own defaults: the IOU preset
            self.tracker = TrackerStageConfig(algorithm="iou")
            return
        path = resolve(files[0], self.doc.file)
        if not os.path.isfile(path):
            self._blocker(f"ll-config-file: {path} not found", group, "ll-config-file")
            return
        for item in files:
            self._nested(group, "ll-config-file", resolve(item, self.doc.file), read_tracker)
        self.tracker = TrackerStageConfig(config=path)

    def _analytics(self, group: str) -> None:
        """``[nvds-analytics]``: the analytics element, configured by its ``config-file``."""
        values = read_group(self.doc, group, K.NVDS_ANALYTICS)
        enabled = values.get("enable", 0) != 0
        ignore = None if enabled else "group disabled (enable=0 or missing)"
        record_group(self.doc, group, K.NVDS_ANALYTICS, self.report, ignore=ignore)
        if not enabled:
            return
        if "config-file" not in values:
            self._blocker("config-file: missing; nvdsanalytics needs one", group)
            return
        path = resolve(values["config-file"], self.doc.file)
        if not os.path.isfile(path):
            self._blocker(f"config-file: {path} not found", group, "config-file")
            return
        self._nested(group, "config-file", path, read_analytics)
        self.analytics = AnalyticsStageConfig(config=path)

    def _nested(
        self, group: str, key: str, path: Path, reader: Callable[[Path], ConfigReport] | None
    ) -> None:
        """Check a config file named by an accepted-but-not-run group, when it exists."""
        if not os.path.isfile(path):
            self.report.warnings.append(f"{self.doc.file}: [{group}] {key}: {path} not found")
        elif reader is not None:
            self.report.merge(reader(path), prefix=f"{group}/")

    def _not_run(self, group: str, kind: str) -> None:
        table, reason = K.NOT_RUN[kind]
        if kind == "dewarper" and numbered(group, kind) is None:
            raise ConfigError(
                f"[{group}] is not in the form [{kind}<N>]",
                file=self.doc.file,
                line=self.doc.group_line(group),
            )
        values = read_group(self.doc, group, table)
        enabled = values.get("enable", 0) != 0
        ignore = reason if enabled else "group disabled (enable=0 or missing)"
        record_group(self.doc, group, table, self.report, ignore=ignore)
        if not enabled:
            return
        self.report.warnings.append(f"{self.doc.file}: [{group}] {reason}")
        key, reader = _NESTED.get(kind, ("", None))
        if key in values:
            self._nested(group, key, resolve(values[key], self.doc.file), reader)

    def _sink(self, group: str) -> None:
        parse, reason = self._enablement(self.doc, group)
        if not parse:
            ignore_group(self.doc, group, self.report, reason or "")
            return
        values = read_group(self.doc, group, K.SINK)
        if reason is not None:
            record_group(self.doc, group, K.SINK, self.report, ignore=reason)
            return
        if "type" not in values:
            raise ConfigError(
                "missing; deepstream-app needs the sink type",
                file=self.doc.file,
                line=self.doc.group_line(group),
                group=group,
                key="type",
                allowed=describe(K.SINK_TYPES),
            )
        if values["type"] == 6:
            for key, reader in (
                ("msg-conv-config", read_msgconv),
                ("msg-broker-config", read_msgbroker),
            ):
                if key in values:
                    self._nested(group, key, resolve(values[key], self.doc.file), reader)
        self.sinks.append((group, values))

    def _output(self, group: str, values: dict[str, Any], tiled: int) -> SinkConfig | None:
        """The visionflow sink for a built ``[sinkN]`` (None for a message sink), recorded."""
        kind = values["type"]
        reasons: dict[str, str] = {}
        if kind == 6:
            return self._broker(group, values)
        source_id: int | None = values.get("source-id", 0)
        demux = tiled == 2 and values.get("link-to-demux", 0) != 0
        if tiled:
            source_id = None
            reasons["source-id"] = "the sink receives the tiled picture"
        if tiled != 2:
            reasons["link-to-demux"] = "applies with [tiled-display] enable=2 only"
        elif demux:
            reasons["link-to-demux"] = "parallel demux is not available; the tiled picture is sent"
        if kind == 1:
            for key in ("output-file", "codec", "container", "bitrate", "source-id"):
                reasons[key] = "fakesink (type=1) discards frames"
            record_group(self.doc, group, K.SINK, self.report, reasons=reasons)
            return _FAKE_SINK
        output: str = values.get("output-file", "")
        if kind == 3 and not output:
            raise ConfigError(
                "missing; a file sink (type=3) needs it",
                file=self.doc.file,
                line=self.doc.group_line(group),
                group=group,
                key="output-file",
            )
        if kind in _NOT_BUILT_SINK:
            output = str(self.path.parent / f"{self.path.stem}-{group}.mp4")
            reasons["output-file"] = reasons["container"] = f"type={kind} writes {output}"
            self.report.warnings.append(
                f"{self.doc.file}: [{group}] type={kind} ({_NOT_BUILT_SINK[kind]}) is not "
                f"available in visionflow; the video is written to {output} instead"
            )
        container = values.get("container")
        suffix = Path(output).suffix.lower()
        if kind == 3 and container is not None and suffix != _CONTAINERS[container]:
            reasons["container"] = f"visionflow picks the container from the file suffix ({suffix})"
        record_group(self.doc, group, K.SINK, self.report, reasons=reasons)
        return self._model(
            SinkConfig,
            group,
            type="video",
            path=Path(output),
            codec=_CODECS[values.get("codec", 1)],
            bitrate=values.get("bitrate") or None,
            source_id=source_id,
        )

    def _broker(self, group: str, values: dict[str, Any]) -> SinkConfig | None:
        """``type=6``: nvmsgconv + nvmsgbroker → a broker sink (visionflow.brokers.deepstream)."""
        from visionflow.brokers.deepstream import broker_sink

        converter = self.values.get("message-converter")
        if converter is not None and not converter.get("enable", 0):
            converter = None
        try:
            broker, messages, reasons, adapter = broker_sink(values, converter, self.doc.file)
        except ConfigError as exc:
            if exc.key in ("msg-conv-config", "msg-broker-config") and "not found" in exc.reason:
                self._blocker(f"{exc.key}: {exc.reason}", group, exc.key)  # as other nested files
                record_group(self.doc, group, K.SINK, self.report, ignore=exc.reason)
                return None
            raise self._key_error(group, exc.key or "", exc.reason, exc.allowed) from None
        honoured = {k: Spec(v.kind, v.check) for k, v in K.SINK.items()}  # type 6 reads them
        record_group(self.doc, group, honoured, self.report, reasons=reasons)
        for key, reason in adapter.items():  # the adapter config's keys visionflow does not use
            name = f"{group}/message-broker.{key}"
            if name in self.report.honoured:
                self.report.honoured.remove(name)
            self.report.ignore(name, reason)
        return self._model(SinkConfig, group, type="broker", broker=broker, messages=messages)

    def _message_converter(self, group: str) -> None:
        """``[message-converter]``: the converter of the type=6 sinks with disable-msgconv=1."""
        values = read_group(self.doc, group, K.MESSAGE_CONVERTER)
        self.values[group] = values
        enabled = values.get("enable", 0) != 0
        ignore = None if enabled else "group disabled (enable=0 or missing)"
        record_group(self.doc, group, K.MESSAGE_CONVERTER, self.report, ignore=ignore)
        if enabled and "msg-conv-config" in values:
            path = resolve(values["msg-conv-config"], self.doc.file)
            self._nested(group, "msg-conv-config", path, read_msgconv)

    # --- assembly -------------------------------------------------------------------------------

    def _pipeline(self, stages: list[InferStageConfig]) -> PipelineConfig | None:
        mux = self.values.get("streammux", {})
        mux_reasons = {}
        if self.listed is not None and "batch-size" in mux:
            mux_reasons["batch-size"] = "replaced by the number of [source-list] entries"
        if "streammux" in self.values:
            record_group(self.doc, "streammux", K.STREAMMUX, self.report, reasons=mux_reasons)
        tiled = self._single("tiled-display", "tiled display disabled (enable=0)")
        osd = self._single("osd", "OSD disabled (enable=0 or missing)")
        sinks = [
            self._output(group, values, tiled.get("enable", 0)) for group, values in self.sinks
        ]
        if not self.sources:
            groups = [g for g in self.doc.groups() if g.startswith("source")]
            self._blocker(
                "no source visionflow can read (no enabled URI, MultiURI or RTSP source)",
                groups[0] if groups else None,
            )
            return None
        if not sinks:
            self.report.warnings.append(f"{self.doc.file}: no enabled sink; frames are discarded")
        loop = self.values.get("tests", {}).get("file-loop", 0) != 0
        live = True if mux.get("live-source", 0) else None
        batch = len(self.sources) if self.listed is not None else mux.get("batch-size") or None
        return self._model(
            PipelineConfig,
            "",
            sources=[
                SourceConfig(
                    uri=s.uri,
                    loop=loop and s.is_file,
                    live=live,
                    reconnect_attempts=s.reconnect_attempts,
                    smart_record=s.smart_record,
                    **({"timeout": s.timeout} if s.timeout is not None else {}),
                )
                for s in self.sources
            ],
            streammux=self._model(
                StreamMuxConfig,
                "streammux",
                batch_size=batch,
                batched_push_timeout=mux.get("batched-push-timeout", -1),
                width=mux.get("width", 0),
                height=mux.get("height", 0),
                enable_padding=bool(mux.get("enable-padding", 0)),
            ),
            infer=stages,
            osd=self._osd(osd) if osd.get("enable", 0) else None,
            tiler=self._tiler(tiled) if tiled.get("enable", 0) else None,
            tracker=self.tracker,
            analytics=self.analytics,
            sinks=[s for s in sinks if s is not None] or [_FAKE_SINK],
        )

    def _single(self, group: str, disabled: str) -> dict[str, Any]:
        """Record a single group whose keys count only when its ``enable`` is set."""
        values = self.values.get(group, {})
        if group not in self.values:
            return values
        table = _SINGLE[group]
        reasons = {} if values.get("enable", 0) else {k: disabled for k in values if k != "enable"}
        record_group(self.doc, group, table, self.report, reasons=reasons)
        if group == "tiled-display" and values.get("enable") == 2:
            self.report.warnings.append(
                f"{self.doc.file}: [{group}] enable=2: parallel demux is not available; "
                "sinks receive the tiled picture"
            )
        return values

    def _osd(self, values: dict[str, Any]) -> OSDConfig:
        border = values.get("border-width")
        if border == 0:
            self.report.warnings.append(
                f"{self.doc.file}: [osd] border-width=0: boxes are not drawn (display-bbox=0)"
            )
        return self._model(
            OSDConfig,
            "osd",
            display_text=values.get("display-text", True),
            display_bbox=values.get("display-bbox", True) and border != 0,
            display_mask=values.get("display-mask", False),
            border_width=border or None,
        )

    def _tiler(self, values: dict[str, Any]) -> TilerConfig:
        fields = {k: values[k] for k in ("rows", "columns", "width", "height") if k in values}
        return self._model(TilerConfig, "tiled-display", **fields)

    def _model(self, model: type[Model], group: str, **fields: Any) -> Model:
        """Build a pydantic model; a rejected field becomes a ConfigError at its key."""
        try:
            return model(**fields)
        except ValidationError as exc:
            error = exc.errors()[0]
            field = str(error["loc"][0]) if error["loc"] else ""
            key = _STAGE_FIELDS.get(field, field.replace("_", "-"))
            message = error["msg"][0].lower() + error["msg"][1:]
            raise self._key_error(group, key, message, None) from None

    def _key_error(self, group: str, key: str, reason: str, allowed: str | None) -> ConfigError:
        if group not in self.doc.groups():
            return ConfigError(reason, file=self.doc.file, key=key or None, allowed=allowed)
        entries = [e for e in self.doc.entries(group) if e.key == key]
        if entries:
            return self.doc.error(entries[-1], reason, allowed)
        return ConfigError(
            reason,
            file=self.doc.file,
            line=self.doc.group_line(group),
            group=group,
            key=key,
            allowed=allowed,
        )


def _printf(uri: str, index: int) -> str:
    """``g_strdup_printf(uri, index)`` for the directives a MultiURI uses: ``%d`` and ``%%``."""
    return _PRINTF.sub(lambda m: "%" if m.group(1) == "%" else str(index), uri)


def _not_run_kind(group: str) -> str | None:
    if group in K.NOT_RUN and group not in _NUMBERED:
        return group
    return next((kind for kind in _NUMBERED if group.startswith(kind)), None)


def _source_notice(kind: int, values: Mapping[str, Any]) -> str:
    if kind == 1:
        node = values.get("camera-v4l2-dev-node", 0)
        return f"type=1 (V4L2 camera /dev/video{node}): {K.CAMERA}"
    if kind == 5:
        return f"type=5 (CSI camera {values.get('camera-csi-sensor-id', 0)}): {K.CAMERA}"
    if kind == 9:
        return "type=9 (IPC): IPC sources are not available in visionflow"
    return f"type={kind} ({K.SOURCE_TYPES[kind]}): {K.AUDIO}"


def _chain(primary_id: int, gies: list[_Gie]) -> dict[str, int]:
    """deepstream-app's ``should_create_secondary_gie``: the secondary GIEs that are built, with
    their depth below the primary (1: operate on the primary's objects)."""
    depth: dict[str, int] = {}

    def visit(gie: _Gie, seen: frozenset[str]) -> bool:
        if gie.group in depth:
            return True
        if gie.operate_on == primary_id:
            depth[gie.group] = 1
            return True
        parent = next((g for g in gies if g.app_id == gie.operate_on), None)
        if parent is None or parent.group in seen or not visit(parent, seen | {gie.group}):
            return False
        depth[gie.group] = depth[parent.group] + 1
        return True

    for gie in gies:
        visit(gie, frozenset())
    return depth


def _smart_record(values: dict[str, Any]) -> SmartRecordConfig | None:
    """A source group's ``smart-record`` keys as visionflow's settings (None: off).

    deepstream-app leaves absent keys at 0; where 0 would mean nothing for visionflow (no cache,
    no default duration) the defaults of :class:`SmartRecordConfig` apply, and ``smart-record=2``
    without ``smart-rec-interval`` ticks every 10 s, as deepstream-app does.
    """
    mode = values.get("smart-record", 0)
    if not mode:
        return None
    defaults = SmartRecordConfig()
    cache = values.get("smart-rec-cache") or values.get("smart-rec-video-cache")
    return SmartRecordConfig(
        cache=cache or defaults.cache,
        start_time=values.get("smart-rec-start-time", 0),
        duration=values.get("smart-rec-duration", 0),
        default_duration=values.get("smart-rec-default-duration") or defaults.default_duration,
        interval=(values.get("smart-rec-interval") or 10) if mode == 2 else 0,
        dir=Path(values.get("smart-rec-dir-path") or "."),
        prefix=values.get("smart-rec-file-prefix") or defaults.prefix,
        container="mkv" if values.get("smart-rec-container", 0) == 1 else "mp4",
    )
