"""The messages built from the bundled caffe.proto keep Caffe's wire format."""

from __future__ import annotations

import pytest
from google.protobuf import text_format

from visionflow.convert.importers.caffe_pb import BlobProto, LayerParameter, NetParameter

# (message, field, number) as in BVLC Caffe's caffe.proto (PermuteParameter: the SSD fork).
UPSTREAM_NUMBERS = [
    ("NetParameter", "name", 1),
    ("NetParameter", "layers", 2),
    ("NetParameter", "input", 3),
    ("NetParameter", "input_dim", 4),
    ("NetParameter", "input_shape", 8),
    ("NetParameter", "layer", 100),
    ("LayerParameter", "blobs", 7),
    ("LayerParameter", "include", 8),
    ("LayerParameter", "concat_param", 104),
    ("LayerParameter", "convolution_param", 106),
    ("LayerParameter", "dropout_param", 108),
    ("LayerParameter", "eltwise_param", 110),
    ("LayerParameter", "inner_product_param", 117),
    ("LayerParameter", "pooling_param", 121),
    ("LayerParameter", "relu_param", 123),
    ("LayerParameter", "softmax_param", 125),
    ("LayerParameter", "prelu_param", 131),
    ("LayerParameter", "reshape_param", 133),
    ("LayerParameter", "flatten_param", 135),
    ("LayerParameter", "batch_norm_param", 139),
    ("LayerParameter", "scale_param", 142),
    ("LayerParameter", "input_param", 143),
    ("LayerParameter", "permute_param", 202),
    ("BlobProto", "data", 5),
    ("BlobProto", "shape", 7),
    ("BlobProto", "double_data", 8),
    ("ConvolutionParameter", "group", 5),
    ("ConvolutionParameter", "pad_h", 9),
    ("ConvolutionParameter", "stride_w", 14),
    ("ConvolutionParameter", "dilation", 18),
    ("PoolingParameter", "stride", 3),
    ("PoolingParameter", "global_pooling", 12),
    ("InnerProductParameter", "transpose", 6),
    ("ReshapeParameter", "num_axes", 3),
    ("V1LayerParameter", "name", 4),
    ("V1LayerParameter", "blobs", 6),
]


def descriptor(message: str):
    layer = LayerParameter.DESCRIPTOR
    found = {
        "NetParameter": NetParameter.DESCRIPTOR,
        "LayerParameter": layer,
        "BlobProto": BlobProto.DESCRIPTOR,
        "V1LayerParameter": NetParameter.DESCRIPTOR.fields_by_name["layers"].message_type,
    }
    if message in found:
        return found[message]
    fields = [
        f for f in layer.fields if f.message_type is not None and f.message_type.name == message
    ]
    return fields[0].message_type


@pytest.mark.parametrize(("message", "field", "number"), UPSTREAM_NUMBERS)
def test_field_numbers_match_upstream(message, field, number):
    assert descriptor(message).fields_by_name[field].number == number


def test_defaults_match_upstream():
    net = text_format.Parse(
        "layer { convolution_param { } pooling_param { } batch_norm_param { } concat_param { } }",
        NetParameter(),
    )
    layer = net.layer[0]
    assert layer.convolution_param.bias_term is True
    assert layer.convolution_param.group == 1
    assert layer.pooling_param.stride == 1
    assert layer.pooling_param.pool == 0  # MAX
    assert layer.batch_norm_param.eps == pytest.approx(1e-5)
    assert layer.concat_param.axis == 1


def test_blob_data_is_packed_like_caffe_writes_it():
    blob = BlobProto()
    blob.shape.dim.extend([2])
    blob.data.extend([1.5, 2.0])
    # field 5, length-delimited, 8 bytes of little-endian floats; field 7 holds the shape.
    assert blob.SerializeToString() == bytes.fromhex("2a080000c03f000000403a030a0102")
