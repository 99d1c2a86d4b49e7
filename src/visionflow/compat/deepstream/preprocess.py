"""Gst-nvdspreprocess config files, checked as ``nvdspreprocess_property_parser.cpp`` checks them.

* ``[property]`` (mandatory): the tensor the element prepares (``network-input-shape``,
  ``tensor-data-type``, ``tensor-name`` …), how frames are scaled, and the custom library that
  fills the tensor. Eleven of its keys are required.
* ``[group-N]``: which sources (``src-ids``) and which ROIs (``roi-params-src-<id>``, left;top;
  width;height quadruples) or objects are processed.
* ``[user-configs]``: free-form keys handed to the custom library.

visionflow has no preprocess element yet: every key is reported ignored, after validation.
"""

from __future__ import annotations

import os
from typing import Any

from visionflow.compat.deepstream.app_keys import PREPROCESS
from visionflow.compat.deepstream.gkeyfile import BadValueError
from visionflow.compat.deepstream.keys import (
    COLOR,
    Document,
    Kind,
    Spec,
    Table,
    at_least,
    choice,
    ignore_group,
    load_document,
    read_group,
    record_group,
    require,
    resolve,
)
from visionflow.compat.deepstream.report import ConfigReport
from visionflow.errors import ConfigError

_INT = Spec(Kind.INT)
_NON_NEGATIVE = Spec(Kind.INT, at_least(0))
_FLAG = Spec(Kind.BOOLEAN)

PROPERTY: Table = {
    "enable": _FLAG,
    "unique-id": _INT,
    "gpu-id": _INT,
    "process-on-frame": _FLAG,
    "maintain-aspect-ratio": _FLAG,
    "symmetric-padding": _FLAG,
    "processing-width": _INT,
    "processing-height": _INT,
    "scaling-buf-pool-size": _INT,
    "tensor-buf-pool-size": _INT,
    "target-unique-ids": Spec(Kind.INT_LIST),
    "operate-on-gie-id": _INT,
    "network-input-order": Spec(Kind.INT, choice({0: "NCHW", 1: "NHWC", 2: "custom"})),
    "network-input-shape": Spec(Kind.INT_LIST),
    "network-color-format": Spec(Kind.INT, choice({0: "RGB", 1: "BGR", 2: "GRAY"})),
    "scaling-filter": Spec(
        Kind.INT,
        choice(
            {
                0: "nearest",
                1: "bilinear",
                2: "algo1",
                3: "algo2",
                4: "algo3",
                5: "algo4",
                6: "default",
            }
        ),
    ),
    "tensor-data-type": Spec(
        Kind.INT,
        choice(
            {
                0: "FP32",
                1: "UINT8",
                2: "INT8",
                3: "UINT32",
                4: "INT32",
                5: "FP16",
                6: "UINT64",
                7: "INT64",
            }
        ),
    ),
    "scaling-pool-memory-type": Spec(
        Kind.INT,
        choice(
            {
                0: "default",
                1: "CUDA pinned",
                2: "CUDA device",
                3: "CUDA unified",
                4: "surface array",
            }
        ),
    ),
    "scaling-pool-compute-hw": Spec(
        Kind.INT, choice({0: "default", 1: "GPU", 2: "VIC (Jetson only)"})
    ),
    "tensor-name": Spec(Kind.STRING),
    "custom-lib-path": Spec(Kind.STRING),
    "custom-tensor-preparation-function": Spec(Kind.STRING),
}
REQUIRED = (
    "processing-width",
    "processing-height",
    "network-input-order",
    "network-input-shape",
    "network-color-format",
    "tensor-data-type",
    "tensor-name",
    "custom-lib-path",
    "custom-tensor-preparation-function",
    "scaling-filter",
    "scaling-pool-memory-type",
)


def _rois(values: list[int]) -> list[int]:
    if len(values) % 4:
        raise BadValueError(
            f"{len(values)} values", "left;top;width;height for each ROI (4 per ROI)"
        )
    return values


GROUP: Table = {
    "src-ids": Spec(Kind.INT_LIST),
    "custom-input-transformation-function": Spec(Kind.STRING),
    "operate-on-class-ids": Spec(Kind.INT_LIST),
    "input-object-min-width": _NON_NEGATIVE,
    "input-object-min-height": _NON_NEGATIVE,
    "input-object-max-width": _NON_NEGATIVE,
    "input-object-max-height": _NON_NEGATIVE,
    "interval": _NON_NEGATIVE,
    "roi-color": Spec(Kind.DOUBLE_LIST, COLOR),
    "draw-roi": _FLAG,
    "process-on-roi": _FLAG,
    "process-on-all-objects": _FLAG,
    "roi-params-src-*": Spec(Kind.INT_LIST, _rois),
}


def read_preprocess(path: str | os.PathLike[str]) -> ConfigReport:
    """Check an nvdspreprocess config and account for its keys.

    Raises:
        ConfigError: where nvdspreprocess would fail to load the file, located in it.
    """
    doc = load_document(path)
    report = ConfigReport(doc.file, "preprocess")
    if "property" not in doc.groups():
        raise ConfigError("no [property] group; nvdspreprocess requires one", file=doc.file)
    on_frame = True
    for group in doc.groups():
        if group == "property":
            values = read_group(doc, group, PROPERTY)
            record_group(doc, group, PROPERTY, report, ignore=PREPROCESS)
            require(doc, group, values, REQUIRED, "nvdspreprocess")
            on_frame = values.get("process-on-frame", True)
            _check_library(doc, values["custom-lib-path"], report)
        elif group.startswith("group-"):
            _read_unit_group(doc, group, on_frame, report)
        elif group == "user-configs":
            ignore_group(doc, group, report, "handed to the custom library; " + PREPROCESS)
        else:
            ignore_group(doc, group, report, f"nvdspreprocess does not read group [{group}]")
    return report


def _check_library(doc: Document, value: str, report: ConfigReport) -> None:
    library = resolve(value, doc.file)
    if not os.path.exists(library):
        absolute = (
            " (DeepStream rejects an absolute path that does not exist)"
            if (value.startswith("/"))
            else ""
        )
        report.warnings.append(
            f"{doc.file}: [property] custom-lib-path: {library} not found{absolute}"
        )


def _read_unit_group(doc: Document, group: str, on_frame: bool, report: ConfigReport) -> None:
    values: dict[str, Any] = read_group(doc, group, GROUP)
    on_rois = values.get("process-on-roi", False)
    all_objects = values.get("process-on-all-objects", False)
    uses_rois = on_rois if on_frame else not all_objects
    unused = (
        "not read: process-on-roi is off (whole frames are processed)"
        if on_frame
        else "not read: process-on-all-objects is on"
    )
    reasons = {} if uses_rois else {k: unused for k in values if k.startswith("roi-params-src-")}
    record_group(doc, group, GROUP, report, ignore=PREPROCESS, reasons=reasons)
    needed = ["src-ids", "process-on-roi" if on_frame else "process-on-all-objects"]
    for key in needed:
        if key not in values:
            raise ConfigError(
                f"missing; nvdspreprocess requires it in {'frame' if on_frame else 'object'} mode",
                file=doc.file,
                line=doc.group_line(group),
                group=group,
                key=key,
            )
    if uses_rois and not any(key.startswith("roi-params-src-") for key in values):
        raise ConfigError(
            "no roi-params-src-<source id> key; the group processes ROIs and needs them",
            file=doc.file,
            line=doc.group_line(group),
        )
