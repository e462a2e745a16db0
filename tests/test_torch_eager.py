"""minifloat.torch's eager path (autograd.Functions calling the codec on NumPy views, one fused
node per quantised layer) against the operator path (``torch.ops.minifloat.*``, one node per
slot, forced by ``custom_ops_only``): identical values, gradients and training runs; and
TensorQuantizer's direct core call against mf.quantize."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")
mf = pytest.importorskip("minifloat")
mft = pytest.importorskip("minifloat.torch")

from minifloat import nn  # noqa: E402
from minifloat.torch import quant_ops  # noqa: E402
from minifloat.torch.model import _FusedLayerFn, _LayerFn  # noqa: E402


def _bits(t):
    return t.detach().contiguous().view(torch.int32 if t.dtype == torch.float32
                                        else torch.int64).numpy()


@pytest.mark.parametrize("kw", [
    {"fmt": "e4m3", "saturation": "finite"},
    {"fmt": "e5m2", "rounding": "toward_zero"},
    {"fmt": "e4m3", "rounding": "stochastic_c", "random_bits": 8, "seed": 5, "offset": 3},
    {"fmt": "e4m3", "grad": "clipped", "saturation": "finite"},
    {"fmt": "bf16", "backward": {"fmt": "e5m2", "rounding": "stochastic_a", "random_bits": 4,
                                 "seed": 2}},
    {"fmt": mf.FixedFormat(2, 5), "saturation": "finite"},
])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_quantize_eager_and_operator_paths_identical(kw, dtype, rng):
    x0 = torch.from_numpy(rng.standard_normal((7, 9)) * 30).to(dtype)
    g = torch.from_numpy(rng.standard_normal((7, 9))).to(dtype)
    out = []
    for force in (False, True):
        x = x0.clone().requires_grad_()
        if force:
            with quant_ops.custom_ops_only():
                assert not quant_ops.eager(x)
                y = mft.quantize(x, **kw)
        else:
            assert quant_ops.eager(x)
            y = mft.quantize(x, **kw)
        y.backward(g)
        out.append((y, x.grad))
    (ye, ge), (yo, go) = out
    assert ye.dtype == yo.dtype == dtype
    np.testing.assert_array_equal(_bits(ye.float()), _bits(yo.float()))
    np.testing.assert_array_equal(_bits(ge.float()), _bits(go.float()))
    if "backward" not in kw and kw.get("grad") != "clipped":
        np.testing.assert_array_equal(ge.float().numpy(), g.float().numpy())  # straight-through


def test_quantizer_module_eager_and_operator_paths_identical(rng):
    fwd = {"format": "e4m3", "rounding": "stochastic_c", "random_bits": 8,
           "offset": {"mode": "dynamic"}}
    bwd = {"format": "e5m2", "offset": {"mode": "delayed", "history": 4}}
    x0 = torch.from_numpy(rng.standard_normal((3, 50)).astype(np.float32) * 5)
    runs = []
    for force in (False, True):
        q = mft.Quantizer(fwd, bwd, seed=3, name="q")
        ys, gs = [], []
        for step in range(3):
            x = (x0 * (step + 1)).requires_grad_()
            if force:
                with quant_ops.custom_ops_only():
                    y = q(x)
            else:
                y = q(x)
            y.backward(torch.full_like(x, 1e-3 * (step + 1)))
            q.context.step += 1
            ys.append(_bits(y))
            gs.append(_bits(x.grad))
        runs.append((ys, gs, q.context.offsets))
    for a, b in zip(runs[0][0] + runs[0][1], runs[1][0] + runs[1][1]):
        np.testing.assert_array_equal(a, b)
    assert runs[0][2] == runs[1][2]


def _policy(name):
    pol = nn.get_policy(name)
    if name == "asymmetric8":  # also stochastic errors, dynamic weight gradients, saved inputs
        pol = pol.replace_role("errors", rounding="stochastic_c", random_bits=8)
        pol = pol.replace_role("weight_grads", offset=nn.OffsetSpec("dynamic"))
        pol = pol.replace_role("saved_inputs", format="e5m2",
                               offset=nn.OffsetSpec("delayed", history=2))
    return pol


@pytest.mark.parametrize("policy", ["asymmetric8", "sqpu", "sakr8"])
def test_training_fused_layers_equals_operator_path(policy, rng, monkeypatch):
    """Three SGD steps of LeNet-5: the fused per-layer nodes (eager) and the per-slot
    operators give the same parameters, losses and recorded offsets, bit for bit."""
    x = torch.from_numpy(rng.standard_normal((6, 1, 28, 28)).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, 10, 6))
    calls = {"fused": 0, "layer": 0}
    for fn, key in ((_FusedLayerFn, "fused"), (_LayerFn, "layer")):
        def counted(*a, _orig=fn.forward, _key=key):
            calls[_key] += 1
            return _orig(*a)
        monkeypatch.setattr(fn, "forward", staticmethod(counted))
    results = []
    for force in (False, True):
        model = mft.quantize_model(mft.lenet5(seed=1), _policy(policy), seed=4)
        opt = mft.optim.QuantizedOptimizer(
            torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9), model=model)
        losses = []
        for _ in range(3):
            opt.zero_grad()
            with quant_ops.custom_ops_only() if force else contextlib.nullcontext():
                loss = torch.nn.functional.cross_entropy(model(x), y)
                loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        results.append((model, losses, mft.context(model).offsets, dict(calls)))
    (me, le, oe, ce), (mo, lo, oo, co) = results
    assert ce == {"fused": 15, "layer": 0}  # 5 layers x 3 steps
    assert co == {"fused": 15, "layer": 15}
    assert le == lo
    assert oe == oo and oe
    for (n, pe), po in zip(me.named_parameters(), mo.parameters()):
        np.testing.assert_array_equal(_bits(pe), _bits(po), err_msg=n)


def test_frozen_parameters_take_the_same_slots_on_both_paths(rng):
    """A frozen weight: no weight-gradient projection on either path (the delayed-offset
    history and the stream call counts stay as the per-slot operators leave them)."""
    pol = nn.get_policy("asymmetric8").replace_role(
        "weight_grads", offset=nn.OffsetSpec("delayed", history=3))
    x = torch.from_numpy(rng.standard_normal((4, 12)).astype(np.float32))
    out = []
    for force in (False, True):
        model = mft.quantize_model(torch.nn.Sequential(torch.nn.Linear(12, 5)), pol)
        model[0].weight.requires_grad_(False)
        with quant_ops.custom_ops_only() if force else contextlib.nullcontext():
            model(x).sum().backward()
        ctx = mft.context(model)
        out.append((ctx.offsets, ctx.quantizers["0.weight_grads"]._calls,
                    list(ctx.quantizers["0.weight_grads"]._history),
                    _bits(model[0].bias.grad)))
    assert out[0][:3] == out[1][:3]
    assert "0.weight_grads" not in out[0][0] and "0.bias_grads" in out[0][0]
    np.testing.assert_array_equal(out[0][3], out[1][3])


def test_eager_path_is_off_under_fake_tensors_and_vmap():
    from torch._subclasses.fake_tensor import FakeTensorMode

    x = torch.ones(3)
    assert quant_ops.eager(x, None)
    with FakeTensorMode():
        assert not quant_ops.eager(torch.ones(3))
    seen = []
    torch.func.vmap(lambda t: seen.append(quant_ops.eager(t)) or t)(torch.ones(2, 3))
    assert seen == [False]


def test_eager_path_is_off_under_compile():
    seen = []

    def f(t):
        seen.append(quant_ops.eager(t))
        return mft.quantize(t, "e4m3") * 2

    x = torch.linspace(-3, 3, 16)
    got = torch.compile(f, backend="aot_eager")(x)
    np.testing.assert_array_equal(got.numpy(), 2 * mf.quantize(x.numpy(), "e4m3"))
    assert seen and not any(seen)


@pytest.mark.parametrize("spec", [
    nn.RoleSpec("e4m3", offset=nn.OffsetSpec("static", 5)),
    nn.RoleSpec("e4m3", rounding="stochastic_c", random_bits=8, offset=nn.OffsetSpec("dynamic")),
    nn.RoleSpec(mf.FloatFormat(4, 7, infinities=False, nan="none"), rounding="toward_zero",
                offset=nn.OffsetSpec("static", 3)),
    nn.RoleSpec("e5m2", saturation="none", flush_subnormals=True),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tensor_quantizer_direct_core_call_equals_mf_quantize(spec, dtype, rng):
    """The slot's direct core call (C-contiguous float32/float64) gives mf.quantize's bits
    on the slot's format at its offset, with the keyed stream's seed; NaN stays NaN."""
    ctx = nn.QuantContext(nn.QuantPolicy(activations=spec), seed=9, streams="keyed")
    q = ctx.quantizer("s", "activations")
    assert q._direct
    x = (rng.standard_normal(500) * 2.0 ** rng.integers(-14, 6, 500)).astype(dtype)
    x[:3] = (np.nan, np.inf, -0.0)
    got = q(x)
    fe = q.format()
    kw = {"rounding": spec.rounding, "saturation": spec.saturation}
    if spec.flush_subnormals:
        kw["flush_subnormals"] = True
    if spec.rounding.startswith("stochastic"):
        kw["random_bits"] = spec.random_bits
        kw["seed"] = nn.quant.stream_seed(9, "activations", "s", 0, 0, 0)
    want = mf.quantize(np.nan_to_num(x, nan=0.0), fe, **kw)
    want[0] = np.nan
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, want)
    codes, fe2, sexp = ctx.quantizer("t", "activations").encode(x[3:])
    assert sexp == 0
    kw.pop("seed", None)
    if "random_bits" in kw:
        kw["seed"] = nn.quant.stream_seed(9, "activations", "t", 0, 0, 0)
    np.testing.assert_array_equal(codes, mf.encode(x[3:], fe2, **kw))


def test_tensor_quantizer_reads_the_context_flush_setting(rng):
    ctx = nn.QuantContext(nn.QuantPolicy(activations=nn.RoleSpec("e4m3")))
    q = ctx.quantizer("s", "activations")
    x = np.array([2.0 ** -8, 2.0 ** -7, 1.0], dtype=np.float32)
    with mf.config(flush_subnormals=True):
        np.testing.assert_array_equal(q(x), mf.quantize(x, "e4m3", saturation="finite",
                                                        flush_subnormals=True))
    np.testing.assert_array_equal(q(x), mf.quantize(x, "e4m3", saturation="finite"))
