"""Block-scaled quantisation policies of minifloat.nn (docs/nn.md, "Block-scaled policies"):
which roles may name a block format, that every matmul operand of Linear and Conv2d is the
oracle's block projection along that matmul's reduction axis (forward, weight gradient and
input gradient), stored bytes, JSON round trips, and that the presets train.  Expected
operand values come from tests/oracle.py's block rules (block_encode / block_value), never
from minifloat's block codec."""

import json
from fractions import Fraction

import numpy as np
import oracle as O
import pytest

mf = pytest.importorskip("minifloat")
nn = mf.nn
from minifloat.formats import FloatFormat  # noqa: E402
from minifloat.nn import layers as nn_layers  # noqa: E402


def odesc(bf):
    """The oracle's description of a BlockFormat with a FloatFormat element."""
    e = bf.element
    return {"element": O.OFormat.of(e), "scale": O.OFormat.of(bf.scale),
            "rule": bf.scale_rule, "prec": e.man_bits}


def oracle_project(bf, x, axis):
    """x (2-D) projected by the oracle onto ``bf`` (nearest_even, saturation "finite") with
    1-D blocks of bf.block_size[0] along ``axis``, a partial last block taking what is left
    (padding with zeros does not change a block's amax); per-tensor scale 1."""
    assert bf.tensor_scale is None
    d = odesc(bf)
    k = bf.block_size[0]
    xt = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    out = np.empty_like(xt)
    for r in range(xt.shape[0]):
        for b in range(0, xt.shape[1], k):
            vals = xt[r, b:b + k].tolist()
            sc, cs = O.block_encode(d, vals, Fraction(1), "nearest_even", "finite")
            out[r, b:b + k] = [O.to_float(O.block_value(d, c, sc)) for c in cs]
    return np.moveaxis(out, -1, axis)


MX8 = mf.format("mxfp8_e4m3")
MX8E5 = mf.format("mxfp8_e5m2")


def _record_matmuls(monkeypatch):
    """Record the operands of every matmul the nn layers make."""
    calls = []
    real = nn_layers.matmul

    def rec(a, b, ctx):
        calls.append((np.array(a), np.array(b)))
        return real(a, b, ctx)

    monkeypatch.setattr(nn_layers, "matmul", rec)
    return calls


def _attach(layer, name, policy):
    """Name the layer and its parameters (as a model does) and bind it to a context."""
    layer.name = name
    layer.weight.name, layer.bias.name = f"{name}.weight", f"{name}.bias"
    layer.attach(nn.QuantContext(policy, seed=0))


def test_block_formats_only_in_operand_roles_with_default_offset():
    from minifloat.nn.policy import BLOCK_ROLES

    assert BLOCK_ROLES == ("weights", "activations", "errors", "saved_inputs")
    for role in ("biases", "weight_grads", "updates", "optimizer_state", "master_weights"):
        with pytest.raises(ValueError, match=f"{role}: block formats.*allowed roles: weights"):
            nn.QuantPolicy(**{role: nn.RoleSpec("mxfp8")})
    with pytest.raises(ValueError, match="offset must be the default"):
        nn.RoleSpec("mxfp8", offset=3)
    with pytest.raises(ValueError, match="offset must be the default"):
        nn.RoleSpec("mxfp4", offset=nn.OffsetSpec("dynamic"))
    with pytest.raises(ValueError, match="flush_subnormals"):
        nn.RoleSpec("nvfp4", flush_subnormals=True)
    with pytest.raises(ValueError, match="random_bits"):
        nn.RoleSpec("mxfp4", rounding="stochastic_a").check("errors")
    for r in BLOCK_ROLES:
        assert getattr(nn.QuantPolicy(**{r: nn.RoleSpec("mxfp8")}), r).blocked


def test_presets_name_the_spec_formats():
    p8, p4, nv = (nn.get_policy(n) for n in ("mxfp8", "mxfp4", "nvfp4"))
    assert p8.weights.format == MX8 and p8.activations.format == MX8
    assert p8.errors.format == MX8E5 and p8.errors.rounding == "nearest_even"
    assert p4.weights.format == mf.format("mxfp4_e2m1")
    assert p4.errors.format == MX8E5  # MXFP4 errors diverged on Fashion-MNIST (results.md)
    assert nv.errors.rounding == "stochastic_a" and nv.errors.random_bits == 16
    assert nv.weights.format.block_size == (16, 16) and nv.weights.format.axis == (-2, -1)
    assert nv.activations.format == mf.format("nvfp4")
    for p in (p8, p4, nv):  # everything else float32
        assert not p.weight_grads.quantized and not p.updates.quantized


