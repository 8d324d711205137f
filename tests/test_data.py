"""Data sources: the offline ones, and CIFAR / ImageFolder readers on small fake folders."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from peppp_bench.generate.data import DataError, DataSpec, load_data  # noqa: E402
from peppp_bench.suites.build import CIFAR100_PARTITIONS  # noqa: E402


def _batch(path: Path, n: int, labels_key: bytes, classes: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    data = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), labels_key: rng.integers(0, classes, n).tolist()}
    path.write_bytes(pickle.dumps(data))


def test_cifar10_from_the_python_batches(tmp_path: Path) -> None:
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    for i in range(1, 6):
        _batch(base / f"data_batch_{i}", 20, b"labels", 10, i)
    _batch(base / "test_batch", 10, b"labels", 10, 9)
    d = load_data(DataSpec("cifar10", {"root": str(tmp_path)}))
    assert d.x_train.shape == (100, 3, 32, 32) and d.x_test.shape == (10, 3, 32, 32) and d.classes == 10
    assert 0 <= d.x_train.min() and d.x_train.max() <= 1


def test_cifar100_partition_remaps_labels_class_by_class(tmp_path: Path) -> None:
    base = tmp_path / "cifar-100-python"
    base.mkdir()
    _batch(base / "train", 3000, b"fine_labels", 100, 1)
    _batch(base / "test", 600, b"fine_labels", 100, 2)
    d = load_data(DataSpec("cifar100-partition", {"root": str(tmp_path), "partition": "fish"}))
    ids = dict(CIFAR100_PARTITIONS)["fish"]
    raw = pickle.loads((base / "train").read_bytes())
    expected = sum(int(np.sum(np.array(raw[b"fine_labels"]) == c)) for c in ids)
    assert d.x_train.shape[0] == expected and d.classes == 5
    assert (np.diff(d.y_train.numpy()) >= 0).all()  # grouped class by class, in the listed order
    with pytest.raises(DataError, match="unknown CIFAR-100 partition 'sharks'"):
        load_data(DataSpec("cifar100-partition", {"root": str(tmp_path), "partition": "sharks"}))


def test_image_folder_resize_and_centre_crop(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", 3), ("val", 2)):
        for cls in ("cats", "dogs", "owls"):
            folder = tmp_path / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    d = load_data(DataSpec("image-folder", {"root": str(tmp_path), "resolution": 64}))
    assert d.x_train.shape == (9, 3, 64, 64) and d.x_test.shape == (6, 3, 64, 64) and d.classes == 3
    two = load_data(DataSpec("image-folder", {"root": str(tmp_path), "classes": ["owls", "cats"]}))
    assert two.classes == 2 and sorted(set(two.y_train.tolist())) == [0, 1]
    with pytest.raises(DataError, match="not folders"):
        load_data(DataSpec("image-folder", {"root": str(tmp_path), "classes": ["emus"]}))


def test_offline_sources() -> None:
    digits = load_data(DataSpec("digits", {"classes": [1, 7]}))
    assert digits.shape == (1, 8, 8) and digits.classes == 2 and not digits.flip
    patches = load_data(
        DataSpec(
            "photo-patches", {"photos": ["camera", "coins"], "patch": 8, "train_per_class": 10, "test_per_class": 4}
        )
    )
    assert patches.x_train.shape == (20, 1, 8, 8) and patches.x_test.shape == (8, 1, 8, 8)
    colour = load_data(DataSpec("photo-patches", {"photos": ["astronaut", "camera"], "patch": 8, "colour": True}))
    assert colour.shape == (3, 8, 8)
    lfw = load_data(DataSpec("lfw", {"size": 12}))
    assert lfw.shape == (1, 12, 12) and lfw.x_train.shape[0] + lfw.x_test.shape[0] == 200
    with pytest.raises(DataError, match="unknown photograph"):
        load_data(DataSpec("photo-patches", {"photos": ["mona-lisa", "camera"]}))
    with pytest.raises(DataError, match="does not exist"):
        load_data(DataSpec("cifar10", {"root": "/nonexistent"}))


def test_gain_scales_every_sources_pixels_and_refuses_nonsense() -> None:
    plain = load_data(DataSpec("digits", {"classes": [1, 7]}))
    loud = load_data(DataSpec("digits", {"classes": [1, 7], "gain": 16}))
    assert torch.equal(loud.x_train, plain.x_train * 16) and torch.equal(loud.x_test, plain.x_test * 16)
    assert torch.equal(loud.y_train, plain.y_train) and "times 16" in loud.description
    quiet = load_data(DataSpec("photo-patches", {"photos": ["camera", "coins"], "patch": 8, "gain": 0.0625}))
    assert 0 < float(quiet.x_train.max()) <= 0.0625
    for bad in (0, -1, "2", True, 1e9):
        with pytest.raises(DataError, match="gain must be a number"):
            load_data(DataSpec("digits", {"gain": bad}))
