"""Quantisation policy of minifloat.nn training: every role's tensors lie in the declared
format (checked against the oracle's value tables), offsets are chosen as defined, runs are
deterministic, optimizers and memory accounting behave as documented, and training learns."""

import json

import numpy as np
import oracle
import pytest

mf = pytest.importorskip("minifloat")
nn = mf.nn


def _grid(fmt):
    """Every finite value of ``fmt`` from the independent oracle (cached)."""
    key = (fmt.exp_bits, fmt.man_bits, fmt.bias, fmt.infinities, fmt.nan)
    if key not in _GRIDS:
        v = oracle.decode_table(fmt)
        _GRIDS[key] = np.unique(v[np.isfinite(v)])
    return _GRIDS[key]


_GRIDS: dict = {}


def _on_grid(x, fmt):
    x = np.asarray(x, dtype=np.float64).ravel()
    return bool(np.isin(x, _grid(fmt)).all())


def _data(n=256, shape=(1, 16, 16), classes=4, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    protos = rng.normal(0, 1, (classes,) + shape)
    x = (protos[y] + rng.normal(0, 0.8, (n,) + shape)) * 0.5
    return x.astype(np.float32), y


E3M4 = mf.FloatFormat(3, 4, infinities=False, nan="none")
E4M3 = mf.FloatFormat(4, 3, infinities=False, nan="max")
E5M2 = mf.FloatFormat(5, 2)
E2M5 = mf.FloatFormat(2, 5, infinities=False, nan="none")
E5M10 = mf.FloatFormat(5, 10)

# distinct format and offset per role, so a tensor in the wrong role's format is caught
ROLE_FORMATS = {
    "weights": (E3M4, 3), "biases": (E2M5, 2), "activations": (E4M3, 2), "errors": (E5M2, 9),
    "weight_grads": (E4M3, 11), "updates": (E5M2, 12), "optimizer_state": (E3M4, 7),
    "master_weights": (E5M10, 3), "saved_inputs": (E2M5, -1),
}


def _policy(**kw):
    roles = {r: nn.RoleSpec(f, offset=k) for r, (f, k) in ROLE_FORMATS.items()}
    roles.update(kw)
    return nn.QuantPolicy(name="test", **roles)


def _eff(role):
    f, k = ROLE_FORMATS[role]
    return f.replace(bias=f.bias + k)


def test_every_role_in_its_declared_format():
    x, y = _data(64)
    model = nn.lenet5((1, 16, 16), 4, seed=0)
    pol = _policy()
    ctx = nn.QuantContext(pol, seed=1)
    model.attach(ctx)
    opt = nn.SGD(model.parameters(), lr=0.05, momentum=0.9, ctx=ctx)
    # parameters: codes in the weights/biases formats (with the offset in the bias)
    for p in model.parameters():
        fe = _eff(p.role)
        assert p.stored.codes is not None and p.stored.codes.dtype == fe.dtype
        assert p.stored.fmt == fe
        np.testing.assert_array_equal(p.data, oracle.decode_table(fe)[p.stored.codes])
    xb = ctx.quantizer("input.activations", "activations")(x)
    outs = []
    h = xb
    for layer in model.layers:
        h = layer.forward(h)
        outs.append((layer, h))
    for layer, out in outs:
        assert out.dtype == np.float32
        assert _on_grid(out, _eff("activations")), layer
    for layer in model.layers:
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            s = layer._saved["x"]
            assert s.codes is not None and s.fmt == _eff("saved_inputs")
            assert s.codes.dtype == np.uint8
    _, grad, _ = nn.softmax_cross_entropy(outs[-1][1], y)
    g = ctx.quantizer("loss.errors", "errors")(grad)
    assert _on_grid(g, _eff("errors"))
    for i, layer in reversed(list(enumerate(model.layers))):
        g = layer.backward(g)
        if i > 0:
            assert _on_grid(g, _eff("errors")), layer
    for p in model.parameters():
        assert _on_grid(p.grad, _eff("weight_grads")), p.name
    opt.step()
    for i, p in enumerate(opt.params):
        st = opt.state[i]
        assert st.fmt == _eff("optimizer_state") and st.codes.dtype == np.uint8
        ms = opt.master[i]
        assert ms.fmt == _eff("master_weights") and ms.codes.dtype == np.uint16
        # the weights are the projection of the master copy into the weights format
        np.testing.assert_array_equal(
            p.data, mf.quantize(ms.values(), _eff(p.role), saturation="finite"))
        assert _on_grid(p.data, _eff(p.role))


def test_fixed_point_grid_and_sqpu_direct_updates():
    q = nn.fixed_point(0, 7)
    vals = np.unique(mf.decode(np.arange(q.num_codes), q))
    if hasattr(q, "exp_bits"):  # sign-magnitude stand-in: FloatFormat(1, 6, bias=2)
        assert q == mf.FloatFormat(1, 6, bias=2, infinities=False, nan="none")
        np.testing.assert_array_equal(vals, np.arange(-127, 128) / 128.0)
    else:  # two's complement FixedFormat(0, 7)
        np.testing.assert_array_equal(vals, np.arange(-128, 128) / 128.0)
    x, y = _data(128)
    pol = nn.get_policy("sqpu")
    assert pol.update == "direct"
    r = nn.fit("lenet5", (x, y), policy=pol, epochs=1, batch_size=32, lr=0.05, seed=3)
    for p in r.model.parameters():
        assert p.stored.codes is not None and p.stored.codes.dtype == np.uint8
        np.testing.assert_array_equal(np.round(p.data * 128), p.data * 128)
        assert np.abs(p.data).max() <= 1
    assert r.memory["master_weights"] == 0
    assert r.memory["parameters"] == r.memory["num_parameters"]


def test_select_offset_definition():
    fmax = 448.0
    for amax in [448.0, 448.5, 447.9, 224.0, 224.1, 1e-3, 3.0e5, 2.0**-30, 0.75]:
        k = nn.select_offset(amax, fmax)
        assert amax * 2.0**k <= fmax < amax * 2.0 ** (k + 1)
        k2 = nn.select_offset(amax, fmax, margin=2)
        assert k2 == k - 2
    with pytest.raises(ValueError, match="amax"):
        nn.select_offset(0.0, fmax)


def test_dynamic_and_delayed_offsets_on_crafted_tensors():
    pol = nn.QuantPolicy(activations=nn.RoleSpec(E4M3, offset=nn.OffsetSpec("dynamic", min=-4,
                                                                             max=20)),
                         errors=nn.RoleSpec(E4M3, offset=nn.OffsetSpec("delayed", history=2)))
    ctx = nn.QuantContext(pol)
    qa = ctx.quantizer("a", "activations")
    # E4M3 max 448: amax 0.3 -> largest k with 0.3 * 2^k <= 448 is 10 (307.2)
    t = np.array([0.1, -0.3, 0.0], np.float32)
    out = qa(t)
    assert qa.offset == 10 and qa.format().bias == 17 and qa.scale_exp == -10
    np.testing.assert_array_equal(out, mf.quantize(t, E4M3.replace(bias=17)))
    qa(np.array([1e6], np.float32))  # would be -12: clamped to min -4
    assert qa.offset == -4
    qa(np.array([1e-9], np.float32))  # would be 38: clamped to max 20
    assert qa.offset == 20
    qa(np.zeros(3, np.float32))  # no information: keep the last offset
    assert qa.offset == 20
    qe = ctx.quantizer("e", "errors")
    qe(np.array([1.0], np.float32))  # first tensor: its own amax -> 8
    assert qe.offset == 8
    qe(np.array([4.0], np.float32))  # history [1]: still 8 (delayed)
    assert qe.offset == 8
    qe(np.array([0.001], np.float32))  # history [1, 4]: 4 -> 6
    assert qe.offset == 6
    qe(np.array([0.001], np.float32))  # history [4, 0.001] -> 6
    assert qe.offset == 6
    qe(np.array([0.001], np.float32))  # history [0.001, 0.001] -> 18
    assert qe.offset == 18


def test_init_offset_is_fixed_by_the_first_tensor():
    pol = nn.QuantPolicy(weights=nn.RoleSpec(E4M3, offset=nn.OffsetSpec("init")),
                         biases=nn.RoleSpec(E4M3, offset=nn.OffsetSpec("init", value=3)))
    ctx = nn.QuantContext(pol)
    qw = ctx.quantizer("w", "weights")
    qw(np.array([0.1, -0.3], np.float32))  # 0.3 * 2^10 = 307.2 <= 448 < 614.4
    assert qw.offset == 10
    # later tensors keep it: 4.0 * 2^10 overflows and saturates to 448 * 2^-10
    out = qw(np.array([4.0, -0.001], np.float32))
    assert qw.offset == 10
    assert out[0] == 448 * 2.0**-10 and _on_grid(out * 2.0**10, E4M3)
    qw(np.array([1e-6], np.float32))
    assert qw.offset == 10
    qb = ctx.quantizer("b", "biases")
    qb(np.zeros(4, np.float32))  # all zeros: the value, fixed from now on
    qb(np.array([0.001], np.float32))
    assert qb.offset == 3


def _on_fixed_grid(x, k):
    """x lies on the grid {j * 2^-(7+k)}."""
    y = np.asarray(x, np.float64) * 2.0 ** (7 + k)
    return bool(np.array_equal(y, np.round(y)))


def _sqpu_scaled_step(g_scale, seed, lr=0.05):
    """One SGD step (momentum 0) of a single weight tensor under sqpu_scaled."""
    from minifloat.nn.optim import SGD
    from minifloat.nn.tensor import Parameter

    rng = np.random.default_rng(seed)
    w0 = (rng.normal(0, 0.02, (40, 50))).astype(np.float32)
    ctx = nn.QuantContext(nn.get_policy("sqpu_scaled"), seed=seed)
    p = Parameter(w0, "weights", "w")
    p.attach(ctx)
    opt = SGD([p], lr=lr, momentum=0.0, ctx=ctx)
    before = p.data.copy()
    p.grad = (rng.normal(0, g_scale, w0.shape)).astype(np.float32)
    off = ctx.stream
    opt.step()
    return p, before, off


@pytest.mark.parametrize("g_scale", [0.3, 0.01])
def test_sqpu_scaled_update_is_one_stochastic_rounding_onto_the_parameter_grid(g_scale):
    """w <- w - SR(lr * g) on the parameter's own fixed-point grid (offset chosen at
    initialisation), checked code by code against the oracle's fixed-point projection and
    Philox stream."""
    from fractions import Fraction

    p, before, off = _sqpu_scaled_step(g_scale, seed=11)
    q = nn.fixed_point(0, 7)
    k = p.quantizer.offset
    amax = float(np.abs(p.init_value).max())  # largest k with amax * 2^k <= 127/128
    assert amax * 2.0**k <= 127 / 128 < amax * 2.0 ** (k + 1)
    assert k >= 2  # a finer grid than Q0.7 for these small weights
    assert _on_fixed_grid(p.data, k)
    n = p.size
    R = oracle.random_stream(11, off, n, 16)
    u = (np.float32(0.05) * p.grad).ravel()
    scale = Fraction(2) ** k
    expected = []
    for i in range(n):
        cu = oracle.fixed_project(q, Fraction(float(u[i])) * scale, "stochastic_c", "finite",
                                  16, int(R[i]))
        w = Fraction(float(before.ravel()[i])) * scale - oracle.fixed_decode(q, cu)
        expected.append(oracle.fixed_project(q, w))  # exact on the grid, or saturated
    np.testing.assert_array_equal(p.stored.codes.ravel().astype(np.int64), expected)
    assert p.stored.scale_exp == -k


def test_param_offset_follows_a_quantised_master_copy_and_is_updates_only():
    from minifloat.nn.optim import SGD
    from minifloat.nn.tensor import Parameter

    pol = nn.QuantPolicy(weights=nn.RoleSpec(E4M3, offset=4),
                         master_weights=nn.RoleSpec(E5M10, offset=nn.OffsetSpec("dynamic")),
                         updates=nn.RoleSpec(E5M10, offset="param"))
    ctx = nn.QuantContext(pol)
    p = Parameter(np.full((3,), 0.2, np.float32), "weights", "w")
    p.attach(ctx)
    opt = SGD([p], lr=0.1, momentum=0.0, ctx=ctx)
    p.grad = np.array([1e-3, -2e-3, 0.0], np.float32)
    opt.step()
    # the master copy's dynamic offset for amax 0.2: 0.2 * 2^18 <= 65504 < 0.2 * 2^19
    assert ctx.quantizers["w.master_weights"].offset == 18
    assert ctx.quantizers["w.updates"].offset == 18  # followed it (its own value is 0)
    for role in ("weights", "errors", "master_weights"):
        with pytest.raises(ValueError, match=f"{role}: offset mode 'param'"):
            nn.QuantPolicy(**{role: nn.RoleSpec(E4M3, offset="param")})


def test_offsets_recorded_per_step_with_bias_and_scale_views():
    x, y = _data(96)
    r = nn.fit("lenet5", (x, y), policy="asymmetric8_dynamic", epochs=1, batch_size=32, seed=0)
    assert r.offsets, "dynamic slots must be recorded"
    for name, rec in r.offsets.items():
        assert len(rec["offset"]) == 3, name
        assert rec["bias"] == [rec["base_bias"] + k for k in rec["offset"]]
        assert rec["scale_exp"] == [-k for k in rec["offset"]]
    json.dumps(r.to_dict())  # serialisable


def test_policy_json_round_trip(tmp_path):
    for name in nn.POLICIES:
        pol = nn.get_policy(name)
        d = json.loads(json.dumps(pol.to_dict()))
        assert nn.QuantPolicy.from_dict(d) == pol, name
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"base": "asymmetric8", "name": "mine",
                                "errors": {"format": "e5m2", "offset": {"mode": "dynamic"}}}))
    pol = nn.get_policy(str(path))
    assert pol.name == "mine" and pol.errors.offset.mode == "dynamic"
    assert pol.weights == nn.get_policy("asymmetric8").weights
    p2 = nn.get_policy("asymmetric8").with_format("e5m2", bias=20)
    assert p2.errors.format == E5M2.replace(bias=20) and p2.errors.offset.value == 0
    assert not p2.updates.quantized


