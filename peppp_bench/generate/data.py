"""Image classification data behind one interface: arrays in memory, named and described.

Offline sources that install with packages: scikit-learn's digits, scikit-image's bundled photographs
(patch classification: a patch is labelled by the photograph it comes from) and its LFW subset (faces
versus non-faces). Folder sources: CIFAR-10, the CIFAR-100
superclass partitions of spec §1.1 (read from the CIFAR python-version files) and ImageFolder trees
(DECA, ImageNet 64×64 partitions; read with Pillow), all from local folders.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..suites.build import CIFAR100_PARTITIONS, slug

COLOUR_PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "colorwheel",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "rocket",
)
GREY_PHOTOS = (
    "brick",
    "camera",
    "clock",
    "coins",
    "grass",
    "gravel",
    "moon",
    "page",
    "text",
    "cell",
    "shepp_logan_phantom",
)
SOURCES = ("digits", "photo-patches", "lfw", "cifar10", "cifar100-partition", "image-folder")


@dataclass(frozen=True)
class DataSpec:
    """What to load: a source and its options (e.g. classes, photos, patch size, colour, sizes, seed).

    Every source also takes `gain`: pixel values are multiplied by it (default 1), the way raw sensor
    units or unnormalised inputs reach a network. Without normalisation the formats' ranges then meet
    different activation scales on different tasks.
    """

    source: str
    options: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        return f"{self.source}({', '.join(f'{k}={v}' for k, v in sorted(self.options.items()))})"


@dataclass(frozen=True, eq=False)
class ImageData:
    """A classification task in memory: float32 images in [0, gain], shape (N, C, H, W), integer labels."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: int
    flip: bool  # horizontal flips keep the label (not true of digits)
    description: str
    source: str = ""  # the DataSpec source it was loaded from (recipes' quirks key on it)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]


class DataError(ValueError):
    """A data source is unknown, misconfigured or missing on disk."""


def load_data(spec: DataSpec, name: str | None = None) -> ImageData:
    """Load the task `spec` describes; fails before any training with a message saying what to fix."""
    loaders = {
        "digits": _digits,
        "photo-patches": _photo_patches,
        "lfw": _lfw,
        "cifar10": _cifar10,
        "cifar100-partition": _cifar100_partition,
        "image-folder": _image_folder,
    }
    if spec.source not in loaders:
        raise DataError(f"unknown data source {spec.source!r}: choose from {', '.join(SOURCES)}")
    allowed = [*inspect.signature(loaders[spec.source]).parameters, "gain"]
    unknown = sorted(set(spec.options) - set(allowed))
    if unknown:
        raise DataError(f"unknown option(s) {unknown} for source {spec.source!r}; allowed: {allowed}")
    options = dict(spec.options)
    gain = options.pop("gain", 1.0)
    if isinstance(gain, bool) or not isinstance(gain, int | float) or not 0 < gain < 1e6:
        raise DataError(f"gain must be a number in (0, 1e6), got {gain!r}")
    x_train, y_train, x_test, y_test, classes, flip, description = loaders[spec.source](**options)
    if gain != 1.0:
        x_train, x_test = x_train * float(gain), x_test * float(gain)
        description += f", pixel values times {gain}"
    name = name or spec.describe()
    return ImageData(name, x_train, y_train, x_test, y_test, classes, flip, description, source=spec.source)


