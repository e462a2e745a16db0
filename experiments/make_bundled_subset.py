"""Build minifloat/datasets/fashion_mnist_subset.npz: the small real Fashion-MNIST subset that
ships with the package, so ``minifloat train`` runs offline on a fresh machine.

Source: the four official Fashion-MNIST files (Zalando Research, MIT licence), checked against
their published MD5s. Selection: 5,000 training and 1,000 test images, class-balanced (500 and
100 per class), drawn with NumPy ``default_rng(SEED)`` within each class, kept in their official
order. The file stores the images (uint8, N x 1 x 28 x 28), labels (uint8) and the indices into
the official training and test sets (``train_index``/``test_index``), so anyone can check the
subset against the originals.

Usage (from the repository root)::

    python experiments/make_bundled_subset.py --data-dir ../shared/datasets

The output is deterministic: the same official files give a byte-identical .npz.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import sys
import tempfile
import zipfile

import numpy as np

from minifloat import data

SEED = 20240917
N_TRAIN = 5000
N_TEST = 1000
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "minifloat", "datasets",
                   "fashion_mnist_subset.npz")


def _write_npz(path: str, arrays: dict[str, np.ndarray]) -> None:
    """A deterministic compressed .npz (fixed member timestamps), written atomically."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".subset-", suffix=".tmp")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED,
                             compresslevel=9) as zf:
            for key, arr in arrays.items():
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
                info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, buf.getvalue(), compresslevel=9)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=None,
                   help="folder holding the official files (default: $MINIFLOAT_DATA)")
    p.add_argument("--out", default=OUT, help="output .npz (default: the package's copy)")
    a = p.parse_args()
    ds = data.load_fashion_mnist(a.data_dir, download=True, verify=True)
    tr = data.balanced_indices(ds.train_labels, N_TRAIN, seed=SEED)
    te = data.balanced_indices(ds.test_labels, N_TEST, seed=SEED + 1)
    arrays = {
        "train_images": ds.train_images[tr], "train_labels": ds.train_labels[tr].astype(np.uint8),
        "test_images": ds.test_images[te], "test_labels": ds.test_labels[te].astype(np.uint8),
        "train_index": tr.astype(np.uint16), "test_index": te.astype(np.uint16),
    }
    _write_npz(a.out, arrays)
    size = os.path.getsize(a.out)
    with open(a.out, "rb") as fh:
        digest = hashlib.sha256(fh.read()).hexdigest()
    print(f"wrote {a.out}: {size} bytes, sha256 {digest}")
    print("train per class:", np.bincount(ds.train_labels[tr], minlength=10).tolist())
    print("test per class: ", np.bincount(ds.test_labels[te], minlength=10).tolist())
    return 0


if __name__ == "__main__":
    sys.exit(main())