def test_policy_bad_input():
    with pytest.raises(ValueError, match="policy='nope'"):
        nn.get_policy("nope")
    with pytest.raises(ValueError, match="rounding"):
        nn.QuantPolicy(weights=nn.RoleSpec("e4m3", rounding="sideways"))
    with pytest.raises(ValueError, match="role 'errors'.*random_bits"):
        nn.QuantPolicy(errors=nn.RoleSpec("e4m3", rounding="stochastic_c"))
    with pytest.raises(ValueError, match="offset mode"):
        nn.OffsetSpec("adaptive")
    with pytest.raises(ValueError, match="update="):
        nn.QuantPolicy(update="lazy")
    with pytest.raises(ValueError, match="unknown policy keys"):
        nn.QuantPolicy.from_dict({"wieghts": "e4m3"})
    with pytest.raises(ValueError, match="format"):
        nn.RoleSpec("e9m9")
    with pytest.raises(ValueError, match="role="):
        nn.get_policy("fp32").role("gradients")


def test_fit_is_deterministic_with_a_seed():
    x, y = _data(128)
    runs = [nn.fit("lenet5", (x, y), policy="sqpu", epochs=1, batch_size=32, seed=s)
            for s in (5, 5, 6)]
    a, b, c = runs
    assert a.history[0]["train_loss"] == b.history[0]["train_loss"]
    for pa, pb in zip(a.model.parameters(), b.model.parameters()):
        np.testing.assert_array_equal(pa.stored.codes, pb.stored.codes)
    assert any(not np.array_equal(pa.stored.codes, pc.stored.codes)
               for pa, pc in zip(a.model.parameters(), c.model.parameters()))


