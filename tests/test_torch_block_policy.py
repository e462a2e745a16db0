"""Block-scaled policies through minifloat.torch.quantize_model (minifloat/torch/block_model.py):
every matmul operand is ``mf.quantize`` (oracle-checked in tests/test_blocks.py) of the
tensor with blocks along that matmul's reduction axis, the layers compute what minifloat.nn's
layers compute (oracle-checked operands, tests/test_nn_block_policy.py), training under the
presets is seeded and reproducible, torch.compile gives the eager values, and policies the
block path cannot run are refused by name."""

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")
mf = pytest.importorskip("minifloat")
mft = pytest.importorskip("minifloat.torch")
nn = mf.nn
from minifloat.torch import block_model  # noqa: E402

MX8 = mf.format("mxfp8_e4m3")
MX8E5 = mf.format("mxfp8_e5m2")
POL = nn.QuantPolicy(name="t", weights=nn.RoleSpec(MX8), activations=nn.RoleSpec(MX8),
                     errors=nn.RoleSpec(MX8E5), saved_inputs=nn.RoleSpec(MX8E5))


def _q(x, fmt, axis):
    """mf.quantize with blocks along ``axis`` and a zero-padded partial last block."""
    return mf.quantize(np.asarray(x), fmt.replace(axis=axis, padding="zeros"))


def _record(monkeypatch):
    calls = []
    real = block_model.block_operand

    def rec(q, t, axis):
        out = real(q, t, axis)
        if q is not None and q.blocked:
            calls.append((q.spec.format, axis, t.detach().numpy().copy(),
                          out.detach().numpy().copy()))
        return out

    monkeypatch.setattr(block_model, "block_operand", rec)
    return calls


def _pair_layers(kind, seed=0):
    """A torch layer under POL and the minifloat.nn layer with the same weights."""
    g = torch.Generator().manual_seed(seed)
    if kind == "linear":
        t = torch.nn.Linear(40, 24)
        n = nn.Linear(40, 24)
    else:
        t = torch.nn.Conv2d(3, 4, 3, padding=1)
        n = nn.Conv2d(3, 4, 3, padding=1)
    with torch.no_grad():
        t.weight.copy_(torch.randn(t.weight.shape, generator=g) * 0.3)
        t.bias.copy_(torch.randn(t.bias.shape, generator=g) * 0.1)
    n.weight.init_value = t.weight.detach().numpy().copy()
    n.bias.init_value = t.bias.detach().numpy().copy()
    n.name, n.weight.name, n.bias.name = "l", "l.weight", "l.bias"
    n.attach(nn.QuantContext(POL, seed=0))
    n.train()
    return mft.quantize_model(torch.nn.Sequential(t), POL, quantize_input=False), n


@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_operands_are_blocked_along_each_reduction_axis(kind, monkeypatch):
    model, ref = _pair_layers(kind)
    calls = _record(monkeypatch)
    shape = (6, 40) if kind == "linear" else (2, 3, 5, 5)
    gen = torch.Generator().manual_seed(1)
    x = (torch.randn(shape, generator=gen) * 3).requires_grad_(True)
    y = model(x)
    g = torch.randn(y.shape, generator=gen)
    y.backward(g)
    for fmt, axis, t, out in calls:  # each operand: mf.quantize along the stated axis
        np.testing.assert_array_equal(out, _q(t, fmt, axis))
    axes = [(f, a) for f, a, _, _ in calls]
    if kind == "linear":
        assert axes == [(MX8, 1), (MX8, 1), (MX8E5, 0), (MX8, 0), (MX8E5, 0), (MX8E5, 0),
                        (MX8E5, 1)]
    # the same layer in minifloat.nn: same output and gradients up to float32 summation order
    yn = ref.forward(x.detach().numpy())
    np.testing.assert_allclose(y.detach().numpy(), yn, rtol=1e-5, atol=1e-6)
    gx = ref.backward(g.numpy())
    w = model[0].weight
    np.testing.assert_allclose(w.grad.numpy(), ref.weight.grad, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model[0].bias.grad.numpy(), ref.bias.grad, rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(x.grad.numpy(), gx, rtol=1e-4, atol=1e-5)


def _train(policy, steps=6, seed=3):
    torch.manual_seed(0)
    model = mft.quantize_model(mft.lenet5(seed=0), policy, seed=seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(32, 1, 28, 28, generator=gen)
    y = torch.randint(0, 10, (32,), generator=gen)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        mft.context(model).step += 1
        losses.append(loss.item())
    return losses, [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("name", ["mxfp8", "mxfp4", "nvfp4"])
def test_block_presets_train_reproducibly(name):
    la, pa = _train(name)
    lb, pb = _train(name)
    assert la == lb and all(torch.equal(a, b) for a, b in zip(pa, pb))
    assert all(np.isfinite(la)) and la[-1] < la[0], la
    if name == "nvfp4":  # the stochastically rounded errors follow the seed
        _, pc = _train(name, seed=4)
        assert any(not torch.equal(a, c) for a, c in zip(pa, pc))


def test_compile_runs_the_block_layers_eagerly_with_the_same_values():
    torch.manual_seed(0)
    model = mft.quantize_model(torch.nn.Sequential(torch.nn.Linear(8, 4)), "mxfp8").eval()
    x = torch.randn(3, 8)
    with torch.no_grad():
        assert torch.equal(torch.compile(model)(x), model(x))


def test_block_policies_refused_where_they_cannot_run():
    with pytest.raises(ValueError, match="accumulator='float32_blas' and update='ste'"):
        mft.quantize_model(torch.nn.Linear(4, 2),
                           dataclasses.replace(nn.get_policy("mxfp8"), accumulator="float32"))
    with pytest.raises(ValueError, match="dilation 1 and groups 1"):
        mft.quantize_model(torch.nn.Sequential(torch.nn.Conv2d(4, 4, 3, groups=2)), "mxfp4")
