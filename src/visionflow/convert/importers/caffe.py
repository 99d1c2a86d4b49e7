"""Caffe → ONNX: a network definition (prototxt) and its weights (caffemodel) as an ONNX graph.

No maintained converter works with current protobuf (``caffe2onnx`` ships protobuf-3 generated
code and pins onnx 1.6), so visionflow converts the layers of classic Caffe vision networks
itself, reading both files through the messages built from the bundled ``caffe.proto``.

Shapes are tracked through the network as Caffe computes them, which settles the places where
Caffe and ONNX differ: pooling output sizes use Caffe's ceil rule (with its "last window starts
inside the image" correction) through explicit end padding, and average pooling divides by the
window clipped to the padded input, as Caffe does. The batch axis is made dynamic.

Layers converted: Input (and the ``input``/``input_dim``/``input_shape`` net fields),
Convolution, Deconvolution, Pooling (MAX, AVE, global), ReLU (LeakyRelu with
``negative_slope``), PReLU, Sigmoid, TanH, InnerProduct (``axis``, ``transpose``), BatchNorm
(fused with a following Scale), Scale, Eltwise (SUM with ``coeff``, PROD, MAX), Concat,
Softmax, Flatten, Reshape, Permute and Dropout (identity).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from google.protobuf import text_format
from google.protobuf.message import DecodeError, Message

from visionflow.convert.importers.caffe_pb import NetParameter
from visionflow.convert.onnx_tools import prepare_onnx, spec_from_onnx
from visionflow.convert.parity import check_parity, sample_inputs
from visionflow.convert.spec import ExportSpec, ImportResult, Shape, infer_layout
from visionflow.errors import ConversionError

logger = logging.getLogger(__name__)

Dims = tuple[int, ...]


def read_prototxt(path: str | PathLike[str]) -> Message:
    """Parse a Caffe network definition (text format ``NetParameter``).

    Raises:
        ConversionError: the file is missing or does not parse; the message names the line.
    """
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"{path}: prototxt not found")
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        return text_format.Parse(text, NetParameter())
    except text_format.ParseError as err:
        hint = "; visionflow reads the fields of the layer types it converts: " + ", ".join(
            LAYER_TYPES
        )
        if "layers {" in text:
            hint = (
                "; this is a V1 prototxt ('layers'), upgrade it with Caffe's upgrade_net_proto_text"
            )
        where = f"{path}:{err.GetLine()}:{err.GetColumn()}"
        reason = str(err).removeprefix(f"{err.GetLine()}:{err.GetColumn()} : ").rstrip(".")
        raise ConversionError(f"{where}: {reason}{hint}") from err


def read_caffemodel(path: str | PathLike[str]) -> Message:
    """Parse trained Caffe weights (binary ``NetParameter``).

    Raises:
        ConversionError: the file is missing or not a binary Caffe model.
    """
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"{path}: caffemodel not found")
    try:
        return NetParameter.FromString(path.read_bytes())
    except DecodeError as err:
        raise ConversionError(f"{path}: not a binary Caffe model: {err}") from err


def caffe_to_onnx(
    prototxt: str | PathLike[str],
    caffemodel: str | PathLike[str],
    *,
    spec: ExportSpec | None = None,
) -> onnx.ModelProto:
    """Convert a Caffe network to an ONNX model (not yet simplified or verified).

    ``spec.opset`` (13 or newer), ``spec.dynamic_batch`` and ``spec.input_shapes`` (replacing
    the declared input shapes, by position) are honoured; names come from the prototxt.

    Raises:
        ConversionError: a layer type or parameter is not supported, weights are missing or
            do not fit, or the network is malformed.
    """
    spec = spec or ExportSpec()
    if spec.opset < 13:
        raise ConversionError(f"Caffe import needs opset 13 or newer, got {spec.opset}")
    net = read_prototxt(prototxt)
    weights = _weights_by_layer(read_caffemodel(caffemodel))
    return _NetConverter(net, weights, spec, Path(prototxt).name).convert()


def import_caffe(
    prototxt: str | PathLike[str],
    caffemodel: str | PathLike[str],
    output: str | PathLike[str],
    *,
    spec: ExportSpec | None = None,
    verify: bool = True,
    simplify: bool = True,
) -> ImportResult:
    """Convert a Caffe model to ONNX and check it against Caffe when pycaffe is installed.

    pycaffe is not on PyPI; without it the conversion cannot be compared with Caffe, the
    result's ``parity`` is ``None`` and a warning says so.
    """
    spec = spec or ExportSpec()
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(caffe_to_onnx(prototxt, caffemodel, spec=spec), str(output))
    prepare_onnx(output, simplify=simplify)
    resolved = spec_from_onnx(onnx.load(str(output), load_external_data=False), spec)
    parity = None
    if verify:
        reference = _pycaffe_reference(prototxt, caffemodel)
        if reference is None:
            logger.warning(
                "pycaffe is not installed: %s was converted without a parity check against Caffe",
                prototxt,
            )
        else:
            samples = sample_inputs(output, resolved, batch_sizes=(1, 2))
            parity = check_parity(output, reference, samples, resolved.tolerance("fp32"))
    layout = infer_layout(resolved.input_shapes[0], "NCHW") if resolved.input_shapes else None
    return ImportResult(output, parity, "caffe", layout, resolved)


def _pycaffe_reference(
    prototxt: str | PathLike[str], caffemodel: str | PathLike[str]
) -> Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None:
    try:
        import caffe
    except ImportError:
        return None
    net = caffe.Net(str(prototxt), str(caffemodel), caffe.TEST)

    def reference(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        for name, value in feeds.items():
            net.blobs[name].reshape(*value.shape)
        net.reshape()
        outputs = net.forward(**feeds)
        return {name: np.array(value) for name, value in outputs.items()}

    return reference


# --------------------------------------------------------------------------------------------
# Network walk


@dataclass(frozen=True)
class _Layer:
    """One Caffe layer as a converter sees it."""

    param: Any  # caffe.LayerParameter
    blobs: tuple[np.ndarray, ...]
    inputs: tuple[str, ...]  # ONNX values of the bottoms
    shapes: tuple[Dims, ...]  # their shapes (with the declared batch size)
    outputs: tuple[str, ...]  # ONNX values to produce for the tops

    @property
    def where(self) -> str:
        return f"layer '{self.param.name}' ({self.param.type})"

    def blob(self, index: int, shape: Sequence[int]) -> np.ndarray:
        """Weight blob ``index`` reshaped to ``shape`` (float32)."""
        if index >= len(self.blobs):
            raise ConversionError(f"{self.where}: the caffemodel has no weight blob {index}")
        data = self.blobs[index]
        if data.size != math.prod(shape):
            raise ConversionError(
                f"{self.where}: weight blob {index} holds {data.size} values, "
                f"expected {tuple(shape)}"
            )
        return data.reshape(shape)


@dataclass
class _Graph:
    """The ONNX graph being built, with the Caffe shape of every value."""

    nodes: list[onnx.NodeProto] = field(default_factory=list)
    initializers: list[onnx.TensorProto] = field(default_factory=list)
    shapes: dict[str, Dims] = field(default_factory=dict)
    _names: set[str] = field(default_factory=set)

    def reserve(self, names: Sequence[str]) -> None:
        """Keep ``names`` (the blob names the graph will use) away from generated names."""
        self._names.update(names)

    def name(self, hint: str) -> str:
        name, n = hint, 1
        while name in self._names:
            name, n = f"{hint}_{n}", n + 1
        self._names.add(name)
        return name

    def const(self, hint: str, array: np.ndarray) -> str:
        name = self.name(hint)
        self.initializers.append(onnx.numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(
        self, op_type: str, inputs: Sequence[str], output: str, shape: Dims, **attrs: Any
    ) -> str:
        self._names.add(output)
        self.nodes.append(
            onnx.helper.make_node(op_type, list(inputs), [output], name=output, **attrs)
        )
        self.shapes[output] = shape
        return output

    def reshape(self, value: str, shape: Dims, output: str) -> str:
        """Reshape keeping axis 0 (the batch) as it is, so a dynamic batch stays dynamic."""
        target = self.const(f"{output}/shape", np.array([0, *shape[1:]], np.int64))
        return self.op("Reshape", [value, target], output, shape)


class _NetConverter:
    def __init__(
        self, net: Any, weights: dict[str, tuple[np.ndarray, ...]], spec: ExportSpec, source: str
    ) -> None:
        self.net = net
        self.weights = weights
        self.spec = spec
        self.source = source
        self.layers = [layer for layer in net.layer if _included(layer, net.state)]
        self.graph = _Graph()
        self.values: dict[str, str] = {}  # Caffe blob → current ONNX value
        self.inputs: list[tuple[str, Dims]] = []
        self.consumed: set[str] = set()
        self.produced: list[str] = []  # blobs in the order they were first written

    def convert(self) -> onnx.ModelProto:
        if self.net.layers:
            raise ConversionError(
                f"{self.source} uses V1 layers ('layers'); upgrade it with Caffe's "
                "upgrade_net_proto_text"
            )
        for name, shape in _declared_inputs(self.net):
            self._add_input(name, shape)
        final_writer = {top: i for i, layer in enumerate(self.layers) for top in layer.top}
        self.graph.reserve(list(final_writer))
        skip = False
        for i, layer in enumerate(self.layers):
            if skip:
                skip = False
                continue
            if layer.type == "Input":
                shapes = list(layer.input_param.shape)
                if len(shapes) not in (1, len(layer.top)):
                    raise ConversionError(
                        f"layer '{layer.name}' (Input): {len(shapes)} shapes "
                        f"for {len(layer.top)} tops"
                    )
                for top, shape in zip(layer.top, shapes * len(layer.top), strict=False):
                    self._add_input(top, tuple(shape.dim))
                continue
            scale = self._fusable_scale(i)
            tops = scale.top if scale is not None else layer.top
            writer = i + 1 if scale is not None else i
            input_names = {name for name, _ in self.inputs}
            outputs = tuple(
                top
                if final_writer[top] == writer and top not in input_names
                else self.graph.name(f"{top}/{layer.name}")
                for top in tops
            )
            converted = self._layer(layer, outputs)
            if scale is not None:
                folded = dataclasses.replace(converted, param=scale, blobs=self._blobs(scale))
                _batch_norm(self.graph, converted, folded)
                skip = True
            else:
                converter = _CONVERTERS.get(layer.type)
                if converter is None:
                    raise ConversionError(
                        f"layer '{layer.name}': Caffe layer type '{layer.type}' is not supported; "
                        f"supported: {', '.join(LAYER_TYPES)}"
                    )
                converter(self.graph, converted)
            self.consumed.update(converted.inputs)
            for top, value in zip(tops, outputs, strict=True):
                if top not in self.values:
                    self.produced.append(top)
                self.values[top] = value
        return self._model()

    def _add_input(self, name: str, declared: Sequence[int]) -> None:
        index = len(self.inputs)
        shape = tuple(int(d) for d in declared)
        if index < len(self.spec.input_shapes):
            shape = _override(name, shape, self.spec.input_shapes[index])
        if len(shape) == 0 or min(shape) <= 0:
            raise ConversionError(f"input '{name}' has an invalid shape {shape}")
        self.inputs.append((name, shape))
        self.values[name] = name
        self.graph.shapes[name] = shape
        self.graph.name(name)

    def _layer(self, layer: Any, outputs: tuple[str, ...]) -> _Layer:
        missing = [b for b in layer.bottom if b not in self.values]
        if missing:
            raise ConversionError(
                f"layer '{layer.name}' reads blobs {missing} that no layer produced"
            )
        inputs = tuple(self.values[b] for b in layer.bottom)
        shapes = tuple(self.graph.shapes[v] for v in inputs)
        return _Layer(layer, self._blobs(layer), inputs, shapes, outputs)

    def _blobs(self, layer: Any) -> tuple[np.ndarray, ...]:
        """The layer's weights from the caffemodel, else from the prototxt."""
        return self.weights.get(layer.name) or tuple(_blob_array(b) for b in layer.blobs)

    def _fusable_scale(self, index: int) -> Any:
        """The Scale layer right after BatchNorm ``index`` that can fold into it, if any."""
        layer = self.layers[index]
        if layer.type != "BatchNorm" or index + 1 >= len(self.layers) or not layer.bottom:
            return None
        scale = self.layers[index + 1]
        bottom = self.values.get(layer.bottom[0])
        if scale.type != "Scale" or list(scale.bottom) != [layer.top[0]] or bottom is None:
            return None
        rank = len(self.graph.shapes[bottom])
        if scale.scale_param.num_axes != 1 or scale.scale_param.axis not in (1, 1 - rank):
            return None
        # The un-scaled BatchNorm output must not be read by any later layer.
        if scale.top[0] != layer.top[0]:
            for later in self.layers[index + 2 :]:
                if layer.top[0] in later.bottom:
                    return None
                if layer.top[0] in later.top:
                    break
        return scale

    def _model(self) -> onnx.ModelProto:
        inputs = [
            onnx.helper.make_tensor_value_info(
                name,
                onnx.TensorProto.FLOAT,
                ["batch" if self.spec.dynamic_batch else shape[0], *shape[1:]],
            )
            for name, shape in self.inputs
        ]
        input_names = {name for name, _ in self.inputs}
        outputs = [
            # Ranks are known; sizes are left to shape inference, which knows where the batch went.
            onnx.helper.make_tensor_value_info(
                self.values[blob],
                onnx.TensorProto.FLOAT,
                [None] * len(self.graph.shapes[self.values[blob]]),
            )
            for blob in self.produced
            if self.values[blob] not in self.consumed and self.values[blob] not in input_names
        ]
        if not outputs:
            raise ConversionError(f"{self.source}: the network has no output blob")
        graph = onnx.helper.make_graph(
            self.graph.nodes,
            self.net.name or Path(self.source).stem,
            inputs,
            outputs,
            initializer=self.graph.initializers,
        )
        model = onnx.helper.make_model(
            graph,
            opset_imports=[onnx.helper.make_opsetid("", self.spec.opset)],
            producer_name="visionflow",
        )
        model.ir_version = onnx.helper.find_min_ir_version_for(model.opset_import)
        return model