@pytest.mark.parametrize("policy", ["fp32", "asymmetric8", "sqpu", "sqpu_scaled"])
def test_training_loss_drops(policy):
    x, y = _data(512, seed=2)
    r = nn.fit("lenet5", (x[:384], y[:384]), (x[384:], y[384:]), policy=policy, epochs=3,
               batch_size=32, lr=0.02, seed=0)
    losses = [h["train_loss"] for h in r.history]
    assert losses[-1] < 0.6 * losses[0], losses
    assert r.final_test_acc > 0.6


def test_accumulators_bit_specified():
    rng = np.random.default_rng(0)
    a = mf.quantize(rng.normal(size=(5, 40)).astype(np.float32), E4M3)
    b = mf.quantize(rng.normal(size=(40, 3)).astype(np.float32), E4M3)
    from minifloat.nn.tensor import matmul

    ctx = nn.QuantContext(nn.QuantPolicy(activations=nn.RoleSpec(E4M3), accumulator="float32"))
    ref = np.zeros((5, 3), np.float32)
    for k in range(40):  # sequential binary32 sums of exact products
        ref = (ref + a[:, k:k + 1].astype(np.float64) * b[k].astype(np.float64)).astype(
            np.float32)
    np.testing.assert_array_equal(matmul(a, b, ctx), ref)
    ml = pytest.importorskip("ml_dtypes")
    pol = nn.QuantPolicy(weights=nn.RoleSpec(E4M3), activations=nn.RoleSpec(E4M3),
                         errors=nn.RoleSpec(E4M3), accumulator="bfloat16")
    ctx = nn.QuantContext(pol)
    ref16 = np.zeros((5, 3), ml.bfloat16)
    for k in range(40):  # every addition rounded to bfloat16 (products are bf16-exact here
        # only after rounding: compute the exact product in float64, add, round once)
        ref16 = (ref16.astype(np.float64)
                 + a[:, k:k + 1].astype(np.float64) * b[k].astype(np.float64)).astype(ml.bfloat16)
    np.testing.assert_array_equal(matmul(a, b, ctx), ref16.astype(np.float32))
    with pytest.raises(ValueError, match="fraction bits"):
        matmul(a, b, nn.QuantContext(nn.QuantPolicy(accumulator="bfloat16")))


