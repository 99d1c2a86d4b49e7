"""NumPy reference implementations of MediaPipe's TFLite custom ops, loop for loop.

Ported from ``mediapipe/util/tflite/operations/transpose_conv_bias.cc``, ``max_pool_argmax.cc``
and ``max_unpooling.cc`` (google-ai-edge/mediapipe), to check conversions without trusting the
converter's own formulation. Tensors are NHWC float32.
"""

from __future__ import annotations

import numpy as np

SAME = 1


def _out_size(size: int, filt: int, stride: int, padding: int) -> int:
    return (size + stride - 1) // stride if padding == SAME else (size - filt + stride) // stride


def _padding(stride: int, in_size: int, filt: int, out_size: int) -> int:
    """TFLite ``ComputePadding`` (dilation 1)."""
    return max(((out_size - 1) * stride + filt - in_size) // 2, 0)


def transpose_conv_bias(
    x: np.ndarray, weights: np.ndarray, bias: np.ndarray, stride: tuple[int, int], padding: int
) -> np.ndarray:
    """``Convolution2DTransposeBias``; weights OHWI, stride (h, w)."""
    n, in_h, in_w, _ = x.shape
    out_c, kh, kw, _ = weights.shape
    sh, sw = stride
    pad_h = max(0, kh - (in_h - 1) % sh - 1) if padding == SAME else 0
    pad_w = max(0, kw - (in_w - 1) % sw - 1) if padding == SAME else 0
    out_h, out_w = sh * (in_h - 1) + kh - pad_h, sw * (in_w - 1) + kw - pad_w
    out = np.broadcast_to(bias, (n, out_h, out_w, out_c)).astype(np.float64).copy()
    for b in range(n):
        for iy in range(in_h):
            for ix in range(in_w):
                oy0, ox0 = iy * sh - pad_h // 2, ix * sw - pad_w // 2
                for fy in range(kh):
                    for fx in range(kw):
                        oy, ox = oy0 + fy, ox0 + fx
                        if 0 <= oy < out_h and 0 <= ox < out_w:
                            out[b, oy, ox] += weights[:, fy, fx, :] @ x[b, iy, ix]
    return out.astype(np.float32)


def max_pool_argmax(
    x: np.ndarray, filt: tuple[int, int], stride: tuple[int, int], padding: int
) -> tuple[np.ndarray, np.ndarray]:
    """``MaxPoolingWithArgmax2D``: values and float indices ``fy · fw + fx + 0.1``."""
    n, h, w, c = x.shape
    (fh, fw), (sh, sw) = filt, stride
    out_h, out_w = _out_size(h, fh, sh, padding), _out_size(w, fw, sw, padding)
    pad_h, pad_w = _padding(sh, h, fh, out_h), _padding(sw, w, fw, out_w)
    values = np.zeros((n, out_h, out_w, c), np.float32)
    indices = np.zeros((n, out_h, out_w, c), np.float32)
    for b in range(n):
        for oy in range(out_h):
            for ox in range(out_w):
                for ch in range(c):
                    y0, x0 = oy * sh - pad_h, ox * sw - pad_w
                    best, best_y, best_x = np.finfo(np.float32).min, 0, 0
                    for fy in range(max(0, -y0), min(fh, h - y0)):
                        for fx in range(max(0, -x0), min(fw, w - x0)):
                            value = x[b, y0 + fy, x0 + fx, ch]
                            if value > best:
                                best, best_y, best_x = value, fy, fx
                    values[b, oy, ox, ch] = best
                    indices[b, oy, ox, ch] = np.float32(best_y * fw + best_x) + np.float32(0.1)
    return values, indices


def max_unpooling(
    x: np.ndarray, indices: np.ndarray, filt: tuple[int, int], stride: tuple[int, int]
) -> np.ndarray:
    """``MaxUnpooling2D``: each value back at its window position, zeros elsewhere."""
    n, h, w, c = x.shape
    (fh, fw), (sh, sw) = filt, stride
    out_h, out_w = h * fh, w * fw
    pad_h, pad_w = _padding(sh, out_h, fh, h), _padding(sw, out_w, fw, w)
    out = np.zeros((n, out_h, out_w, c), np.float32)
    for b in range(n):
        for iy in range(h):
            for ix in range(w):
                for ch in range(c):
                    idx = int(indices[b, iy, ix, ch])
                    oy = iy * sh - pad_h + idx // fw
                    ox = ix * sw - pad_w + idx % fw
                    out[b, oy, ox, ch] = x[b, iy, ix, ch]
    return out