def _declared_inputs(net: Any) -> list[tuple[str, tuple[int, ...]]]:
    """Inputs declared by the net-level ``input`` fields (``input_shape`` or ``input_dim``)."""
    names = list(net.input)
    if net.input_shape:
        if len(net.input_shape) != len(names):
            raise ConversionError(f"{len(net.input_shape)} input_shape for {len(names)} inputs")
        return [(n, tuple(s.dim)) for n, s in zip(names, net.input_shape, strict=True)]
    if len(net.input_dim) != 4 * len(names):
        raise ConversionError(
            f"{len(net.input_dim)} input_dim values for {len(names)} inputs; expected 4 per input"
        )
    dims = list(net.input_dim)
    return [(n, tuple(dims[4 * i : 4 * i + 4])) for i, n in enumerate(names)]


def _override(name: str, declared: Dims, given: Shape) -> Dims:
    if len(given) != len(declared):
        raise ConversionError(
            f"input_shape {given} for input '{name}' has rank {len(given)}, "
            f"the prototxt declares {declared}"
        )
    if None in given[1:]:
        raise ConversionError(
            f"input_shape {given} for input '{name}': a Caffe network needs fixed sizes "
            "after the batch axis"
        )
    return (given[0] or declared[0], *(int(d) for d in given[1:] if d is not None))