def test_memory_report_sqpu_vs_ste():
    x, y = _data(64, shape=(1, 28, 28))
    r = nn.fit("lenet5", (x, y), policy="sqpu", epochs=1, batch_size=64, seed=0)
    m = r.memory
    n = m["num_parameters"]
    assert n == 61706  # LeNet-5 (28x28, padded conv1) parameter count
    assert m["parameters"] == n and m["master_weights"] == 0
    assert m["optimizer_state"] == 4 * n  # float32 momentum
    assert m["ste_parameters"] == 4 * n + n
    assert m["total"] == m["parameters"] + m["master_weights"] + m["optimizer_state"] + \
        m["saved_activations"]
    assert 0.4 < m["ratio_vs_ste"] < 0.65
    f = nn.fit("lenet5", (x, y), policy="fp32", epochs=1, batch_size=64, seed=0).memory
    assert f["parameters"] == 4 * n and f["master_weights"] == 0
    assert f["ratio_vs_ste"] == pytest.approx(1.0)


def test_loss_scaling_and_schedules():
    x, y = _data(96)
    r = nn.fit("lenet5", (x, y), policy="asymmetric8", epochs=2, batch_size=32, seed=0,
               loss_scale=8.0, schedule="cosine", nesterov=True, weight_decay=1e-4)
    assert r.history[0]["loss_scale"] == 8.0
    assert r.history[0]["lr"] == pytest.approx(0.05) and r.history[1]["lr"] == pytest.approx(
        0.025)
    s = nn.LossScaler(16.0, dynamic=True, growth_interval=2)
    assert s.update(False) is False and s.scale == 8.0
    assert s.update(True) and s.update(True) and s.scale == 16.0
    sched = nn.ReduceOnPlateau(factor=0.5, patience=1)
    for v in (1.0, 1.0, 1.0):
        sched.observe(v)
    assert sched.factor(0) == 0.5
    assert nn.StepLR(2, 0.1).factor(5) == pytest.approx(0.01)


