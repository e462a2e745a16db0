"""Image-classification datasets as NumPy arrays: MNIST, Fashion-MNIST, CIFAR-10, and a small
real Fashion-MNIST subset shipped inside the package.

>>> import minifloat as mf
>>> ds = mf.data.load("bundled")                   # offline, ships with the package
>>> ds.train_images.shape, ds.train_images.dtype   # NCHW uint8
((5000, 1, 28, 28), dtype('uint8'))
>>> x_train, y_train, x_test, y_test = ds.float32()  # normalised float32, int64 labels

Files are the official ones, read from a local folder: the ``root`` argument, else the
``MINIFLOAT_DATA`` environment variable, else ``~/.cache/minifloat/datasets``. Inside that
folder a dataset may sit in its own sub-folder (``mnist/``, ``fashion-mnist/``,
``cifar-10-batches-bin/``) or directly. When the files are missing and ``download=True``, they
are downloaded from the dataset authors' locations into ``<folder>/<name>/`` and checked
against the authors' published MD5 checksums before being kept.

Every reader validates the whole file (gzip stream, IDX magic and dimensions, exact byte
counts, label range) and raises ``ValueError`` naming the file on any mismatch, so a corrupt
or truncated file never yields a partial array. A missing file raises ``FileNotFoundError``
(an ``OSError``).
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import pickle
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]

#: Names accepted by :func:`load`.
DATASETS = ("bundled", "fashion-mnist", "mnist", "cifar10")

#: Environment variable naming the data folder when no ``root`` is given.
ENV_VAR = "MINIFLOAT_DATA"

MNIST_CLASSES = tuple(str(i) for i in range(10))
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")

#: Per-channel mean and standard deviation of the training images scaled to [0, 1] (the
#: statistics of the full official training sets; tests recompute them from the files).
NORMALIZATION: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion-mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
}
NORMALIZATION["bundled"] = NORMALIZATION["fashion-mnist"]

# The four IDX files of MNIST-layout datasets, with the MD5s the authors publish.
_IDX_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
              "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
MD5: dict[str, dict[str, str]] = {
    "mnist": dict(zip(_IDX_FILES, (
        "f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
        "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"))),
    "fashion-mnist": dict(zip(_IDX_FILES, (
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
        "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"))),
    "cifar10": {"cifar-10-binary.tar.gz": "c32a1d4ab5d03f1284b67883e8d87530"},
}

#: The Python version of CIFAR-10 (folder ``cifar-10-batches-py`` inside), the archive most
#: mirrors and frameworks keep: its size and SHA-256 (the value Keras and torchvision check).
#: It is read straight from the archive after the checksum matches.
CIFAR10_PYTHON_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_PYTHON_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_PYTHON_BYTES = 170498071
SHA256: dict[str, dict[str, str]] = {"cifar10": {
    CIFAR10_PYTHON_ARCHIVE: "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"}}

#: Download locations, tried in order (a file is kept only if its MD5 matches). MNIST's own
#: site is often refused to scripts, so the mirror PyTorch uses follows it.
MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": ("https://yann.lecun.com/exdb/mnist/",
              "https://ossci-datasets.s3.amazonaws.com/mnist/"),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    "cifar10": ("https://www.cs.toronto.edu/~kriz/",),
}

_FOLDERS = {"mnist": ("mnist", "MNIST"),
            "fashion-mnist": ("fashion-mnist", "fashion_mnist", "FashionMNIST"),
            "cifar10": ("cifar-10-batches-bin", os.path.join("cifar10", "cifar-10-batches-bin"),
                        os.path.join("cifar-10", "cifar-10-batches-bin"))}
_CIFAR_TRAIN = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
_CIFAR_TEST = "test_batch.bin"
_CIFAR_RECORD = 1 + 3 * 32 * 32
_CIFAR_PER_FILE = 10000

BUNDLED_PATH = Path(__file__).resolve().parent / "datasets" / "fashion_mnist_subset.npz"

_IDX_DTYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


@dataclass(frozen=True)
class Dataset:
    """A train/test split of an image-classification dataset.

    Images are uint8 arrays in NCHW layout (N, channels, height, width); labels are int64
    class indices in ``range(len(classes))``.
    """

    #: Dataset name (one of :data:`DATASETS`).
    name: str
    #: Training images, uint8 (N, C, H, W).
    train_images: np.ndarray
    #: Training labels, int64 (N,).
    train_labels: np.ndarray
    #: Test images, uint8 (M, C, H, W).
    test_images: np.ndarray
    #: Test labels, int64 (M,).
    test_labels: np.ndarray
    #: Class names, index = label.
    classes: tuple[str, ...]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image."""
        c, h, w = self.train_images.shape[1:]
        return (int(c), int(h), int(w))

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    def subset(self, train: int | None = None, test: int | None = None, *,
               seed: int | None = None) -> Dataset:
        """The first ``train``/``test`` examples (``None`` keeps all), or with ``seed`` a
        class-balanced random choice of that many (as equal per class as the count allows)."""
        for pname, n in (("train", train), ("test", test)):
            if n is not None and (not isinstance(n, (int, np.integer)) or isinstance(n, bool)
                                  or n < 1):
                raise ValueError(f"subset: {pname} must be a positive integer or None, got {n!r}")
        tr = _pick(self.train_labels, train, seed, self.num_classes)
        te = _pick(self.test_labels, test, seed, self.num_classes)
        return replace(self, train_images=self.train_images[tr], train_labels=self.train_labels[tr],
                       test_images=self.test_images[te], test_labels=self.test_labels[te])

    def float32(self, normalize: bool = True
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(x_train, y_train, x_test, y_test): images as float32 in [0, 1], then (with
        ``normalize``) standardised per channel with :data:`NORMALIZATION` of this dataset."""
        if normalize:
            mean, std = NORMALIZATION.get(self.name, channel_stats(self.train_images))
            return (normalize_images(self.train_images, mean, std), self.train_labels,
                    normalize_images(self.test_images, mean, std), self.test_labels)
        return (to_float32(self.train_images), self.train_labels,
                to_float32(self.test_images), self.test_labels)


def _pick(labels: np.ndarray, n: int | None, seed: int | None, num_classes: int) -> np.ndarray:
    total = labels.shape[0]
    if n is None or n >= total:
        return np.arange(total)
    if seed is None:
        return np.arange(n)
    return balanced_indices(labels, n, seed=seed, num_classes=num_classes)


def balanced_indices(labels: np.ndarray, n: int, *, seed: int, num_classes: int = 10
                     ) -> np.ndarray:
    """``n`` sorted indices into ``labels``, as equally many per class as possible, chosen at
    random (NumPy ``default_rng(seed)``) within each class. Classes with too few examples give
    all they have and the rest is spread over the others."""
    labels = np.asarray(labels)
    if n > labels.shape[0]:
        raise ValueError(f"balanced_indices: n={n} exceeds the {labels.shape[0]} labels")
    rng = np.random.default_rng(seed)
    pools = [rng.permutation(np.flatnonzero(labels == c)) for c in range(num_classes)]
    take = [0] * num_classes
    left = n
    while left > 0:
        open_ = [c for c in range(num_classes) if take[c] < len(pools[c])]
        share, extra = divmod(left, len(open_))
        for i, c in enumerate(open_):
            k = min(share + (1 if i < extra else 0), len(pools[c]) - take[c])
            take[c] += k
            left -= k
    chosen = np.concatenate([pools[c][:take[c]] for c in range(num_classes)])
    return np.sort(chosen)


# ---------------------------------------------------------------------------------------------
# normalisation helpers

def to_float32(images: np.ndarray) -> np.ndarray:
    """uint8 images as float32 in [0, 1] (x / 255)."""
    a = np.asarray(images)
    if a.dtype != np.uint8:
        raise TypeError(f"to_float32: images must be uint8, got {a.dtype}")
    return a.astype(np.float32) / np.float32(255.0)  # correctly rounded x/255


def normalize_images(images: np.ndarray, mean: Sequence[float] | float,
                     std: Sequence[float] | float) -> np.ndarray:
    """float32 ``(images / 255 - mean) / std`` with ``mean``/``std`` per channel (axis 1 of
    NCHW) or scalars."""
    x = to_float32(images)
    if x.ndim != 4:
        raise ValueError(f"normalize_images: images must be NCHW (4-D), got shape {x.shape}")
    m = np.asarray(mean, dtype=np.float32).reshape(-1)
    s = np.asarray(std, dtype=np.float32).reshape(-1)
    c = x.shape[1]
    for pname, v in (("mean", m), ("std", s)):
        if v.size not in (1, c):
            raise ValueError(f"normalize_images: {pname} needs 1 or {c} values, got {v.size}")
    if np.any(s <= 0) or not np.all(np.isfinite(s)):
        raise ValueError("normalize_images: std must be positive and finite")
    shape = (1, -1, 1, 1)
    return (x - m.reshape(shape)) / s.reshape(shape)


def channel_stats(images: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel (mean, std) of uint8 NCHW images scaled to [0, 1], computed in float64."""
    a = np.asarray(images)
    if a.ndim != 4:
        raise ValueError(f"channel_stats: images must be NCHW (4-D), got shape {a.shape}")
    means, stds = [], []
    for c in range(a.shape[1]):
        ch = a[:, c].astype(np.float64) / 255.0
        means.append(float(ch.mean()))
        stds.append(float(ch.std()))
    return tuple(means), tuple(stds)


def batches(images: np.ndarray, labels: np.ndarray, batch_size: int, *, shuffle: bool = True,
            seed: int | None = None, drop_last: bool = False
            ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Mini-batches ``(x, y)``; with ``shuffle``, a permutation from ``default_rng(seed)``."""
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) \
            or batch_size < 1:
        raise ValueError(f"batches: batch_size must be a positive integer, got {batch_size!r}")
    n = len(labels)
    if len(images) != n:
        raise ValueError(f"batches: {len(images)} images but {n} labels")
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for i in range(0, stop, batch_size):
        idx = order[i:i + batch_size]
        yield images[idx], labels[idx]


# ---------------------------------------------------------------------------------------------
# file readers

def _read_bytes(path: Path) -> bytes:
    """The file's content, gunzipped when its name ends in .gz; ValueError on a bad stream."""
    if path.suffix != ".gz":
        return path.read_bytes()
    raw = path.read_bytes()  # FileNotFoundError / PermissionError propagate as OSError
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{path}: not a valid gzip file or truncated ({e})") from None


def read_idx(path: PathLike) -> np.ndarray:
    """An IDX file (gzipped if the name ends in ``.gz``) as a NumPy array in native byte order.

    IDX: two zero bytes, a type byte (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64), the number of dimensions, one big-endian uint32 per
    dimension, then the data, big-endian, C order. The file must hold exactly that many bytes.
    """
    p = Path(path)
    data = _read_bytes(p)
    if len(data) < 4:
        raise ValueError(f"{p}: too short for an IDX header ({len(data)} bytes)")
    if data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{p}: bad IDX magic number 0x{data[:4].hex()}")
    dtype = _IDX_DTYPES[data[2]]
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise ValueError(f"{p}: bad IDX header ({ndim} dimensions, {len(data)} bytes)")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise ValueError(f"{p}: {what}: dimensions {dims} need {expected} bytes, "
                         f"found {len(data)}")
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def _find(names: Sequence[str], folder_names: Sequence[str], root: Path | None
          ) -> Path | None:
    """The first folder that holds every file in ``names`` (a ``.gz`` name is also satisfied
    by the gunzipped file), among ``root/<folder>`` and ``root`` for each candidate root."""
    for base in _roots(root):
        for folder in [*(base / f for f in folder_names), base]:
            if all(_resolve(folder, n) is not None for n in names):
                return folder
    return None


def _roots(root: Path | None) -> list[Path]:
    if root is not None:
        return [root]
    env = os.environ.get(ENV_VAR)
    return [Path(env)] if env else [default_root()]


def default_root() -> Path:
    """Where data is looked for and downloaded when neither ``root`` nor ``MINIFLOAT_DATA``
    is given: ``~/.cache/minifloat/datasets``."""
    return Path.home() / ".cache" / "minifloat" / "datasets"


def _resolve(folder: Path, name: str) -> Path | None:
    p = folder / name
    if p.is_file():
        return p
    if name.endswith(".gz") and (folder / name[:-3]).is_file():
        return folder / name[:-3]
    return None


def md5sum(path: PathLike) -> str:
    """Hex MD5 of a file (the checksum the dataset authors publish)."""
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(url: str, dest: PathLike, md5: str, *, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest``, keeping it only if its MD5 equals ``md5``.

    The data goes to a temporary file in the destination folder first and is renamed into
    place after the check, so an interrupted or corrupt download leaves nothing behind.
    Raises ``OSError`` on network errors and ``ValueError`` on a checksum mismatch.
    """
    d = Path(dest)
    d.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d.parent, prefix=".minifloat-", suffix=".part")
    try:
        h = hashlib.md5()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as r:
            for chunk in iter(lambda: r.read(1 << 20), b""):
                h.update(chunk)
                out.write(chunk)
        if h.hexdigest() != md5:
            raise ValueError(f"{url}: MD5 {h.hexdigest()} does not match the published {md5}")
        os.replace(tmp, d)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return d


def _fetch(name: str, files: Sequence[str], target: Path) -> None:
    """Download ``files`` of dataset ``name`` into ``target``, trying each mirror in turn."""
    for fname in files:
        if (target / fname).is_file():
            continue
        errors = []
        for base in MIRRORS[name]:
            try:
                download(base + fname, target / fname, MD5[name][fname])
                break
            except (OSError, ValueError, http.client.HTTPException) as e:
                errors.append(f"{base + fname}: {e}")
        else:
            raise OSError(f"could not download {fname} for {name} into {target}:\n  "
                          + "\n  ".join(errors))


def _locate(name: str, files: Sequence[str], root: PathLike | None, download: bool,
            fetch: Sequence[str] | None = None) -> Path:
    r = None if root is None else Path(root)
    folder = _find(files, _FOLDERS[name], r)
    if folder is not None:
        return folder
    bases = _roots(r)
    target = bases[0] / _FOLDERS[name][0]
    searched = ", ".join(str(b) for b in bases)
    if not download:
        raise FileNotFoundError(
            f"{name}: files {list(files)} not found under {searched} (looked in the folder "
            f"itself and in {'/'.join(_FOLDERS[name])}/ inside it); pass root=, set "
            f"{ENV_VAR}, or allow download=True")
    if name == "cifar10":
        _fetch_cifar(target.parent)
    else:
        _fetch(name, list(fetch or files), target)
    found = _find(files, _FOLDERS[name], r)
    if found is None:  # pragma: no cover - the download just put them there
        raise FileNotFoundError(f"{name}: files still missing after download into {target}")
    return found


def _check_md5(folder: Path, name: str, files: Sequence[str]) -> None:
    for f in files:
        p = folder / f
        if p.is_file() and f in MD5[name]:
            got = md5sum(p)
            if got != MD5[name][f]:
                raise ValueError(f"{p}: MD5 {got} does not match the published {MD5[name][f]}")


def _load_idx_pair(images_path: Path, labels_path: Path, rows: int, cols: int,
                   num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (rows, cols):
        raise ValueError(f"{images_path}: expected uint8 images of shape (N, {rows}, {cols}), "
                         f"got {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(f"{labels_path}: expected a 1-D uint8 label file, got "
                         f"{labels.dtype} {labels.shape}")
    if labels.shape[0] != images.shape[0]:
        raise ValueError(f"{labels_path}: {labels.shape[0]} labels for {images.shape[0]} images "
                         f"in {images_path.name}")
    if labels.size and int(labels.max()) >= num_classes:
        raise ValueError(f"{labels_path}: label {int(labels.max())} out of range "
                         f"0..{num_classes - 1}")
    return images[:, None, :, :], labels.astype(np.int64)


def load_idx_dataset(name: str, root: PathLike | None = None, *, download: bool = True,
                     verify: bool = False) -> Dataset:
    """MNIST or Fashion-MNIST (``name``) from the four official IDX files.

    ``verify=True`` also checks the MD5 of every ``.gz`` file present against the published one
    (downloads are always checked).
    """
    if name not in ("mnist", "fashion-mnist"):
        raise ValueError(f"load_idx_dataset: name must be 'mnist' or 'fashion-mnist', "
                         f"got {name!r}")
    folder = _locate(name, _IDX_FILES, root, download)
    if verify:
        _check_md5(folder, name, _IDX_FILES)
    paths = [_resolve(folder, f) for f in _IDX_FILES]
    assert all(p is not None for p in paths)
    tr_i, tr_l, te_i, te_l = (p for p in paths if p is not None)
    x_train, y_train = _load_idx_pair(tr_i, tr_l, 28, 28, 10)
    x_test, y_test = _load_idx_pair(te_i, te_l, 28, 28, 10)
    classes = MNIST_CLASSES if name == "mnist" else FASHION_MNIST_CLASSES
    return Dataset(name, x_train, y_train, x_test, y_test, classes)


def load_mnist(root: PathLike | None = None, *, download: bool = True,
               verify: bool = False) -> Dataset:
    """MNIST (LeCun, Cortes, Burges): 60,000 + 10,000 images, 1x28x28."""
    return load_idx_dataset("mnist", root, download=download, verify=verify)


def load_fashion_mnist(root: PathLike | None = None, *, download: bool = True,
                       verify: bool = False) -> Dataset:
    """Fashion-MNIST (Xiao, Rasul, Vollgraf; Zalando, MIT licence): 60,000 + 10,000, 1x28x28."""
    return load_idx_dataset("fashion-mnist", root, download=download, verify=verify)


def read_cifar10_batch(path: PathLike) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 binary batch file: records of 1 label byte + 3072 pixel bytes (the red,
    green and blue 32x32 planes). Returns uint8 images (N, 3, 32, 32) and int64 labels."""
    p = Path(path)
    data = p.read_bytes()
    if len(data) == 0 or len(data) % _CIFAR_RECORD:
        raise ValueError(f"{p}: {len(data)} bytes is not a whole number of CIFAR-10 records "
                         f"({_CIFAR_RECORD} bytes each)")
    rec = np.frombuffer(data, dtype=np.uint8).reshape(-1, _CIFAR_RECORD)
    labels = rec[:, 0].astype(np.int64)
    if int(labels.max()) > 9:
        raise ValueError(f"{p}: label {int(labels.max())} out of range 0..9")
    images = rec[:, 1:].reshape(-1, 3, 32, 32).copy()
    return images, labels


def _fetch_cifar(target: Path) -> None:
    """Download the binary archive into ``target`` and extract the six batch files (regular
    files only, by their known names: never arbitrary archive paths)."""
    archive = target / "cifar-10-binary.tar.gz"
    if not archive.is_file():
        _fetch("cifar10", ["cifar-10-binary.tar.gz"], target)
    out = target / "cifar-10-batches-bin"
    out.mkdir(parents=True, exist_ok=True)
    wanted = {f"cifar-10-batches-bin/{f}" for f in (*_CIFAR_TRAIN, _CIFAR_TEST,
                                                    "batches.meta.txt")}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                if member.name in wanted and member.isfile():
                    src = tar.extractfile(member)
                    assert src is not None
                    dest = out / Path(member.name).name
                    fd, tmp = tempfile.mkstemp(dir=out, prefix=".minifloat-", suffix=".part")
                    try:
                        with os.fdopen(fd, "wb") as fh:
                            shutil.copyfileobj(src, fh)
                        os.replace(tmp, dest)
                    except BaseException:
                        if os.path.exists(tmp):
                            os.unlink(tmp)
                        raise
    except (tarfile.TarError, EOFError, zlib.error) as e:
        raise ValueError(f"{archive}: corrupt archive ({e})") from None


def sha256sum(path: PathLike) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles CIFAR-10's Python batches (dicts of bytes, lists and one NumPy array) and
    nothing else: no other class or function may be loaded."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray",
                                                            "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"),
                ("_codecs", "encode")}  # how protocol-2 pickles written by Python 3 hold bytes

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"CIFAR-10 batch: {module}.{name} is not allowed")
        return super().find_class(module, name)


