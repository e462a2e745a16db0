"""Gradient checks of every minifloat.nn layer in float64 (central finite differences), and
the forward passes of Conv2d and the pools against direct loop definitions."""

import numpy as np
import pytest

nn = pytest.importorskip("minifloat.nn")


def _f64(layer):
    layer.set_names("layer")
    layer.attach(None)
    layer.astype(np.float64)
    layer.train()
    return layer


def _objective(layer, x, r, before=None):
    if before is not None:
        before()
    return float((layer.forward(x) * r).sum())


def _check_grads(layer, x, rng, *, n_probe=12, eps=1e-6, before=None, rtol=1e-5):
    """Analytic input/parameter gradients of sum(layer(x) * r) against central differences."""
    if before is not None:
        before()
    y = layer.forward(x)
    r = rng.normal(size=y.shape)
    gx = layer.backward(r.copy())
    grads = [(p, p.grad.copy()) for p in layer.parameters()]
    targets = [("x", x, gx)] + [(p.name, p.data, g) for p, g in grads]
    for name, arr, g in targets:
        assert g.shape == arr.shape, name
        flat = arr.reshape(-1)
        idx = rng.choice(flat.size, size=min(n_probe, flat.size), replace=False)
        for i in idx:
            old = flat[i]
            flat[i] = old + eps
            fp = _objective(layer, x, r, before)
            flat[i] = old - eps
            fm = _objective(layer, x, r, before)
            flat[i] = old
            num = (fp - fm) / (2 * eps)
            ana = g.reshape(-1)[i]
            assert abs(num - ana) <= rtol * max(1.0, abs(num)) + 1e-7, (name, i, num, ana)


def test_linear_gradients(rng):
    layer = _f64(nn.Linear(7, 5, rng=rng))
    layer.bias.data[:] = rng.normal(size=5)
    _check_grads(layer, rng.normal(size=(4, 7)), rng)


@pytest.mark.parametrize("stride,padding,k", [(1, 0, 3), (2, 1, 3), ((1, 2), (2, 0), (3, 2)),
                                              (2, 0, 1)])
def test_conv2d_gradients(rng, stride, padding, k):
    layer = _f64(nn.Conv2d(3, 4, k, stride, padding, rng=rng))
    layer.bias.data[:] = rng.normal(size=4)
    _check_grads(layer, rng.normal(size=(2, 3, 7, 8)), rng)


def test_conv2d_forward_matches_loops(rng):
    layer = _f64(nn.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=(1, 2), rng=rng))
    layer.bias.data[:] = rng.normal(size=3)
    x = rng.normal(size=(2, 2, 5, 6))
    y = layer.forward(x)
    w, b = layer.weight.data, layer.bias.data
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (2, 2)))
    oh, ow = (5 + 2 - 3) // 2 + 1, (6 + 4 - 2) // 1 + 1
    ref = np.zeros((2, 3, oh, ow))
    for n in range(2):
        for o in range(3):
            for i in range(oh):
                for j in range(ow):
                    ref[n, o, i, j] = (xp[n, :, 2 * i:2 * i + 3, j:j + 2] * w[o]).sum() + b[o]
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)


def test_relu_gradients(rng):
    x = rng.normal(size=(3, 10))
    x[np.abs(x) < 1e-3] = 0.5  # keep away from the kink
    _check_grads(_f64(nn.ReLU()), x, rng)


@pytest.mark.parametrize("k,s", [(2, None), (3, 2), (2, 1)])
def test_maxpool_gradients_and_forward(rng, k, s):
    layer = _f64(nn.MaxPool2d(k, s))
    x = rng.permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6) / 10.0  # distinct values: no ties
    _check_grads(layer, x, rng, eps=1e-4)
    st = k if s is None else s
    y = layer.forward(x)
    for i in range(y.shape[2]):
        for j in range(y.shape[3]):
            np.testing.assert_array_equal(
                y[:, :, i, j], x[:, :, st * i:st * i + k, st * j:st * j + k].max(axis=(2, 3)))