def test_block_policies_json_round_trip(tmp_path):
    for name in ("mxfp8", "mxfp4", "nvfp4"):
        pol = nn.get_policy(name)
        d = json.loads(json.dumps(pol.to_dict()))
        assert nn.QuantPolicy.from_dict(d) == pol
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"base": "mxfp8", "name": "mine",
                                "errors": {"format": "mxfp8_e4m3"}}))
    pol = nn.get_policy(str(path))
    assert pol.errors.format == MX8 and pol.weights == nn.get_policy("mxfp8").weights


def test_linear_operands_blocked_along_each_reduction_axis(monkeypatch):
    pol = nn.QuantPolicy(name="t", weights=nn.RoleSpec(MX8), activations=nn.RoleSpec(MX8),
                         errors=nn.RoleSpec(MX8E5), saved_inputs=nn.RoleSpec(MX8E5))
    rng = np.random.default_rng(3)
    lin = nn.Linear(40, 24, rng=rng)  # 40 = one block of 32 + a partial block of 8
    src = lin.weight.init_value.copy()
    _attach(lin, "fc", pol)
    # the stored weight: the oracle's projection of its value, blocks along the inputs
    np.testing.assert_array_equal(lin.weight.data, oracle_project(MX8, src, 1))
    calls = _record_matmuls(monkeypatch)
    x = (rng.standard_normal((6, 40)) * np.exp(rng.uniform(-6, 6, (6, 40)))).astype(np.float32)
    y = lin.forward(x)
    (a, b), = calls
    np.testing.assert_array_equal(a, oracle_project(MX8, x, 1))  # inputs along features
    np.testing.assert_array_equal(b, oracle_project(MX8, src, 1).T)
    # the layer output is not projected (block roles quantise operands, not outputs)
    np.testing.assert_allclose(y, a.astype(np.float64) @ b + lin.bias.data, rtol=1e-5,
                               atol=1e-30)
    g = rng.standard_normal((6, 24)).astype(np.float32)
    calls.clear()
    lin.backward(g)
    (gw_t, xw), (gx, wd) = calls
    np.testing.assert_array_equal(gw_t.T, oracle_project(MX8E5, g, 0))  # dW: over the batch
    # the saved input: stored blocked along the batch axis (its codes are this operand)
    np.testing.assert_array_equal(xw, oracle_project(MX8E5, oracle_project(MX8, x, 1), 0))
    st = lin._saved["x"]
    assert st.nbytes == 240 + 1 * 40  # one E5M2 byte per element, 40 columns x 1 block
    np.testing.assert_array_equal(gx, oracle_project(MX8E5, g, 1))  # dx: over the outputs
    # the weight as dx = dy W reads it: its value re-blocked along the outputs
    np.testing.assert_array_equal(wd, oracle_project(MX8, src, 0))


