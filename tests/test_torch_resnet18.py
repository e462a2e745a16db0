"""experiments/torch_resnet18_cifar10.py's model and data: ResNet-18 (CIFAR form) builds with
the standard parameter count, trains under a quantisation policy, is reproducible from its
seed; CIFAR-10's Python archive is read only after its SHA-256 matches; a missing CIFAR-10
stops the script with the download and checksum named."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import sys
import tarfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")
mf = pytest.importorskip("minifloat")
mft = pytest.importorskip("minifloat.torch")

from minifloat import data  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def test_resnet18_standard_size():
    assert sum(p.numel() for p in mft.resnet18().parameters()) == 11_173_962


def _two_steps(seed):
    model = mft.quantize_model(mft.resnet18(10, width=2, seed=seed), "asymmetric8", seed=seed)
    opt = mft.optim.QuantizedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1,
                                                       momentum=0.9), model=model)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(4, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (4,), generator=g)
    losses = []
    for _ in range(2):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return model, losses


def test_resnet18_trains_under_policy_and_is_reproducible():
    a, la = _two_steps(3)
    b, lb = _two_steps(3)
    c, _ = _two_steps(4)
    assert la == lb and np.isfinite(la).all()
    assert mft.context(a).step == 2
    # the policy's offsets were recorded for every quantised conv/linear slot
    view = mft.context(a).offsets_view()
    assert "stem.0.weights" in view and "fc.activations" in view
    for pa, pb in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(pa.detach().numpy(), pb.detach().numpy())
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))
    # the conv weights the forward used lie on the weights grid (E4M3, offset 6)
    w = a.stem[0].weight.detach().numpy()
    q = mft.context(a).quantizers["stem.0.weights"]
    np.testing.assert_array_equal(q(w), mf.quantize(w, q.format(), saturation="finite"))


def _pickled_batch(rng, n):
    x = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    y = rng.integers(0, 10, n).tolist()
    return x, y, pickle.dumps({b"batch_label": b"b", b"labels": y, b"data": x,
                               b"filenames": [b"f"] * n}, protocol=2)


def _archive(tmp_path, monkeypatch, payload=None):
    monkeypatch.setattr(data, "_CIFAR_PER_FILE", 6)
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar10"
    folder.mkdir()
    path = folder / data.CIFAR10_PYTHON_ARCHIVE
    parts = []
    with tarfile.open(path, "w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            x, y, raw = _pickled_batch(rng, 6)
            if payload is not None and name == "test_batch":
                raw = payload
            parts.append((x, y))
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return path, parts


def test_cifar10_python_archive_read_after_sha256(tmp_path, monkeypatch):
    path, parts = _archive(tmp_path, monkeypatch)
    # the real checksum is the published one; this synthetic archive has its own
    assert data.SHA256["cifar10"][data.CIFAR10_PYTHON_ARCHIVE].startswith("6d958be0")
    with pytest.raises(ValueError, match="SHA-256 .* does not match the published 6d958be0"):
        data.load_cifar10(tmp_path, download=False)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setitem(data.SHA256, "cifar10", {data.CIFAR10_PYTHON_ARCHIVE: digest})
    ds = data.load_cifar10(tmp_path, download=False)
    assert ds.train_images.shape == (30, 3, 32, 32) and ds.test_images.shape == (6, 3, 32, 32)
    np.testing.assert_array_equal(ds.train_images[:6].reshape(6, -1), parts[0][0])
    np.testing.assert_array_equal(ds.test_labels, parts[5][1])
    assert ds.train_labels.dtype == np.int64


def test_cifar10_python_archive_refuses_foreign_pickles(tmp_path, monkeypatch):
    evil = pickle.dumps({b"data": os.system}, protocol=2)  # a global other than arrays
    path, _ = _archive(tmp_path, monkeypatch, payload=evil)
    monkeypatch.setitem(data.SHA256, "cifar10", {
        data.CIFAR10_PYTHON_ARCHIVE: hashlib.sha256(path.read_bytes()).hexdigest()})
    with pytest.raises(ValueError, match="posix.system is not allowed|os.system is not allowed"):
        data.load_cifar10(tmp_path, download=False)


def test_script_names_the_download_when_cifar_is_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    sys.path.insert(0, os.path.join(HERE, "..", "experiments"))
    try:
        import torch_resnet18_cifar10 as exp
    finally:
        sys.path.pop(0)
    with pytest.raises(SystemExit) as e:
        exp.main(["--data-dir", str(tmp_path), "--epochs", "1"])
    msg = str(e.value)
    assert data.CIFAR10_PYTHON_URL in msg and "6d958be074577803d12ecdefd02955f39262c83c16fe9348" \
        "329d7fe0b5c001ce" in msg and "not CIFAR-10" in msg
