"""A tiny CNN that tells circles, squares and triangles apart, with its data and training loop.

It exists to give pruning, quantisation and export tests a *trained* network that trains in
seconds on a CPU. The data are crops of the shapes in generated scenes
(:func:`visionflow.zoo.scenes.render_scene`): every shape at least :data:`MIN_SHAPE_SIZE` pixels
across is cut out with a square window 1.25 times its box, centred on it, and resized to
``size x size``. Crops keep the scene's background, clutter, blur, noise and neighbouring shapes,
so the task is not trivial: top-1 accuracy is about 0.99 after five epochs on 2,000 crops.

torch must be installed to import this module.
"""

from __future__ import annotations

import cv2
import numpy as np

from visionflow.errors import ConfigError, MissingDependencyError
from visionflow.zoo.scenes import CLASSES, render_scene

try:
    import torch
    from torch import nn
except ImportError as err:
    raise MissingDependencyError("torch", "torch", "The shapes classifier") from err

CROP_SIZE = 32
"""Side of the square crops the classifier takes, in pixels."""
WIDTHS = (16, 32, 64, 128)
"""Output channels of the classifier's convolution stages."""
MIN_SHAPE_SIZE = 12.0
"""Shapes whose box is smaller than this, in scene pixels, are not cropped."""
_SCENE_SIZE = (256, 192)
_CONTEXT = 1.25
"""Side of a crop window over the longer side of the shape's box."""


def make_crops(seed: int, count: int, size: int = CROP_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Crops of single shapes from seeded scenes, and their classes.

    Scenes are rendered at 256x192 from ``numpy.random.default_rng(seed)`` until ``count`` shapes
    have been cut out. Windows that reach past the image edge repeat the border pixels.

    Returns:
        ``images (count, 3, size, size) uint8`` RGB, NCHW, and ``labels (count,) int64``
        indices into :data:`visionflow.zoo.scenes.CLASSES`.
    """
    if count < 1:
        raise ConfigError("at least one crop is needed", key="count", value=str(count))
    if size < 8:
        raise ConfigError("crops must be at least 8 pixels wide", key="size", value=str(size))
    rng = np.random.default_rng(seed)
    crops: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    cropped = 0
    while cropped < count:
        image, truth = render_scene(rng, *_SCENE_SIZE)
        lows, highs = truth.xyxy[:, :2], truth.xyxy[:, 2:]
        sides = (highs - lows).max(axis=1)
        keep = sides >= MIN_SHAPE_SIZE
        scales = size / (_CONTEXT * sides[keep])
        shifts = size / 2 - scales[:, None] * (lows[keep] + highs[keep]) / 2
        for scale, (dx, dy) in zip(scales, shifts, strict=True):
            warp = np.array([[scale, 0.0, dx], [0.0, scale, dy]], np.float32)
            crops.append(
                cv2.warpAffine(
                    image,
                    warp,
                    (size, size),
                    flags=cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE,
                )
            )
        labels.append(truth.class_id[keep])
        cropped += int(keep.sum())
    images = np.stack(crops[:count]).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(images), np.concatenate(labels)[:count].astype(np.int64)


class ConvBlock(nn.Module):
    """Conv2d 3x3 (no bias) → BatchNorm2d → ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class ShapesClassifier(nn.Module):
    """Five conv blocks (strides 2, 1, 2, 1, 2), global average pooling, a linear head.

    Input ``(N, 3, H, W) float32`` RGB scaled to [0, 1] (trained at 32x32); output ``(N, 3)``
    logits over :data:`visionflow.zoo.scenes.CLASSES`. 135 k parameters, 6.1 M MACs at 32x32.
    """

    def __init__(self, widths: tuple[int, int, int, int] = WIDTHS) -> None:
        super().__init__()
        w0, w1, w2, w3 = widths
        self.features = nn.Sequential(
            ConvBlock(3, w0, 2),
            ConvBlock(w0, w1, 1),
            ConvBlock(w1, w2, 2),
            ConvBlock(w2, w2, 1),
            ConvBlock(w2, w3, 2),
        )
        self.head = nn.Linear(w3, len(CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3)))


def build_shapes_classifier(seed: int = 0) -> ShapesClassifier:
    """An untrained :class:`ShapesClassifier` with weights seeded by ``seed``, in eval mode.

    The global torch random state is left as it was.
    """
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return ShapesClassifier().eval()


def train_classifier(
    model: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    epochs: int,
    lr: float = 5e-3,
    batch_size: int = 64,
    seed: int = 0,
) -> None:
    """Train ``model`` in place with AdamW, a one-cycle schedule and cross-entropy.

    Also serves as a fine-tuning loop after pruning (fewer epochs, lower ``lr``). Uses the
    caller's torch thread settings; leaves the model in eval mode.

    Args:
        model: maps ``(N, 3, H, W) float32`` in [0, 1] to ``(N, classes)`` logits.
        images: ``(M, 3, H, W) uint8``, as :func:`make_crops` returns them.
        labels: ``(M,) int64`` class ids.
        epochs: passes over the data; the last incomplete batch of each pass is dropped.
    """
    steps = len(images) // batch_size
    if epochs < 1:
        raise ConfigError("training needs at least one epoch", key="epochs", value=str(epochs))
    if steps < 1:
        raise ConfigError(
            f"training needs at least one batch of {batch_size} images",
            key="images",
            value=str(len(images)),
        )
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.from_numpy(images)
    targets = torch.from_numpy(labels)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=epochs * steps)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=generator)[: steps * batch_size]
        for batch in order.view(steps, batch_size):
            loss = nn.functional.cross_entropy(model(inputs[batch] / 255.0), targets[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    model.eval()


@torch.inference_mode()
def top1_accuracy(
    model: nn.Module, images: np.ndarray, labels: np.ndarray, batch_size: int = 500
) -> float:
    """Fraction of ``images`` ``(M, 3, H, W) uint8`` whose arg-max logit is the label ``(M,)``.

    The model runs in eval mode and is left in the mode it was in.
    """
    was_training = model.training
    model.eval()
    predictions = [
        model(torch.from_numpy(images[i : i + batch_size]) / 255.0).argmax(dim=1)
        for i in range(0, len(images), batch_size)
    ]
    model.train(was_training)
    return float((torch.cat(predictions).numpy() == labels).mean())
