"""Small models from other frameworks with the output layouts of real model families, for the
"no parser code" walkthrough of docs/parsers.md.

Each model really looks at the image: it finds the bright square of :func:`square_image` (mean
channel value above mid-grey) and reports it in its family's layout —

* :func:`square_yolo` (PyTorch → ONNX): a YOLOv8 head ``(1, 4 + 2, A)``; anchor 0 holds the square
  as class 0 (score 0.9), anchor 1 the same box as class 1 (score 0.6), the rest score 0;
* :func:`square_blazeface` (TensorFlow → TFLite): BlazeFace's outputs ``regressors (1, 896, 16)``
  and ``classificators (1, 896, 1)``: every anchor whose centre lies on the square scores
  logit 5 and regresses the square's box (x, y, w, h in pixels, relative to its anchor centre)
  and two keypoints, the square's top-left and bottom-right corners;
* :func:`square_segmenter` (PyTorch → ONNX): ``(1, 2, H/4, W/4)`` class probabilities
  (1 = square, 0 = background).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SIZE = 128
SQUARE = (40, 32, 88, 64)  # x1, y1, x2, y2 of the square in the 128 × 128 image


def square_image(path: Path) -> Path:
    """A 128 × 128 PNG: dark grey with a white square at :data:`SQUARE`."""
    import cv2

    image = np.full((SIZE, SIZE, 3), 30, np.uint8)
    x1, y1, x2, y2 = SQUARE
    image[y1:y2, x1:x2] = 255
    cv2.imwrite(str(path), image)
    return path


def _torch_square(x: object) -> tuple[object, ...]:
    """mask (N, H, W), area, centre x/y, width, height of the bright region (PyTorch)."""
    import torch

    assert isinstance(x, torch.Tensor)
    mask = (x.mean(1) > 0.5).float()
    height, width = mask.shape[1:]
    area = mask.sum((1, 2)).clamp(min=1)
    xs = torch.arange(width, dtype=torch.float32).view(1, 1, width)
    ys = torch.arange(height, dtype=torch.float32).view(1, height, 1)
    cx = (mask * xs).sum((1, 2)) / area + 0.5
    cy = (mask * ys).sum((1, 2)) / area + 0.5
    w = mask.amax(1).sum(1)
    h = mask.amax(2).sum(1)
    return mask, area, cx, cy, w, h


def square_yolo(path: Path, anchors: int = 32) -> Path:
    """A YOLOv8-layout detector, exported from PyTorch (input ``images`` 1×3×128×128, 0-1)."""
    import torch

    from visionflow.convert.importers.torch import import_torch

    class SquareYolo(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            _, _, cx, cy, w, h = _torch_square(x)
            box = torch.stack([cx, cy, w, h], 1).unsqueeze(2)  # (N, 4, 1)
            scores = torch.zeros(x.shape[0], 2, anchors)
            scores[:, 0, 0] = 0.9
            scores[:, 1, 1] = 0.6
            present = (w > 0).float().view(-1, 1, 1)
            return torch.cat([box.expand(-1, 4, anchors), scores * present], 1)

    import_torch(SquareYolo().eval(), path, torch.rand(1, 3, SIZE, SIZE))
    return path


def square_segmenter(path: Path) -> Path:
    """A two-class semantic segmenter at a quarter of the input, exported from PyTorch."""
    import torch

    from visionflow.convert.importers.torch import import_torch

    class SquareSegmenter(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            mask = _torch_square(x)[0].unsqueeze(1)
            square = torch.nn.functional.avg_pool2d(mask, 4)
            return torch.cat([1 - square, square], 1)

    import_torch(SquareSegmenter().eval(), path, torch.rand(1, 3, SIZE, SIZE))
    return path


def blazeface_anchor_centres() -> np.ndarray:
    """(896, 2) anchor centres in pixels, written out from BlazeFace's layout (stride 8: 16×16
    cells × 2 anchors; stride 16: 8×8 cells × 6 anchors; centres at cell middles)."""
    centres = []
    for cells, per_cell in ((16, 2), (8, 6)):
        step = SIZE / cells
        for row in range(cells):
            for col in range(cells):
                centres += [((col + 0.5) * step, (row + 0.5) * step)] * per_cell
    return np.array(centres, np.float32)


def square_blazeface(path: Path) -> Path:
    """A BlazeFace-layout detector as TFLite (input 1×128×128×3 NHWC in [-1, 1])."""
    import tensorflow as tf

    centres = blazeface_anchor_centres()
    cells = np.floor(centres).astype(np.int32)[:, ::-1]  # row, col of each anchor centre

    @tf.function(input_signature=[tf.TensorSpec([1, SIZE, SIZE, 3], tf.float32)])
    def detect(x: tf.Tensor) -> dict[str, tf.Tensor]:
        mask = tf.cast(tf.reduce_mean(x, -1) > 0.0, tf.float32)[0]  # (H, W)
        area = tf.maximum(tf.reduce_sum(mask), 1.0)
        xs = tf.range(SIZE, dtype=tf.float32)
        cx = tf.reduce_sum(mask * xs[None, :]) / area + 0.5
        cy = tf.reduce_sum(mask * xs[:, None]) / area + 0.5
        w = tf.reduce_sum(tf.reduce_max(mask, 0))
        h = tf.reduce_sum(tf.reduce_max(mask, 1))
        on_square = tf.gather_nd(mask, cells)  # (896,)
        dx, dy = cx - centres[:, 0], cy - centres[:, 1]
        size = [tf.fill([896], w), tf.fill([896], h)]
        corners = [dx - w / 2, dy - h / 2, dx + w / 2, dy + h / 2]  # keypoints, x first
        regressors = tf.concat([tf.stack([dx, dy, *size, *corners], 1), tf.zeros([896, 8])], 1)
        regressors = regressors[None]
        logits = (10.0 * on_square - 5.0)[None, :, None]
        return {"regressors": regressors, "classificators": logits}

    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [detect.get_concrete_function()], detect
    )
    path.write_bytes(converter.convert())
    return path


def square_single_box(path: Path) -> Path:
    """A model with one output ``(1, 5)``: score, cx, cy, w, h relative to the input (PyTorch),
    for the custom-parser example of docs/parsers.md."""
    import torch

    from visionflow.convert.importers.torch import import_torch

    class SingleBox(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            _, area, cx, cy, w, h = _torch_square(x)
            score = (area > 1).float() * 0.8
            return torch.stack([score, cx / SIZE, cy / SIZE, w / SIZE, h / SIZE], 1)

    import_torch(SingleBox().eval(), path, torch.rand(1, 3, SIZE, SIZE))
    return path
