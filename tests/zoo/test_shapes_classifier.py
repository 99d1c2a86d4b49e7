from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from visionflow.errors import ConfigError  # noqa: E402
from visionflow.zoo.scenes import render_scene  # noqa: E402
from visionflow.zoo.shapes_classifier import (  # noqa: E402
    MIN_SHAPE_SIZE,
    build_shapes_classifier,
    make_crops,
    top1_accuracy,
    train_classifier,
)

pytestmark = pytest.mark.torch


def test_crops_are_the_first_scene_shapes_centred_and_labelled() -> None:
    image, truth = render_scene(np.random.default_rng(7), 256, 192)
    sides = (truth.xyxy[:, 2:] - truth.xyxy[:, :2]).max(axis=1)
    large = sides >= MIN_SHAPE_SIZE
    count = int(large.sum())

    crops, labels = make_crops(seed=7, count=count, size=32)

    assert crops.shape == (count, 3, 32, 32)
    assert crops.dtype == np.uint8
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, truth.class_id[large])
    # Pixel (15.5, 15.5) of a crop is the centre of the shape's box; shapes are filled, so the
    # crop's centre shows the shape's colour, as the scene does at the box centre.
    centres = (truth.xyxy[large, :2] + truth.xyxy[large, 2:]) / 2
    for crop, (cx, cy) in zip(crops, centres, strict=True):
        x, y = round(float(cx)), round(float(cy))
        scene = image[y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3).astype(int).mean(axis=0)
        cropped = crop[:, 15:17, 15:17].reshape(3, -1).astype(int).mean(axis=1)
        assert np.abs(scene - cropped).max() < 40


def test_crops_are_seeded_and_cover_every_class() -> None:
    first, labels = make_crops(seed=3, count=300)
    again, labels_again = make_crops(seed=3, count=300)
    other, _ = make_crops(seed=4, count=300)

    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(labels, labels_again)
    assert not np.array_equal(first, other)
    assert np.bincount(labels, minlength=3).min() > 60


@pytest.mark.parametrize(
    ("count", "size", "message"),
    [
        (0, 32, "count = 0: at least one crop is needed"),
        (10, 4, "size = 4: crops must be at least 8 pixels wide"),
    ],
)
def test_bad_crop_requests_are_refused(count: int, size: int, message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{message}$"):
        make_crops(seed=0, count=count, size=size)


def test_training_fits_a_small_set() -> None:
    images, labels = make_crops(seed=0, count=256)
    model = build_shapes_classifier(seed=0)
    untrained = top1_accuracy(model, images, labels)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train_classifier(model, images, labels, epochs=15, lr=1e-2)
    finally:
        torch.set_num_threads(threads)

    assert not model.training
    assert untrained < 0.5
    assert top1_accuracy(model, images, labels) > 0.85  # measured 0.96
    with pytest.raises(
        ConfigError, match=r"^images = 10: training needs at least one batch of 64 images$"
    ):
        train_classifier(model, images[:10], labels[:10], epochs=1)


def test_the_classifier_is_seeded_and_leaves_the_global_generator_alone() -> None:
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    a, b = build_shapes_classifier(seed=5), build_shapes_classifier(seed=5)

    assert torch.equal(torch.random.get_rng_state(), state)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
    assert sum(p.numel() for p in a.parameters()) == 135_059
    assert a(torch.rand(2, 3, 32, 32)).shape == (2, 3)