def _tensor(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def _labels(y: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(y, dtype=np.int64))


def _digits(classes: list[int] | None = None, test_fraction: float = 0.3, seed: int = 0) -> tuple:
    """scikit-learn's 8×8 handwritten digits (1,797 images), a subset of the ten classes."""
    from sklearn.datasets import load_digits

    d = load_digits()
    classes = list(range(10)) if classes is None else list(classes)
    if len(classes) < 2 or not set(classes) <= set(range(10)):
        raise DataError(f"digits classes must be at least two of 0..9, got {classes}")
    keep = np.isin(d.target, classes)
    x = d.images[keep][:, None] / 16.0
    y = np.searchsorted(classes, d.target[keep])
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    test, train = order[:n_test], order[n_test:]
    return (
        _tensor(x[train]),
        _labels(y[train]),
        _tensor(x[test]),
        _labels(y[test]),
        len(classes),
        False,
        f"scikit-learn digits, classes {classes}, 8x8 grey, {len(train)} train / {len(test)} test",
    )


def _photo(name: str, colour: bool) -> np.ndarray:
    import skimage.color
    import skimage.data

    if name not in COLOUR_PHOTOS + GREY_PHOTOS:
        raise DataError(f"unknown photograph {name!r}: choose from {', '.join(COLOUR_PHOTOS + GREY_PHOTOS)}")
    img = np.asarray(getattr(skimage.data, name)(), dtype=np.float64)
    if img.max() > 1:
        img = img / 255.0
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2) if colour else img[..., None]
    elif not colour:
        img = skimage.color.rgb2gray(img[..., :3])[..., None]
    return img[..., :3] if colour else img


def _photo_patches(
    photos: list[str],
    patch: int = 16,
    colour: bool = False,
    scale: float = 1.0,
    train_per_class: int = 96,
    test_per_class: int = 32,
    seed: int = 0,
) -> tuple:
    """Random patches of scikit-image's photographs, labelled by photograph; train patches from the top
    three quarters of each photograph, test patches from the bottom quarter (no overlap)."""
    import skimage.transform

    if len(photos) < 2:
        raise DataError(f"patch classification needs at least two photographs, got {photos}")
    rng = np.random.default_rng(seed)
    xs_tr, ys_tr, xs_te, ys_te = [], [], [], []
    for label, name in enumerate(photos):
        img = _photo(name, colour)
        if scale != 1.0:
            img = skimage.transform.rescale(img, scale, channel_axis=2, anti_aliasing=True)
        h, w = img.shape[:2]
        split = int(h * 0.75)
        for rows, n, xs, ys in (
            ((0, split), train_per_class, xs_tr, ys_tr),
            ((split, h), test_per_class, xs_te, ys_te),
        ):
            if rows[1] - rows[0] < patch or w < patch:
                raise DataError(f"photograph {name} at scale {scale} is too small for {patch}px patches")
            r = rng.integers(rows[0], rows[1] - patch + 1, n)
            c = rng.integers(0, w - patch + 1, n)
            xs.extend(img[i : i + patch, j : j + patch].transpose(2, 0, 1) for i, j in zip(r, c))
            ys.extend([label] * n)
    kind = "colour" if colour else "grey"
    return (
        _tensor(np.stack(xs_tr)),
        _labels(ys_tr),
        _tensor(np.stack(xs_te)),
        _labels(ys_te),
        len(photos),
        True,
        f"scikit-image photographs {photos} as {patch}x{patch} {kind} patches (scale {scale}), "
        f"{train_per_class}/{test_per_class} train/test per class",
    )


def _lfw(size: int = 24, test_fraction: float = 0.3, seed: int = 0) -> tuple:
    """scikit-image's LFW subset: 100 faces and 100 non-faces, 25×25 grey, resized to `size`."""
    import skimage.data
    import skimage.transform

    imgs = skimage.data.lfw_subset()
    if size != imgs.shape[1]:
        imgs = np.stack([skimage.transform.resize(im, (size, size), anti_aliasing=True) for im in imgs])
    y = np.array([1] * 100 + [0] * 100)
    order = np.random.default_rng(seed).permutation(200)
    n_test = int(round(test_fraction * 200))
    test, train = order[:n_test], order[n_test:]
    x = imgs[:, None]
    return (
        _tensor(x[train]),
        _labels(y[train]),
        _tensor(x[test]),
        _labels(y[test]),
        2,
        True,
        f"scikit-image LFW subset (faces vs non-faces), {size}x{size} grey, {len(train)} train / {len(test)} test",
    )


def _unpickle(path: Path) -> dict:
    import pickle

    if not path.is_file():
        raise DataError(
            f"{path} does not exist: put the CIFAR python version (the extracted archive from the "
            "CIFAR website, or torchvision's download) under the given root"
        )
    with open(path, "rb") as f:
        return pickle.load(f, encoding="bytes")