def _train_with(pol):
    assert nn.QuantPolicy.from_dict(json.loads(json.dumps(pol.to_dict()))) == pol
    x, y = _data(96)
    r = nn.fit("lenet5", (x, y), policy=pol, epochs=2, batch_size=32, seed=0, lr=0.02)
    assert np.isfinite(r.history[-1]["train_loss"])
    assert r.history[-1]["train_loss"] < r.history[0]["train_loss"]
    return r


def test_fixed_point_roles_train_and_store_codes():
    if not hasattr(mf, "FixedFormat"):
        pytest.skip("codec without FixedFormat")
    fx = mf.FixedFormat(1, 6)
    act = mf.FixedFormat(3, 4)
    pol = nn.QuantPolicy(name="fixed", weights=nn.RoleSpec(fx, offset=2),
                         biases=nn.RoleSpec(fx, offset=2),
                         activations=nn.RoleSpec(act, offset=nn.OffsetSpec("dynamic")),
                         errors=nn.RoleSpec(mf.FixedFormat(0, 7),
                                            offset=nn.OffsetSpec("dynamic")))
    r = _train_with(pol)
    for p in r.model.parameters():
        s = p.stored
        assert s.fmt == fx and s.codes.dtype == np.uint8 and s.scale_exp == -2
        # offset 2 = scale 2**-2: the values are FixedFormat(1, 6) values / 4
        np.testing.assert_array_equal(p.data, mf.decode(s.codes, fx) / 4)
        assert np.array_equal(p.data * 256, np.round(p.data * 256))
    assert any(rec["role"] == "errors" for rec in r.offsets.values())


def test_lns_roles_train():
    if not hasattr(mf, "LNSFormat"):
        pytest.skip("codec without LNSFormat")
    lns = mf.LNSFormat(4, 3)
    pol = nn.QuantPolicy(name="lns", weights=nn.RoleSpec(lns, offset=nn.OffsetSpec("dynamic")),
                         activations=nn.RoleSpec(lns, offset=nn.OffsetSpec("dynamic")),
                         errors=nn.RoleSpec(lns, offset=nn.OffsetSpec("dynamic")))
    r = _train_with(pol)
    for p in r.model.parameters():
        if p.role == "weights":
            s = p.stored
            assert s.fmt == lns and s.codes.dtype == np.uint8
            np.testing.assert_array_equal(
                p.data, np.ldexp(mf.decode(s.codes, lns), s.scale_exp).astype(np.float32))