def _included(layer: Any, state: Any) -> bool:
    """Caffe's NetState rules: is ``layer`` part of the net in ``state`` (TEST by default)?"""

    def meets(rule: Any) -> bool:
        return (
            (not rule.HasField("phase") or rule.phase == state.phase)
            and (not rule.HasField("min_level") or state.level >= rule.min_level)
            and (not rule.HasField("max_level") or state.level <= rule.max_level)
            and all(stage in state.stage for stage in rule.stage)
            and not any(stage in state.stage for stage in rule.not_stage)
        )

    if layer.include:
        return any(meets(rule) for rule in layer.include)
    return not any(meets(rule) for rule in layer.exclude)


def _weights_by_layer(model: Any) -> dict[str, tuple[np.ndarray, ...]]:
    layers = [*model.layer, *model.layers]  # V2 and V1 layers
    return {
        layer.name: tuple(_blob_array(b) for b in layer.blobs) for layer in layers if layer.blobs
    }


def _blob_array(blob: Any) -> np.ndarray:
    """A BlobProto as a float32 array in its stored shape (flat when no shape is stored)."""
    data = np.asarray(blob.double_data if len(blob.double_data) else blob.data, np.float32)
    if blob.HasField("shape"):
        shape: tuple[int, ...] = tuple(blob.shape.dim)
    else:
        shape = tuple(d for d in (blob.num, blob.channels, blob.height, blob.width))
    return data.reshape(shape) if math.prod(shape) == data.size else data