def _cifar(root: str, hundred: bool) -> tuple:
    """The CIFAR python-version batches, read directly (no torchvision needed)."""
    base = Path(root) / ("cifar-100-python" if hundred else "cifar-10-batches-py")
    if not base.is_dir():
        raise DataError(f"CIFAR folder {base} does not exist: extract the CIFAR python version under {root}")
    key = b"fine_labels" if hundred else b"labels"
    names = (["train"], ["test"]) if hundred else ([f"data_batch_{i}" for i in range(1, 6)], ["test_batch"])

    def read(files: list[str]) -> tuple[np.ndarray, np.ndarray]:
        batches = [_unpickle(base / f) for f in files]
        x = np.concatenate([b[b"data"] for b in batches]).reshape(-1, 3, 32, 32).astype(np.float32) / 255.0
        return x, np.concatenate([np.asarray(b[key]) for b in batches])

    return (*read(names[0]), *read(names[1]))


def _cifar10(root: str) -> tuple:
    xtr, ytr, xte, yte = _cifar(root, hundred=False)
    return _tensor(xtr), _labels(ytr), _tensor(xte), _labels(yte), 10, True, f"CIFAR-10 from {root}"


def _cifar100_partition(root: str, partition: str) -> tuple:
    """A CIFAR-100 superclass partition (spec §1.1): five fine labels remapped 0-4 in the listed order,
    the images grouped class by class as the authors built them (the peppp2022 recipe keeps this order)."""
    labels = {slug(name): ids for name, ids in CIFAR100_PARTITIONS}
    if slug(partition) not in labels:
        raise DataError(f"unknown CIFAR-100 partition {partition!r}: choose from {', '.join(labels)}")
    ids = labels[slug(partition)]
    xtr, ytr, xte, yte = _cifar(root, hundred=True)

    def pick(x: np.ndarray, y: np.ndarray) -> tuple:
        idx = np.concatenate([np.flatnonzero(y == c) for c in ids])
        return _tensor(x[idx]), _labels(np.array([ids.index(int(c)) for c in y[idx]]))

    return (*pick(xtr, ytr), *pick(xte, yte), 5, True, f"CIFAR-100 partition {partition} {list(ids)} from {root}")


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".webp")


def _image_folder(root: str, resolution: int = 64, classes: list[str] | None = None) -> tuple:
    """An ImageFolder tree (root/train/CLASS/*.png, root/val/CLASS/*.png: DECA, ImageNet 64×64 partitions),
    read with Pillow: shorter side resized to resolution·9/8, then the centre resolution² crop (spec §4)."""
    from PIL import Image

    base = Path(root)
    if not (base / "train").is_dir() or not (base / "val").is_dir():
        raise DataError(f"{root} must hold train/ and val/ folders with one subfolder per class")
    names = sorted(p.name for p in (base / "train").iterdir() if p.is_dir())
    if classes is not None:
        missing = set(classes) - set(names)
        if missing:
            raise DataError(f"classes {sorted(missing)} are not folders of {base / 'train'}")
        names = [c for c in names if c in classes]
    size = resolution * 9 // 8

    def read(split: str) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        for label, name in enumerate(names):
            for f in sorted((base / split / name).glob("*")):
                if f.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                img = Image.open(f).convert("RGB")
                w, h = img.size
                scale = size / min(w, h)
                img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BILINEAR)
                w, h = img.size
                left, top = (w - resolution) // 2, (h - resolution) // 2
                img = img.crop((left, top, left + resolution, top + resolution))
                xs.append(np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 255.0)
                ys.append(label)
        if not xs:
            raise DataError(f"no images in {base / split}")
        return np.stack(xs), np.array(ys)

    xtr, ytr = read("train")
    xte, yte = read("val")
    return (
        _tensor(xtr),
        _labels(ytr),
        _tensor(xte),
        _labels(yte),
        len(names),
        True,
        f"ImageFolder {root} ({len(names)} classes) at {resolution}px",
    )
