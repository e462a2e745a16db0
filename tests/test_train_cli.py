"""``minifloat train``: exit codes, argument errors, unwritable outputs (nothing half-written),
and tiny real runs on slices of the bundled Fashion-MNIST subset (run as a subprocess, the way
a user runs it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import pytest

pytest.importorskip("minifloat.nn")

TINY = ["--limit-train", "64", "--limit-test", "50", "--epochs", "1", "--batch-size", "32",
        "--no-progress"]


# Subprocesses run outside the checkout: with the repository root as the working directory,
# `python -m minifloat` would import the source tree (which has no compiled _core) instead of
# the installed package.
NEUTRAL_CWD = tempfile.mkdtemp(prefix="minifloat-cli-")


def run_cli(*args: str, cwd: str | None = None, timeout: float = 300
            ) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "minifloat", "train", *args],
                          cwd=cwd or NEUTRAL_CWD,
                          capture_output=True, text=True, timeout=timeout, env=env)


def _files(folder) -> list[str]:
    return sorted(os.listdir(folder))


def test_tiny_run_with_compare_log_and_plot(tmp_path):
    log, plot = tmp_path / "run.json", tmp_path / "curves.png"
    r = run_cli(*TINY, "--compare", "fp32", "--log", str(log), "--plot", str(plot))
    assert r.returncode == 0, r.stderr
    # the final table: one row per policy and the difference row
    lines = r.stdout.strip().splitlines()
    assert lines[0].split()[:3] == ["policy", "test", "acc"]
    assert lines[2].startswith("asymmetric8 ") and lines[3].startswith("fp32 ")
    assert lines[4].startswith("asymmetric8 - fp32") and "pp" in lines[4]
    assert "epoch 1:" in r.stderr
    rec = json.loads(log.read_text())
    assert rec["dataset"] == {"name": "bundled", "train": 64, "test": 50,
                              "image_shape": [1, 28, 28]}
    assert [run["label"] for run in rec["runs"]] == ["asymmetric8", "fp32"]
    for run in rec["runs"]:
        (h,) = run["history"]
        assert 0.0 <= h["test_acc"] <= 1.0 and h["train_loss"] > 0
        assert run["memory"]["total"] > 0
        assert run["config"]["train_size"] == 64 and run["config"]["seed"] == 0
    low, fp = rec["runs"]
    assert low["memory"]["total"] < fp["memory"]["total"]  # 8-bit codes take less memory
    assert rec["runs"][0]["policy"]["weights"]["format"] != "float32"
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _files(tmp_path) == ["curves.png", "run.json"]  # no temporary files left


def test_same_seed_same_result(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    for out in (a, b):
        r = run_cli(*TINY, "--policy", "asymmetric8", "--seed", "3", "--log", str(out))
        assert r.returncode == 0, r.stderr
    ha = json.loads(a.read_text())["runs"][0]["history"][0]
    hb = json.loads(b.read_text())["runs"][0]["history"][0]
    for k in ("train_loss", "train_acc", "test_loss", "test_acc"):
        assert ha[k] == hb[k]


def test_format_bias_and_json_policy(tmp_path):
    pol = tmp_path / "policy.json"
    pol.write_text(json.dumps({"base": "fp32", "name": "mine",
                               "weights": {"format": "e5m2"}}))
    log = tmp_path / "log.json"
    r = run_cli(*TINY, "--policy", str(pol), "--log", str(log))
    assert r.returncode == 0, r.stderr
    assert json.loads(log.read_text())["runs"][0]["label"] == "mine"
    r = run_cli(*TINY, "--format", "e4m3", "--bias", "11", "--log", str(log))
    assert r.returncode == 0, r.stderr
    w = json.loads(log.read_text())["runs"][0]["policy"]["weights"]
    assert "11" in json.dumps(w)  # the bias given on the command line


@pytest.mark.parametrize("args,message", [
    (["--policy", "nosuch"], "--policy"),
    (["--policy", "missing_file.json"], "--policy"),
    (["--compare", "nosuch"], "--compare"),
    (["--format", "e9m9"], "--format"),
    (["--bias", "11"], "give --format"),
    (["--model", "vgg19"], "--model"),
    (["--epochs", "0"], "positive integer"),
    (["--epochs", "two"], "positive integer"),
    (["--batch-size", "-1"], "positive integer"),
    (["--lr", "0"], "positive"),
    (["--lr", "nan"], "positive"),
    (["--dataset", "imagenet"], "invalid choice"),
    (["--device", "tpu"], "invalid choice"),
    (["--plot", "curves.txt"], ".png"),
    (["--limit-train", "0"], "positive integer"),
])
def test_bad_arguments_exit_2(tmp_path, monkeypatch, capsys, args, message):
    from minifloat.cli import main

    monkeypatch.chdir(tmp_path)  # in-process (fast); the subprocess path is tested above
    try:
        rc = main(["train", *args, "--no-progress"])
    except SystemExit as e:  # argparse's own errors
        rc = e.code
    out = capsys.readouterr()
    assert rc == 2, (out.out, out.err)
    assert message in out.err
    assert out.out == ""
    assert _files(tmp_path) == []


def test_bad_json_policy_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    r = run_cli("--policy", str(bad), timeout=60)
    assert r.returncode == 2 and "--policy" in r.stderr
    bad.write_text(json.dumps({"weights": {"format": "e4m3"}, "colour": "red"}))
    r = run_cli("--policy", str(bad), timeout=60)
    assert r.returncode == 2 and "colour" in r.stderr


def test_device_cuda_without_gpu_exits_2():
    try:
        import cupy  # noqa: F401

        pytest.skip("CuPy installed: the cuda device may be usable here")
    except ImportError:
        pass
    r = run_cli("--device", "cuda", "--no-progress", timeout=60)
    assert r.returncode == 2
    assert "--device cuda" in r.stderr and "CuPy" in r.stderr


def test_unwritable_or_missing_output_folder_fails_before_training(tmp_path):
    r = run_cli(*TINY, "--log", str(tmp_path / "no" / "such" / "run.json"), timeout=60)
    assert r.returncode == 2 and "does not exist" in r.stderr
    assert "epoch" not in r.stderr  # checked before any training
    r = run_cli(*TINY, "--plot", str(tmp_path), timeout=60)
    assert r.returncode == 2
    if os.geteuid() != 0:  # root may write anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        try:
            r = run_cli(*TINY, "--log", str(ro / "run.json"), timeout=60)
            assert r.returncode == 2 and "not writable" in r.stderr
            assert _files(ro) == []
        finally:
            ro.chmod(0o700)


def test_missing_dataset_exit_1(tmp_path):
    r = run_cli("--dataset", "mnist", "--data-dir", str(tmp_path), "--no-download",
                "--no-progress", timeout=60)
    assert r.returncode == 1
    assert "mnist" in r.stderr and "not found" in r.stderr


def test_corrupt_dataset_exit_1(tmp_path):
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (folder / name).write_bytes(b"\x1f\x8b\x08\x00 truncated")
    r = run_cli("--dataset", "fashion-mnist", "--data-dir", str(tmp_path), "--no-download",
                "--no-progress", timeout=60)
    assert r.returncode == 1 and "not a valid gzip" in r.stderr


def test_help_and_other_commands_still_work():
    r = subprocess.run([sys.executable, "-m", "minifloat", "train", "--help"],
                       capture_output=True, text=True, timeout=60, cwd=NEUTRAL_CWD)
    assert r.returncode == 0 and "--compare" in r.stdout and "--limit-train" in r.stdout
    r = subprocess.run([sys.executable, "-m", "minifloat", "info", "e4m3", "--bias", "11"],
                       capture_output=True, text=True, timeout=60, cwd=NEUTRAL_CWD)
    assert r.returncode == 0 and "11" in r.stdout


def test_summary_table_layout():
    from minifloat.train_cli import summary_table

    def run(label, acc, loss, mem, sec):
        return {"label": label, "seconds_per_epoch": sec,
                "memory": {"total": mem, "ratio_vs_ste": mem / 2**21},
                "history": [{"test_acc": acc, "test_loss": loss, "train_loss": loss + 0.1}]}

    text = summary_table([run("a8", 0.9, 0.3, 2**20, 3.0), run("fp32", 0.925, 0.25, 2**21, 2.0)])
    lines = text.splitlines()
    assert "90.00%" in lines[2] and "1.00 MiB" in lines[2] and "50%" in lines[2]
    assert "92.50%" in lines[3] and "2.00 MiB" in lines[3]
    assert "-2.50 pp" in lines[4] and "+0.0500" in lines[4] and "x0.50" in lines[4]
    assert "x1.50" in lines[4]