# --------------------------------------------------------------------------------------------
# Layer converters: each emits the ONNX nodes of one layer into the graph.


def _axis(axis: int, rank: int, where: str) -> int:
    if not -rank <= axis < rank:
        raise ConversionError(f"{where}: axis {axis} is out of range for a {rank}-D input")
    return axis % rank


def _spatial(
    where: str,
    what: str,
    values: Sequence[int],
    hw: tuple[int, int] | None,
    spatial: int,
    default: int | None,
) -> Dims:
    """A per-spatial-axis parameter given once, once per axis, or as its ``_h``/``_w`` pair."""
    if hw is not None:
        if spatial != 2 or len(values):
            raise ConversionError(f"{where}: {what}_h/{what}_w need a 2-D input and no {what}")
        return hw
    if not values:
        if default is None:
            raise ConversionError(f"{where}: {what} is not set")
        return (default,) * spatial
    if len(values) not in (1, spatial):
        raise ConversionError(f"{where}: {len(values)} {what} values for {spatial} spatial axes")
    return tuple(int(v) for v in values) * (spatial // len(values))


def _convolution(graph: _Graph, layer: _Layer, *, transpose: bool = False) -> None:
    p = layer.param.convolution_param
    x, shape = layer.inputs[0], layer.shapes[0]
    if p.axis != 1:
        raise ConversionError(f"{layer.where}: only axis 1 is supported as the channel axis")
    spatial = len(shape) - 2

    def hw(name: str) -> tuple[int, int] | None:
        has = p.HasField(f"{name}_h") or p.HasField(f"{name}_w")
        return (getattr(p, f"{name}_h"), getattr(p, f"{name}_w")) if has else None

    kernel = _spatial(layer.where, "kernel", p.kernel_size, hw("kernel"), spatial, None)
    stride = _spatial(layer.where, "stride", p.stride, hw("stride"), spatial, 1)
    pad = _spatial(layer.where, "pad", p.pad, hw("pad"), spatial, 0)
    dilation = _spatial(layer.where, "dilation", p.dilation, None, spatial, 1)
    if min(*kernel, *stride, *dilation) <= 0:
        raise ConversionError(f"{layer.where}: {kernel=}, {stride=}, {dilation=} must be positive")
    channels, outputs, group = shape[1], p.num_output, p.group
    if channels % group or outputs % group:
        raise ConversionError(
            f"{layer.where}: group {group} must divide the {channels} input "
            f"and {outputs} output channels"
        )
    extent = [d * (k - 1) + 1 for d, k in zip(dilation, kernel, strict=True)]
    if transpose:
        weight = layer.blob(0, (channels, outputs // group, *kernel))
        size = [
            s * (i - 1) + e - 2 * q
            for i, s, e, q in zip(shape[2:], stride, extent, pad, strict=True)
        ]
    else:
        weight = layer.blob(0, (outputs, channels // group, *kernel))
        size = [
            (i + 2 * q - e) // s + 1
            for i, s, e, q in zip(shape[2:], stride, extent, pad, strict=True)
        ]
    if min(size) <= 0:
        raise ConversionError(f"{layer.where}: output size {size} for input {shape}")
    inputs = [x, graph.const(f"{layer.param.name}/weight", weight)]
    if p.bias_term:
        inputs.append(graph.const(f"{layer.param.name}/bias", layer.blob(1, (outputs,))))
    graph.op(
        "ConvTranspose" if transpose else "Conv",
        inputs,
        layer.outputs[0],
        (shape[0], outputs, *size),
        kernel_shape=list(kernel),
        strides=list(stride),
        pads=list(pad) * 2,
        dilations=list(dilation),
        group=group,
    )


def _deconvolution(graph: _Graph, layer: _Layer) -> None:
    _convolution(graph, layer, transpose=True)


def _pooling(graph: _Graph, layer: _Layer) -> None:
    p = layer.param.pooling_param
    method = type(p).PoolMethod.Name(p.pool)
    x, shape = layer.inputs[0], layer.shapes[0]
    if len(shape) != 4:
        raise ConversionError(f"{layer.where}: Caffe pooling takes 4-D input, got {shape}")
    if method == "STOCHASTIC":
        raise ConversionError(f"{layer.where}: STOCHASTIC pooling is not supported")
    if p.global_pooling:
        op = "GlobalMaxPool" if method == "MAX" else "GlobalAveragePool"
        graph.op(op, [x], layer.outputs[0], (*shape[:2], 1, 1))
        return

    def pair(name: str, single: int) -> tuple[int, int]:
        if p.HasField(f"{name}_h") or p.HasField(f"{name}_w"):
            return getattr(p, f"{name}_h"), getattr(p, f"{name}_w")
        return single, single

    if not (p.HasField("kernel_size") or p.HasField("kernel_h")):
        raise ConversionError(f"{layer.where}: kernel_size is not set")
    kernel, stride = pair("kernel", p.kernel_size), pair("stride", p.stride)
    pad = pair("pad", p.pad)
    if min(*kernel, *stride) <= 0:
        raise ConversionError(f"{layer.where}: {kernel=} and {stride=} must be positive")
    size = []
    for i, k, s, q in zip(shape[2:], kernel, stride, pad, strict=True):
        n = math.ceil((i + 2 * q - k) / s) + 1
        if any(pad) and (n - 1) * s >= i + q:  # the last window must start inside the image
            n -= 1
        size.append(n)
    # Pad the end so that ONNX's floor rule yields Caffe's size: the last window must fit.
    end = [
        max(0, (n - 1) * s + k - i - q)
        for n, s, k, i, q in zip(size, stride, kernel, shape[2:], pad, strict=True)
    ]
    attrs: dict[str, Any] = {"kernel_shape": list(kernel), "strides": list(stride)}
    if method == "MAX":
        pads = [*pad, *end]
        op = "MaxPool"
    else:
        # Caffe divides by the window clipped to the padded input, not to the extra end padding:
        # pad explicitly with zeros, then let the pooling ignore only the extra padding.
        if any(pad):
            padded = (*shape[:2], *(i + 2 * q for i, q in zip(shape[2:], pad, strict=True)))
            pads_input = graph.const(
                f"{layer.param.name}/pads", np.array([0, 0, *pad, 0, 0, *pad], np.int64)
            )
            x = graph.op("Pad", [x, pads_input], graph.name(f"{layer.param.name}/padded"), padded)
        end = [max(0, e - q) for e, q in zip(end, pad, strict=True)]
        pads = [0, 0, *end]
        op = "AveragePool"
        attrs["count_include_pad"] = 0
    onnx_size = [
        (i + b + e - k) // s + 1
        for i, b, e, k, s in zip(
            graph.shapes[x][2:], pads[:2], pads[2:], kernel, stride, strict=True
        )
    ]
    if onnx_size != size:
        raise ConversionError(
            f"{layer.where}: pooling geometry {kernel=} {stride=} {pad=} on {shape} "
            f"gives {size} in Caffe but {onnx_size} in ONNX"
        )
    graph.op(op, [x], layer.outputs[0], (*shape[:2], *size), pads=pads, **attrs)


def _relu(graph: _Graph, layer: _Layer) -> None:
    slope = layer.param.relu_param.negative_slope
    if slope:
        graph.op("LeakyRelu", layer.inputs, layer.outputs[0], layer.shapes[0], alpha=slope)
    else:
        graph.op("Relu", layer.inputs, layer.outputs[0], layer.shapes[0])


def _prelu(graph: _Graph, layer: _Layer) -> None:
    shape = layer.shapes[0]
    if layer.param.prelu_param.channel_shared:
        slope = layer.blob(0, (1,))
    else:
        slope = layer.blob(0, (shape[1], *[1] * (len(shape) - 2)))
    inputs = [layer.inputs[0], graph.const(f"{layer.param.name}/slope", slope)]
    graph.op("PRelu", inputs, layer.outputs[0], shape)


def _unary(op_type: str) -> Callable[[_Graph, _Layer], None]:
    def convert(graph: _Graph, layer: _Layer) -> None:
        graph.op(op_type, layer.inputs[:1], layer.outputs[0], layer.shapes[0])

    return convert


def _inner_product(graph: _Graph, layer: _Layer) -> None:
    p = layer.param.inner_product_param
    x, shape = layer.inputs[0], layer.shapes[0]
    axis = _axis(p.axis, len(shape), layer.where)
    if axis == 0:
        raise ConversionError(f"{layer.where}: axis 0 would mix the samples of a batch")
    depth, outputs = math.prod(shape[axis:]), p.num_output
    # MatMul takes (depth, outputs); Caffe stores (outputs, depth) unless transpose is set.
    weight = layer.blob(0, (depth, outputs)) if p.transpose else layer.blob(0, (outputs, depth)).T
    if len(shape) != axis + 1:
        x = graph.reshape(x, (*shape[:axis], depth), graph.name(f"{layer.param.name}/flat"))
    out_shape = (*shape[:axis], outputs)
    w = graph.const(f"{layer.param.name}/weight", weight)
    if not p.bias_term:
        graph.op("MatMul", [x, w], layer.outputs[0], out_shape)
        return
    y = graph.op("MatMul", [x, w], graph.name(f"{layer.param.name}/matmul"), out_shape)
    b = graph.const(f"{layer.param.name}/bias", layer.blob(1, (outputs,)))
    graph.op("Add", [y, b], layer.outputs[0], out_shape)


def _batch_norm(graph: _Graph, layer: _Layer, scale: _Layer | None = None) -> None:
    """BatchNorm (with the following Scale folded in when given) as BatchNormalization."""
    p = layer.param.batch_norm_param
    if p.HasField("use_global_stats") and not p.use_global_stats:
        raise ConversionError(
            f"{layer.where}: use_global_stats: false normalises with mini-batch statistics, "
            "which is training behaviour; deployed networks use the stored statistics"
        )
    shape = layer.shapes[0]
    channels = shape[1]
    factor = layer.blob(2, (1,))[0]
    factor = 0.0 if factor == 0 else 1.0 / factor  # Caffe stores running sums and their weight
    mean = layer.blob(0, (channels,)) * factor
    var = layer.blob(1, (channels,)) * factor
    gamma = np.ones(channels, np.float32)
    beta = np.zeros(channels, np.float32)
    output = layer.outputs[0]
    if scale is not None:
        gamma = scale.blob(0, (channels,))
        if scale.param.scale_param.bias_term:
            beta = scale.blob(1, (channels,))
        output = scale.outputs[0]
    name = layer.param.name
    inputs = [
        layer.inputs[0],
        graph.const(f"{name}/scale", gamma),
        graph.const(f"{name}/bias", beta),
        graph.const(f"{name}/mean", mean.astype(np.float32)),
        graph.const(f"{name}/var", var.astype(np.float32)),
    ]
    graph.op("BatchNormalization", inputs, output, shape, epsilon=p.eps)


def _scale(graph: _Graph, layer: _Layer) -> None:
    p = layer.param.scale_param
    if len(layer.inputs) != 1:
        raise ConversionError(f"{layer.where}: Scale by a second bottom is not supported")
    shape = layer.shapes[0]
    axis = _axis(p.axis, len(shape), layer.where)
    count = len(shape) - axis if p.num_axes == -1 else p.num_axes
    covered = shape[axis : axis + count]
    broadcast = (*covered, *[1] * (len(shape) - axis - count))
    factor = graph.const(f"{layer.param.name}/scale", layer.blob(0, covered).reshape(broadcast))
    if not p.bias_term:
        graph.op("Mul", [layer.inputs[0], factor], layer.outputs[0], shape)
        return
    scaled = graph.op(
        "Mul", [layer.inputs[0], factor], graph.name(f"{layer.param.name}/mul"), shape
    )
    bias = graph.const(f"{layer.param.name}/bias", layer.blob(1, covered).reshape(broadcast))
    graph.op("Add", [scaled, bias], layer.outputs[0], shape)


def _eltwise(graph: _Graph, layer: _Layer) -> None:
    p = layer.param.eltwise_param
    operation = type(p).EltwiseOp.Name(p.operation)
    inputs, shape, name = list(layer.inputs), layer.shapes[0], layer.param.name
    if any(s != shape for s in layer.shapes):
        raise ConversionError(f"{layer.where}: bottoms have different shapes {list(layer.shapes)}")
    if operation == "MAX":
        graph.op("Max", inputs, layer.outputs[0], shape)
    elif operation == "PROD":
        product = inputs[0]
        for i, value in enumerate(inputs[1:], start=1):
            out = layer.outputs[0] if i == len(inputs) - 1 else graph.name(f"{name}/prod{i}")
            product = graph.op("Mul", [product, value], out, shape)
    else:
        coeffs = list(p.coeff) or [1.0] * len(inputs)
        if len(coeffs) != len(inputs):
            raise ConversionError(f"{layer.where}: {len(coeffs)} coeff for {len(inputs)} bottoms")
        terms = [
            value
            if c == 1
            else graph.op(
                "Mul",
                [value, graph.const(f"{name}/coeff{i}", np.array(c, np.float32))],
                graph.name(f"{name}/term{i}"),
                shape,
            )
            for i, (value, c) in enumerate(zip(inputs, coeffs, strict=True))
        ]
        graph.op("Sum", terms, layer.outputs[0], shape)


def _concat(graph: _Graph, layer: _Layer) -> None:
    p = layer.param.concat_param
    rank = len(layer.shapes[0])
    axis = p.concat_dim if p.HasField("concat_dim") else _axis(p.axis, rank, layer.where)
    shape = list(layer.shapes[0])
    shape[axis] = sum(s[axis] for s in layer.shapes)
    graph.op("Concat", layer.inputs, layer.outputs[0], tuple(shape), axis=axis)


def _softmax(graph: _Graph, layer: _Layer) -> None:
    axis = _axis(layer.param.softmax_param.axis, len(layer.shapes[0]), layer.where)
    graph.op("Softmax", layer.inputs[:1], layer.outputs[0], layer.shapes[0], axis=axis)


def _flatten(graph: _Graph, layer: _Layer) -> None:
    p = layer.param.flatten_param
    shape = layer.shapes[0]
    start = _axis(p.axis, len(shape), layer.where)
    end = _axis(p.end_axis, len(shape), layer.where)
    if start == 0:
        raise ConversionError(f"{layer.where}: flattening axis 0 would mix the samples of a batch")
    out = (*shape[:start], math.prod(shape[start : end + 1]), *shape[end + 1 :])
    graph.reshape(layer.inputs[0], out, layer.outputs[0])


def _reshape(graph: _Graph, layer: _Layer) -> None:
    p = layer.param.reshape_param
    shape = layer.shapes[0]
    start = p.axis if p.axis >= 0 else len(shape) + p.axis + 1
    end = len(shape) if p.num_axes == -1 else start + p.num_axes
    if not 0 <= start <= end <= len(shape):
        raise ConversionError(f"{layer.where}: axis {p.axis}, num_axes {p.num_axes} for {shape}")
    middle = [shape[start + i] if d == 0 else int(d) for i, d in enumerate(p.shape.dim)]
    out = [*shape[:start], *middle, *shape[end:]]
    if out.count(-1) > 1:
        raise ConversionError(f"{layer.where}: more than one -1 in the shape")
    if -1 in out:
        known = math.prod(d for d in out if d != -1)
        out[out.index(-1)] = math.prod(shape) // known
    if math.prod(out) != math.prod(shape) or out[0] != shape[0]:
        raise ConversionError(
            f"{layer.where}: cannot reshape {shape} to {tuple(out)} keeping the batch axis"
        )
    graph.reshape(layer.inputs[0], tuple(out), layer.outputs[0])


def _permute(graph: _Graph, layer: _Layer) -> None:
    shape = layer.shapes[0]
    order = [int(a) for a in layer.param.permute_param.order]
    if len(set(order)) != len(order) or any(a >= len(shape) for a in order):
        raise ConversionError(
            f"{layer.where}: order {order} is not a permutation of {len(shape)} axes"
        )
    order += [a for a in range(len(shape)) if a not in order]
    out = tuple(shape[a] for a in order)
    graph.op("Transpose", layer.inputs[:1], layer.outputs[0], out, perm=order)


_CONVERTERS: dict[str, Callable[[_Graph, _Layer], None]] = {
    "BatchNorm": _batch_norm,
    "Concat": _concat,
    "Convolution": _convolution,
    "Deconvolution": _deconvolution,
    "Dropout": _unary("Identity"),
    "Eltwise": _eltwise,
    "Flatten": _flatten,
    "InnerProduct": _inner_product,
    "Permute": _permute,
    "Pooling": _pooling,
    "PReLU": _prelu,
    "ReLU": _relu,
    "Reshape": _reshape,
    "Scale": _scale,
    "Sigmoid": _unary("Sigmoid"),
    "Softmax": _softmax,
    "TanH": _unary("Tanh"),
}

LAYER_TYPES: tuple[str, ...] = ("Input", *sorted(_CONVERTERS))
"""The Caffe layer types visionflow converts."""

__all__ = ["LAYER_TYPES", "caffe_to_onnx", "import_caffe", "read_caffemodel", "read_prototxt"]