@pytest.mark.parametrize("k,s", [((2, 2), None), ((3, 3), (2, 2)), ((2, 3), (1, 2))])
def test_maxpool_ties_and_nan_follow_argmax(rng, k, s):
    """Ties go to the first maximum in row-major window order and a NaN wins, as np.argmax;
    the gradient goes to that one position. Reference: explicit loops over windows."""
    layer = nn.MaxPool2d(k, s)
    x = rng.integers(0, 3, size=(2, 3, 9, 10)).astype(np.float32)  # many ties
    x[rng.random(x.shape) < 0.1] = np.nan
    y = layer.forward(x)
    (kh, kw), (sh, sw) = layer.k, layer.stride
    g = rng.normal(size=y.shape).astype(np.float32)
    dx = layer.backward(g)
    want_dx = np.zeros_like(x)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(y.shape[2]):
                for j in range(y.shape[3]):
                    w = x[n, c, sh * i:sh * i + kh, sw * j:sw * j + kw].ravel()
                    t = int(np.argmax(w))
                    np.testing.assert_array_equal(y[n, c, i, j], w[t])
                    want_dx[n, c, sh * i + t // kw, sw * j + t % kw] += g[n, c, i, j]
    np.testing.assert_allclose(dx, want_dx, rtol=1e-6, atol=1e-6)  # overlaps: sum order


def test_im2col_col2im_match_loops(rng):
    """im2col against explicit receptive-field loops; col2im is its adjoint:
    <im2col(x), C> == <x, col2im(C)> for random C (stride and padding included)."""
    x = rng.normal(size=(2, 3, 7, 8))
    for (kh, kw), st, pad in [((3, 2), (2, 1), (1, 2)), ((1, 1), (1, 1), (0, 0)),
                              ((5, 5), (1, 1), (0, 0))]:
        cols, oh, ow = nn.im2col(x, kh, kw, st, pad)
        xp = np.pad(x, ((0, 0), (0, 0), (pad[0],) * 2, (pad[1],) * 2))
        want = np.array([xp[n, :, st[0] * i:st[0] * i + kh, st[1] * j:st[1] * j + kw].ravel()
                         for n in range(2) for i in range(oh) for j in range(ow)])
        np.testing.assert_array_equal(cols, want)
        c = rng.normal(size=cols.shape)
        back = nn.col2im(c, x.shape, kh, kw, st, pad, oh, ow)
        np.testing.assert_allclose(np.sum(cols * c), np.sum(x * back), rtol=1e-12)


@pytest.mark.parametrize("k,s", [(2, None), (3, 2)])
def test_avgpool_gradients_and_forward(rng, k, s):
    layer = _f64(nn.AvgPool2d(k, s))
    x = rng.normal(size=(2, 3, 7, 6))
    _check_grads(layer, x, rng)
    st = k if s is None else s
    y = layer.forward(x)
    np.testing.assert_allclose(y[:, :, 1, 1], x[:, :, st:st + k, st:st + k].mean(axis=(2, 3)))


def test_global_avgpool_and_flatten_gradients(rng):
    _check_grads(_f64(nn.GlobalAvgPool2d()), rng.normal(size=(2, 3, 4, 5)), rng)
    _check_grads(_f64(nn.Flatten()), rng.normal(size=(2, 3, 4, 5)), rng)


def test_dropout_gradients(rng):
    layer = _f64(nn.Dropout(0.4, seed=3))
    x = rng.normal(size=(4, 50))
    _check_grads(layer, x, rng, before=lambda: layer.reseed(3))
    layer.reseed(3)
    y = layer.forward(x)
    kept = y != 0
    assert 0.4 < kept.mean() < 0.8
    np.testing.assert_allclose(y[kept], x[kept] / 0.6)
    layer.eval()
    np.testing.assert_array_equal(layer.forward(x), x)


def test_batchnorm_gradients(rng):
    layer = _f64(nn.BatchNorm2d(3))
    layer.weight.data[:] = rng.normal(size=3)
    layer.bias.data[:] = rng.normal(size=3)
    x = rng.normal(size=(4, 3, 3, 2)) * 2 + 1
    _check_grads(layer, x, rng, eps=1e-5, rtol=1e-4)
    y = layer.forward(x)
    xn = (x - x.mean(axis=(0, 2, 3), keepdims=True)) / np.sqrt(
        x.var(axis=(0, 2, 3), keepdims=True) + 1e-5)
    np.testing.assert_allclose(y, xn * layer.weight.data[None, :, None, None]
                               + layer.bias.data[None, :, None, None], rtol=1e-10, atol=1e-12)


def test_scalar_and_residual_gradients(rng):
    body = nn.Sequential(nn.Scalar("bias"), nn.Conv2d(2, 2, 3, padding=1, rng=rng),
                         nn.Scalar("scale"))
    block = _f64(nn.Residual(body, nn.Conv2d(2, 2, 1, rng=rng)))
    for p in block.parameters():
        p.data[...] = rng.normal(size=p.shape)
    _check_grads(block, rng.normal(size=(2, 2, 4, 4)), rng)
    ident = _f64(nn.Residual(nn.Sequential(nn.Linear(3, 3, rng=rng))))
    _check_grads(ident, rng.normal(size=(2, 3)), rng)


def test_small_models_gradients(rng):
    for model, shape in ((nn.lenet5((1, 16, 16), 4, seed=1), (1, 16, 16)),
                         (nn.resnet(8, (2, 6, 6), 3, seed=1, width=2), (2, 6, 6)),
                         (nn.resnet(8, (2, 6, 6), 3, seed=1, width=2, norm="fixup"), (2, 6, 6)),
                         (nn.alexnet_small((1, 8, 8), 3, seed=1, width=2, dropout=0.0),
                          (1, 8, 8))):
        model.attach(None)
        model.astype(np.float64)
        for p in model.parameters():  # fixup zero-inits some layers: randomise everything
            p.data[...] = rng.normal(size=p.shape) * 0.5
        _check_grads(model, rng.normal(size=(3,) + shape), rng, n_probe=4, eps=1e-5, rtol=1e-4)


def test_softmax_cross_entropy(rng):
    z = rng.normal(size=(5, 4))
    y = np.array([0, 3, 1, 1, 2])
    loss, grad, ok = nn.softmax_cross_entropy(z, y, scale=8.0)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    assert loss == pytest.approx(-np.log(p[np.arange(5), y]).mean(), rel=1e-12)
    eps = 1e-6
    for i, j in [(0, 0), (2, 3), (4, 1)]:
        zp, zm = z.copy(), z.copy()
        zp[i, j] += eps
        zm[i, j] -= eps
        num = (nn.softmax_cross_entropy(zp, y)[0] - nn.softmax_cross_entropy(zm, y)[0]) / (2 * eps)
        assert grad[i, j] == pytest.approx(8.0 * num, rel=1e-6)
    np.testing.assert_array_equal(ok, z.argmax(axis=1) == y)


def test_layer_bad_input(rng):
    with pytest.raises(ValueError, match="input must be"):
        _f64(nn.Linear(3, 2, rng=rng)).forward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="input must be"):
        _f64(nn.Conv2d(3, 2, 3, rng=rng)).forward(np.zeros((2, 2, 5, 5)))
    with pytest.raises(ValueError, match="p="):
        nn.Dropout(1.0)
    with pytest.raises(ValueError, match="init="):
        nn.Linear(2, 2, init="orthogonal")
    with pytest.raises(ValueError, match="depth"):
        nn.resnet(10)
    with pytest.raises(ValueError, match="model="):
        nn.build_model("vgg16")
    with pytest.raises(RuntimeError, match="backward"):
        layer = _f64(nn.Linear(3, 2, rng=rng))
        layer.eval()
        layer.forward(np.zeros((1, 3)))
        layer.backward(np.zeros((1, 2)))
