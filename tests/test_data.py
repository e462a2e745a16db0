"""mf.data: dataset loaders on the official files (../shared/datasets when present), on
synthetic files, and on corrupt or truncated files (clear error, never a partial result).

Expected values come from the dataset authors (published MD5s, class counts, first labels),
from an independent minimal IDX parser written here with ``struct``, or from the synthetic
files the tests build byte by byte.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest

data = pytest.importorskip("minifloat.data")

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
IDX = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
       "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
needs_shared = pytest.mark.skipif(not (SHARED / "mnist" / IDX[0]).is_file()
                                  or not (SHARED / "fashion-mnist" / IDX[0]).is_file(),
                                  reason="official datasets not in ../shared/datasets")


def _parse_idx_reference(path: Path) -> np.ndarray:
    """Independent minimal IDX reader (uint8 only), straight from the format description."""
    raw = gzip.open(path).read()
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    assert zero == 0 and dtype == 0x08
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw[4 + 4 * ndim:], np.uint8).reshape(dims)


def _idx_bytes(arr: np.ndarray, type_byte: int = 0x08) -> bytes:
    head = struct.pack(">HBB", 0, type_byte, arr.ndim) + struct.pack(">" + "I" * arr.ndim,
                                                                      *arr.shape)
    return head + arr.astype(np.uint8).tobytes()


def _write_mnist_like(folder: Path, n_train: int = 12, n_test: int = 5, seed: int = 0,
                      gz: bool = True) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {
        IDX[0]: rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        IDX[1]: (np.arange(n_train) % 10).astype(np.uint8),
        IDX[2]: rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        IDX[3]: (np.arange(n_test)[::-1] % 10).astype(np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in arrays.items():
        b = _idx_bytes(arr)
        if gz:
            (folder / name).write_bytes(gzip.compress(b))
        else:
            (folder / name[:-3]).write_bytes(b)
    return arrays


# --------------------------------------------------------------------------- official files

@needs_shared
@pytest.mark.parametrize("name,train_counts,test_counts,first_train,first_test", [
    ("mnist", [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
     [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009], [5, 0, 4, 1, 9], [7, 2, 1, 0, 4]),
    ("fashion-mnist", [6000] * 10, [1000] * 10, [9, 0, 0, 3, 0], [9, 2, 1, 1, 6]),
])
def test_official_files_load(name, train_counts, test_counts, first_train, first_test):
    ds = data.load(name, SHARED, download=False)
    assert ds.name == name
    assert ds.train_images.shape == (60000, 1, 28, 28) and ds.train_images.dtype == np.uint8
    assert ds.test_images.shape == (10000, 1, 28, 28) and ds.test_images.dtype == np.uint8
    assert ds.train_labels.dtype == np.int64 and ds.test_labels.dtype == np.int64
    assert np.bincount(ds.train_labels).tolist() == train_counts
    assert np.bincount(ds.test_labels).tolist() == test_counts
    assert ds.train_labels[:5].tolist() == first_train
    assert ds.test_labels[:5].tolist() == first_test
    assert ds.image_shape == (1, 28, 28) and ds.num_classes == 10
    ref = _parse_idx_reference(SHARED / name / IDX[2])
    np.testing.assert_array_equal(ds.test_images[:, 0], ref)


@needs_shared
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_published_md5_and_verify(name):
    for f in IDX:
        h = hashlib.md5((SHARED / name / f).read_bytes()).hexdigest()
        assert data.MD5[name][f] == h
    data.load_idx_dataset(name, SHARED, download=False, verify=True)


@needs_shared
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_normalization_constants_match_training_set(name):
    ref = _parse_idx_reference(SHARED / name / IDX[0]).astype(np.float64) / 255.0
    mean, std = data.NORMALIZATION[name]
    assert abs(mean[0] - ref.mean()) < 1e-4 and abs(std[0] - ref.std()) < 1e-4
    x = data.load(name, SHARED, download=False).float32()[0]
    assert x.dtype == np.float32 and x.shape == (60000, 1, 28, 28)
    assert abs(float(x.mean(dtype=np.float64))) < 1e-3
    assert abs(float(x.std(dtype=np.float64)) - 1.0) < 1e-3


@needs_shared
def test_root_from_environment_and_dataset_folder_itself(monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, str(SHARED))
    a = data.load("mnist", download=False)
    b = data.load_mnist(SHARED / "mnist", download=False)  # folder holding the files directly
    np.testing.assert_array_equal(a.test_labels, b.test_labels)


def test_missing_files_without_download(tmp_path, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    with pytest.raises(FileNotFoundError, match="not found under"):
        data.load("fashion-mnist", tmp_path, download=False)
    with pytest.raises(FileNotFoundError):
        data.load("cifar10", tmp_path, download=False)


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match="bundled, fashion-mnist, mnist, cifar10"):
        data.load("imagenet")


# --------------------------------------------------------------------------- synthetic IDX

def test_synthetic_idx_roundtrip_gz_and_plain(tmp_path):
    for gz, sub in ((True, "a"), (False, "b")):
        arrays = _write_mnist_like(tmp_path / sub / "mnist", gz=gz)
        ds = data.load("mnist", tmp_path / sub, download=False)
        np.testing.assert_array_equal(ds.train_images[:, 0], arrays[IDX[0]])
        np.testing.assert_array_equal(ds.train_labels, arrays[IDX[1]])
        np.testing.assert_array_equal(ds.test_images[:, 0], arrays[IDX[2]])
        np.testing.assert_array_equal(ds.test_labels, arrays[IDX[3]])


@pytest.mark.parametrize("type_byte,dtype", [(0x08, np.uint8), (0x09, np.int8),
                                             (0x0B, ">i2"), (0x0C, ">i4"), (0x0D, ">f4"),
                                             (0x0E, ">f8")])
def test_read_idx_every_type(tmp_path, type_byte, dtype):
    arr = np.arange(-3, 9).reshape(3, 4).astype(dtype)
    if np.dtype(dtype).kind == "u":
        arr = np.arange(12, dtype=np.uint8).reshape(3, 4)
    head = struct.pack(">HBB", 0, type_byte, 2) + struct.pack(">II", 3, 4)
    (tmp_path / "x.idx").write_bytes(head + arr.tobytes())
    got = data.read_idx(tmp_path / "x.idx")
    assert got.dtype.isnative and got.shape == (3, 4)
    np.testing.assert_array_equal(got, arr.astype(np.dtype(dtype).newbyteorder("=")))


def _corrupt_cases():
    img = np.zeros((4, 28, 28), np.uint8)
    good = _idx_bytes(img)
    return {
        "bad magic": (gzip.compress(b"\x00\x00\x07\x03" + good[4:]), "bad IDX magic"),
        "not idx": (gzip.compress(b"PK\x03\x04" + good[4:]), "bad IDX magic"),
        "truncated data": (gzip.compress(good[:-1]), "truncated"),
        "trailing bytes": (gzip.compress(good + b"\x00"), "trailing bytes"),
        "short header": (gzip.compress(good[:10]), "truncated|bad IDX header"),
        "empty": (gzip.compress(b""), "too short"),
        "truncated gzip": (gzip.compress(good)[:-20], "not a valid gzip"),
        "not gzip": (good, "not a valid gzip"),
        "garbage": (b"\x1f\x8b\x08\x00garbage" * 10, "not a valid gzip"),
        "wrong image size": (gzip.compress(_idx_bytes(np.zeros((4, 27, 28), np.uint8))),
                             "shape"),
        "labels as images": (gzip.compress(_idx_bytes(np.zeros(4, np.uint8))), "shape"),
    }


@pytest.mark.parametrize("case", list(_corrupt_cases()))
def test_corrupt_image_file_raises_valueerror(tmp_path, case):
    _write_mnist_like(tmp_path / "mnist")
    content, message = _corrupt_cases()[case]
    bad = tmp_path / "mnist" / IDX[0]
    bad.write_bytes(content)
    with pytest.raises(ValueError, match=message) as ei:
        data.load("mnist", tmp_path, download=False)
    assert IDX[0] in str(ei.value)


def test_label_file_errors(tmp_path):
    _write_mnist_like(tmp_path / "mnist", n_train=12)
    lab = tmp_path / "mnist" / IDX[1]
    lab.write_bytes(gzip.compress(_idx_bytes(np.zeros(11, np.uint8))))
    with pytest.raises(ValueError, match="11 labels for 12 images"):
        data.load("mnist", tmp_path, download=False)
    lab.write_bytes(gzip.compress(_idx_bytes(np.full(12, 10, np.uint8))))
    with pytest.raises(ValueError, match="label 10 out of range"):
        data.load("mnist", tmp_path, download=False)
    lab.write_bytes(gzip.compress(_idx_bytes(np.zeros((12, 1), np.uint8))))
    with pytest.raises(ValueError, match="1-D uint8 label"):
        data.load("mnist", tmp_path, download=False)


def test_verify_detects_checksum_mismatch(tmp_path):
    _write_mnist_like(tmp_path / "fashion-mnist")
    with pytest.raises(ValueError, match="does not match the published"):
        data.load_fashion_mnist(tmp_path, download=False, verify=True)


# --------------------------------------------------------------------------- downloads

def _serve(monkeypatch, name: str, folder: Path, extra_mirrors=()):
    monkeypatch.setitem(data.MIRRORS, name, (*extra_mirrors, folder.as_uri() + "/"))


def test_download_checks_md5_and_falls_back(tmp_path, monkeypatch):
    src = tmp_path / "server"
    arrays = _write_mnist_like(src)
    md5s = {f: hashlib.md5((src / f).read_bytes()).hexdigest() for f in IDX}
    monkeypatch.setitem(data.MD5, "mnist", md5s)
    bad = tmp_path / "bad_server"
    bad.mkdir()
    for f in IDX:  # a mirror with corrupt copies comes first: rejected by the MD5 check
        (bad / f).write_bytes(b"corrupt")
    _serve(monkeypatch, "mnist", src, [bad.as_uri() + "/", (tmp_path / "none").as_uri() + "/"])
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    dest = tmp_path / "cache"
    ds = data.load("mnist", dest)
    np.testing.assert_array_equal(ds.test_labels, arrays[IDX[3]])
    assert sorted(p.name for p in (dest / "mnist").iterdir()) == sorted(IDX)


def test_download_all_mirrors_bad_leaves_nothing(tmp_path, monkeypatch):
    bad = tmp_path / "bad_server"
    bad.mkdir()
    for f in IDX:
        (bad / f).write_bytes(b"corrupt")
    _serve(monkeypatch, "fashion-mnist", bad, [(tmp_path / "none").as_uri() + "/"])
    dest = tmp_path / "cache"
    with pytest.raises(OSError, match="could not download") as ei:
        data.load("fashion-mnist", dest)
    assert "MD5" in str(ei.value)
    leftovers = [p for p in dest.rglob("*") if p.is_file()]
    assert leftovers == []


@needs_shared
def test_download_real_files_from_file_mirror(tmp_path, monkeypatch):
    _serve(monkeypatch, "mnist", SHARED / "mnist")
    ds = data.load("mnist", tmp_path)
    for f in IDX:
        assert data.md5sum(tmp_path / "mnist" / f) == data.MD5["mnist"][f]
    assert ds.train_images.shape == (60000, 1, 28, 28)


# --------------------------------------------------------------------------- CIFAR-10

def _cifar_records(n: int, seed: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    pixels = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    raw = b"".join(bytes([labels[i]]) + pixels[i].tobytes() for i in range(n))
    return raw, labels, pixels


def _write_cifar(folder: Path, per_file: int) -> list[tuple[np.ndarray, np.ndarray]]:
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    for k, name in enumerate(names):
        raw, labels, pixels = _cifar_records(per_file, k)
        (folder / name).write_bytes(raw)
        parts.append((labels, pixels))
    return parts


def test_cifar10_binary_layout(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_CIFAR_PER_FILE", 7)
    parts = _write_cifar(tmp_path / "cifar-10-batches-bin", 7)
    ds = data.load("cifar10", tmp_path, download=False)
    assert ds.train_images.shape == (35, 3, 32, 32) and ds.test_images.shape == (7, 3, 32, 32)
    assert ds.train_images.dtype == np.uint8 and ds.train_labels.dtype == np.int64
    labels, pixels = parts[1]
    # record j of data_batch_2 = train image 7 + j; byte 1 + c*1024 + r*32 + col = pixel (c,r,col)
    j, c, r, col = 3, 2, 5, 17
    assert ds.train_images[7 + j, c, r, col] == pixels[j, c * 1024 + r * 32 + col]
    assert ds.train_labels[7 + j] == labels[j]
    np.testing.assert_array_equal(ds.test_labels, parts[5][0])
    assert ds.classes[0] == "airplane" and ds.classes[9] == "truck"


def test_cifar10_corrupt_batches(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_CIFAR_PER_FILE", 4)
    folder = tmp_path / "cifar-10-batches-bin"
    _write_cifar(folder, 4)
    good = (folder / "test_batch.bin").read_bytes()
    (folder / "test_batch.bin").write_bytes(good[:-1])
    with pytest.raises(ValueError, match="not a whole number of CIFAR-10 records"):
        data.load_cifar10(tmp_path, download=False)
    (folder / "test_batch.bin").write_bytes(good[:3073 * 3])
    with pytest.raises(ValueError, match="3 records, expected 4"):
        data.load_cifar10(tmp_path, download=False)
    (folder / "test_batch.bin").write_bytes(bytes([10]) + good[1:])
    with pytest.raises(ValueError, match="label 10 out of range"):
        data.load_cifar10(tmp_path, download=False)
    (folder / "test_batch.bin").write_bytes(b"")
    with pytest.raises(ValueError, match="0 bytes"):
        data.load_cifar10(tmp_path, download=False)


def test_cifar10_download_extracts_only_known_members(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_CIFAR_PER_FILE", 3)
    stage = tmp_path / "stage" / "cifar-10-batches-bin"
    parts = _write_cifar(stage, 3)
    server = tmp_path / "server"
    server.mkdir()
    archive = server / "cifar-10-binary.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for f in sorted(stage.iterdir()):
            tar.add(f, arcname=f"cifar-10-batches-bin/{f.name}")
        evil = tarfile.TarInfo("../evil.bin")
        payload = b"x" * 10
        evil.size = len(payload)
        tar.addfile(evil, io.BytesIO(payload))
    monkeypatch.setitem(data.MD5, "cifar10",
                        {"cifar-10-binary.tar.gz": data.md5sum(archive)})
    _serve(monkeypatch, "cifar10", server)
    dest = tmp_path / "cache"
    ds = data.load("cifar10", dest)
    np.testing.assert_array_equal(ds.test_labels, parts[5][0])
    assert not (tmp_path / "evil.bin").exists() and not (dest / "evil.bin").exists()


# --------------------------------------------------------------------------- bundled subset

def test_bundled_subset_shape_balance_and_size():
    assert data.BUNDLED_PATH.is_file()
    assert os.path.getsize(data.BUNDLED_PATH) <= 3 * 1024 * 1024
    ds = data.load("bundled")
    assert ds.train_images.shape == (5000, 1, 28, 28) and ds.train_images.dtype == np.uint8
    assert ds.test_images.shape == (1000, 1, 28, 28)
    assert np.bincount(ds.train_labels).tolist() == [500] * 10
    assert np.bincount(ds.test_labels).tolist() == [100] * 10
    assert ds.classes == data.FASHION_MNIST_CLASSES


@needs_shared
def test_bundled_subset_is_official_fashion_mnist():
    with np.load(data.BUNDLED_PATH) as z:
        tr, te = z["train_index"].astype(np.int64), z["test_index"].astype(np.int64)
    assert len(set(tr.tolist())) == 5000 and len(set(te.tolist())) == 1000
    ds = data.load("bundled")
    train = _parse_idx_reference(SHARED / "fashion-mnist" / IDX[0])
    test = _parse_idx_reference(SHARED / "fashion-mnist" / IDX[2])
    test_labels = _parse_idx_reference(SHARED / "fashion-mnist" / IDX[3])
    np.testing.assert_array_equal(ds.train_images[:, 0], train[tr])
    np.testing.assert_array_equal(ds.test_images[:, 0], test[te])
    np.testing.assert_array_equal(ds.test_labels, test_labels[te])


def test_corrupt_bundled_file(tmp_path, monkeypatch):
    good = data.BUNDLED_PATH.read_bytes()
    p = tmp_path / "subset.npz"
    monkeypatch.setattr(data, "BUNDLED_PATH", p)
    p.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="corrupt bundled dataset"):
        data.load_bundled()
    np.savez(p, train_images=np.zeros((2, 1, 28, 28), np.uint8))
    with pytest.raises(ValueError, match="missing"):
        data.load_bundled()
    p.unlink()
    with pytest.raises(FileNotFoundError, match="reinstall"):
        data.load_bundled()


# --------------------------------------------------------------------------- helpers

def test_balanced_indices_and_subset():
    labels = np.repeat(np.arange(10), [50, 50, 50, 50, 50, 50, 50, 50, 50, 3])
    idx = data.balanced_indices(labels, 100, seed=1)
    assert len(idx) == 100 and len(set(idx.tolist())) == 100
    counts = np.bincount(labels[idx], minlength=10).tolist()
    assert counts[9] == 3 and sorted(counts[:9]) == [10] * 2 + [11] * 7  # 97 = 7*11 + 2*10
    assert sum(counts) == 100
    np.testing.assert_array_equal(idx, data.balanced_indices(labels, 100, seed=1))
    ds = data.load("bundled")
    s = ds.subset(100, 20, seed=3)
    assert np.bincount(s.train_labels).tolist() == [10] * 10
    assert np.bincount(s.test_labels).tolist() == [2] * 10
    first = ds.subset(7)
    np.testing.assert_array_equal(first.train_images, ds.train_images[:7])
    assert first.test_images.shape[0] == 1000
    with pytest.raises(ValueError, match="train must be a positive integer"):
        ds.subset(0)


def test_float32_and_normalize():
    img = np.array([0, 51, 255], np.uint8).reshape(1, 1, 1, 3)
    np.testing.assert_array_equal(data.to_float32(img).ravel(), np.float32([0, 0.2, 1]))
    z = data.normalize_images(img, 0.2, 0.5).ravel()
    np.testing.assert_allclose(z, [-0.4, 0.0, 1.6], rtol=1e-6, atol=1e-7)
    rgb = np.full((2, 3, 2, 2), 255, np.uint8)
    out = data.normalize_images(rgb, (0.5, 0.0, 1.0), (0.5, 1.0, 2.0))
    np.testing.assert_allclose(out[0, :, 0, 0], [1.0, 1.0, 0.0])
    with pytest.raises(ValueError, match="mean needs 1 or 3"):
        data.normalize_images(rgb, (0.5, 0.5), 1.0)
    with pytest.raises(ValueError, match="std must be positive"):
        data.normalize_images(rgb, 0.5, 0.0)
    with pytest.raises(TypeError, match="uint8"):
        data.to_float32(np.zeros(3))
    mean, std = data.channel_stats(rgb)
    assert mean == (1.0, 1.0, 1.0) and std == (0.0, 0.0, 0.0)


def test_batches():
    x = np.arange(10)
    y = np.arange(10) * 2
    got = list(data.batches(x, y, 4, shuffle=False))
    assert [b[0].tolist() for b in got] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    shuffled = list(data.batches(x, y, 4, seed=0, drop_last=True))
    assert len(shuffled) == 2
    for bx, by in shuffled:
        np.testing.assert_array_equal(by, bx * 2)
    assert sorted(np.concatenate([b[0] for b in data.batches(x, y, 3, seed=5)]).tolist()) \
        == list(range(10))
    with pytest.raises(ValueError, match="batch_size"):
        list(data.batches(x, y, 0))