def read_cifar10_python_archive(path: PathLike, *, sha256: str | None = None
                                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train and test images (uint8 N x 3 x 32 x 32) and int64 labels from the Python-version
    archive ``cifar-10-python.tar.gz``, read in place (nothing extracted). The archive's
    SHA-256 must equal ``sha256`` (default: the published one, ``SHA256``) before any byte of
    it is unpickled, and the unpickler loads arrays only."""
    p = Path(path)
    want = sha256 or SHA256["cifar10"][CIFAR10_PYTHON_ARCHIVE]
    got = sha256sum(p)
    if got != want:
        raise ValueError(f"{p}: SHA-256 {got} does not match the published {want}")
    names = [f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)]
    names.append("cifar-10-batches-py/test_batch")
    parts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    try:
        with tarfile.open(p, "r:gz") as tar:
            for member in tar:
                if member.name in names and member.isfile():
                    fh = tar.extractfile(member)
                    assert fh is not None
                    d = _ArrayUnpickler(fh, encoding="bytes").load()
                    x = np.asarray(d[b"data"], dtype=np.uint8)
                    y = np.asarray(d[b"labels"], dtype=np.int64)
                    if x.shape != (_CIFAR_PER_FILE, 3072) or y.shape != (_CIFAR_PER_FILE,) \
                            or int(y.min()) < 0 or int(y.max()) > 9:
                        raise ValueError(f"{p}: {member.name}: bad arrays {x.shape} {y.shape}")
                    parts[member.name] = (x.reshape(-1, 3, 32, 32), y)
    except (tarfile.TarError, EOFError, zlib.error, pickle.UnpicklingError, KeyError) as e:
        raise ValueError(f"{p}: corrupt archive ({type(e).__name__}: {e})") from None
    missing = [n for n in names if n not in parts]
    if missing:
        raise ValueError(f"{p}: missing {missing}")
    x_train = np.concatenate([parts[n][0] for n in names[:5]])
    y_train = np.concatenate([parts[n][1] for n in names[:5]])
    return x_train, y_train, parts[names[5]][0], parts[names[5]][1]


def find_cifar10_python_archive(root: PathLike | None = None) -> Path | None:
    """``cifar-10-python.tar.gz`` in the data folder or its cifar10/, cifar-10/ sub-folders."""
    r = None if root is None else Path(root)
    for base in _roots(r):
        for folder in (base / "cifar10", base / "cifar-10", base):
            if (folder / CIFAR10_PYTHON_ARCHIVE).is_file():
                return folder / CIFAR10_PYTHON_ARCHIVE
    return None


def load_cifar10(root: PathLike | None = None, *, download: bool = True) -> Dataset:
    """CIFAR-10 (Krizhevsky 2009): 50,000 + 10,000 images, 3x32x32. Read from the binary
    batches (folder ``cifar-10-batches-bin``, MD5-checked when downloaded) or, when those are
    absent, from the Python-version archive ``cifar-10-python.tar.gz`` (SHA-256-checked,
    :func:`read_cifar10_python_archive`) found in the data folder."""
    r = None if root is None else Path(root)
    if _find((*_CIFAR_TRAIN, _CIFAR_TEST), _FOLDERS["cifar10"], r) is None:
        archive = find_cifar10_python_archive(root)
        if archive is not None:
            x_tr, y_tr, x_te, y_te = read_cifar10_python_archive(archive)
            return Dataset("cifar10", x_tr, y_tr, x_te, y_te, CIFAR10_CLASSES)
    folder = _locate("cifar10", (*_CIFAR_TRAIN, _CIFAR_TEST), root, download)
    parts = []
    for f in (*_CIFAR_TRAIN, _CIFAR_TEST):
        x, y = read_cifar10_batch(folder / f)
        if x.shape[0] != _CIFAR_PER_FILE:
            raise ValueError(f"{folder / f}: {x.shape[0]} records, expected {_CIFAR_PER_FILE}")
        parts.append((x, y))
    x_train = np.concatenate([x for x, _ in parts[:5]])
    y_train = np.concatenate([y for _, y in parts[:5]])
    x_test, y_test = parts[5]
    return Dataset("cifar10", x_train, y_train, x_test, y_test, CIFAR10_CLASSES)


def load_bundled() -> Dataset:
    """The Fashion-MNIST subset shipped in the package (``minifloat/datasets/``): 5,000
    class-balanced training images and 1,000 class-balanced test images, chosen with a fixed
    seed by ``experiments/make_bundled_subset.py`` from the official files (MIT licence,
    Zalando Research). ``train_index``/``test_index`` in the file give their positions in the
    official training and test sets."""
    p = BUNDLED_PATH
    keys = ("train_images", "train_labels", "test_images", "test_labels")
    try:
        with np.load(p, allow_pickle=False) as z:
            missing = [k for k in keys if k not in z.files]
            if missing:
                raise ValueError(f"{p}: not a minifloat dataset file (missing {missing})")
            arrays = {k: z[k] for k in keys}
    except FileNotFoundError:
        raise FileNotFoundError(f"the bundled dataset {p} is missing from this installation; "
                                f"reinstall minifloat") from None
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile, pickle.UnpicklingError) as e:
        raise ValueError(f"{p}: corrupt bundled dataset ({type(e).__name__}: {e})") from None
    out = []
    for split in ("train", "test"):
        x, y = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != (1, 28, 28) \
                or y.ndim != 1 or y.shape[0] != x.shape[0] or (y.size and y.max() > 9):
            raise ValueError(f"{p}: bad {split} arrays ({x.dtype} {x.shape}, labels {y.shape})")
        out += [x, y.astype(np.int64)]
    return Dataset("bundled", out[0], out[1], out[2], out[3], FASHION_MNIST_CLASSES)


def load(name: str, root: PathLike | None = None, *, download: bool = True) -> Dataset:
    """A dataset by name: ``"bundled"`` (offline Fashion-MNIST subset), ``"fashion-mnist"``,
    ``"mnist"`` or ``"cifar10"``, from ``root`` / ``$MINIFLOAT_DATA`` / the cache folder,
    downloading the official files when missing and ``download`` is true."""
    key = name.lower().replace("_", "-") if isinstance(name, str) else name
    if key == "fashionmnist":
        key = "fashion-mnist"
    if key == "cifar-10":
        key = "cifar10"
    if key == "bundled":
        return load_bundled()
    if key in ("mnist", "fashion-mnist"):
        return load_idx_dataset(key, root, download=download)
    if key == "cifar10":
        return load_cifar10(root, download=download)
    raise ValueError(f"dataset name must be one of {', '.join(DATASETS)}; got {name!r}")


__all__ = [
    "CIFAR10_CLASSES", "CIFAR10_PYTHON_ARCHIVE", "CIFAR10_PYTHON_BYTES", "CIFAR10_PYTHON_URL",
    "DATASETS", "Dataset", "ENV_VAR", "FASHION_MNIST_CLASSES", "MD5",
    "MIRRORS", "MNIST_CLASSES", "NORMALIZATION", "balanced_indices", "batches",
    "channel_stats", "default_root", "download", "load", "load_bundled", "load_cifar10",
    "load_fashion_mnist", "load_idx_dataset", "load_mnist", "md5sum", "normalize_images",
    "read_cifar10_batch", "read_cifar10_python_archive", "find_cifar10_python_archive",
    "read_idx", "SHA256", "sha256sum", "to_float32",
]