def test_conv_operands_blocked_along_channels_and_positions(monkeypatch):
    pol = nn.QuantPolicy(name="t", weights=nn.RoleSpec(MX8), activations=nn.RoleSpec(MX8),
                         errors=nn.RoleSpec(MX8E5))
    rng = np.random.default_rng(5)
    conv = nn.Conv2d(3, 4, 3, padding=1, rng=rng)
    src = conv.weight.init_value.copy()
    _attach(conv, "conv", pol)
    w2 = oracle_project(MX8, src.reshape(4, -1), 1)  # rows of 27 in (c, i, j) order
    np.testing.assert_array_equal(conv.weight.data.reshape(4, -1), w2)
    calls = _record_matmuls(monkeypatch)
    x = (rng.standard_normal((2, 3, 5, 5)) * 4).astype(np.float32)
    conv.forward(x)
    (a, b), = calls
    xq = np.moveaxis(oracle_project(MX8, np.moveaxis(x, 1, -1).reshape(-1, 3), 1)
                     .reshape(2, 5, 5, 3), -1, 1)  # blocks along the channel axis
    cols, _, _ = nn_layers.im2col(xq.astype(np.float32), 3, 3, (1, 1), (1, 1))
    np.testing.assert_array_equal(a, w2)
    np.testing.assert_array_equal(b, cols.T)
    g = rng.standard_normal((2, 4, 5, 5)).astype(np.float32)
    calls.clear()
    conv.backward(g)
    (gw, cw), (wt, gx) = calls
    gt = g.transpose(1, 0, 2, 3).reshape(4, -1)  # (out, N*OH*OW)
    np.testing.assert_array_equal(gw, oracle_project(MX8E5, gt, 1))
    # saved_inputs unset: the activations' format; x kept blocked along the batch axis, its
    # columns re-blocked along N*OH*OW
    xs = np.moveaxis(oracle_project(MX8, np.moveaxis(xq, 0, -1).reshape(-1, 2), 1)
                     .reshape(3, 5, 5, 2), -1, 0)
    cols_s, _, _ = nn_layers.im2col(xs.astype(np.float32), 3, 3, (1, 1), (1, 1))
    np.testing.assert_array_equal(cw, oracle_project(MX8, cols_s, 0))
    np.testing.assert_array_equal(gx, oracle_project(MX8E5, gt, 0))  # over the outputs
    np.testing.assert_array_equal(wt, oracle_project(MX8, src.reshape(4, -1), 0).T)


def test_two_dimensional_weight_tiles_serve_both_directions(monkeypatch):
    tile = mf.BlockFormat(FloatFormat(4, 3, infinities=False, nan="max"), "e8m0", (4, 8),
                          axis=(-2, -1), padding="zeros")
    pol = nn.QuantPolicy(name="t", weights=nn.RoleSpec(tile))
    rng = np.random.default_rng(7)
    lin = nn.Linear(16, 8, rng=rng)
    src = lin.weight.init_value.copy()
    _attach(lin, "fc", pol)
    d = odesc(tile)
    want = np.empty((8, 16))
    for r in range(0, 8, 4):
        for c in range(0, 16, 8):
            sc, cs = O.block_encode(d, src[r:r + 4, c:c + 8].ravel().tolist())
            want[r:r + 4, c:c + 8] = np.reshape(
                [O.to_float(O.block_value(d, k, sc)) for k in cs], (4, 8))
    np.testing.assert_array_equal(lin.weight.data, want)
    assert lin.weight.dgrad_operand() is lin.weight.data or np.array_equal(
        lin.weight.dgrad_operand(), want)


def test_stored_bytes_are_the_packed_codes_and_scales():
    pol = nn.get_policy("mxfp4")
    lin = nn.Linear(40, 24, rng=np.random.default_rng(0))
    _attach(lin, "fc", pol)
    # 960 E2M1 codes, two per byte, plus 24 rows x 2 blocks of E8M0 scales
    assert lin.weight.nbytes == 960 // 2 + 24 * 2
    assert lin.bias.nbytes == 24 * 4  # biases stay float32


@pytest.mark.parametrize("name", ["mxfp8", "mxfp4", "nvfp4"])
def test_block_presets_train(name):
    rng = np.random.default_rng(2)
    y = rng.integers(0, 4, 384)
    protos = rng.normal(0, 1, (4, 1, 16, 16))
    x = ((protos[y] + rng.normal(0, 0.8, (384, 1, 16, 16))) * 0.5).astype(np.float32)
    r = nn.fit("lenet5", (x[:320], y[:320]), (x[320:], y[320:]), policy=name, epochs=3,
               batch_size=32, lr=0.02, seed=0)
    losses = [h["train_loss"] for h in r.history]
    assert all(np.isfinite(losses)) and losses[-1] < 0.7 * losses[0], losses
    assert r.final_test_acc > 0.5
    again = nn.fit("lenet5", (x[:64], y[:64]), policy=name, epochs=1, batch_size=32, seed=0)
    twice = nn.fit("lenet5", (x[:64], y[:64]), policy=name, epochs=1, batch_size=32, seed=0)
    for pa, pb in zip(again.model.parameters(), twice.model.parameters()):
        np.testing.assert_array_equal(pa.data, pb.data)  # seeded: reproducible
