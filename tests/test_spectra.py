"""Hessian spectral statistics (:mod:`nnlandscape.spectra`) and the structural zeros of ReLU networks."""
import numpy as np
import pytest

from nnlandscape import spectra
from nnlandscape.nets import MLP


def test_indices_of_a_known_spectrum():
    Q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((4, 4)))
    lam = np.array([-2.0, -1e-9, 1e-12, 3.0])
    H = np.zeros((5, 5))
    H[:4, :4] = (Q * lam) @ Q.T  # the fifth parameter is decoupled: a structural zero
    H = 0.5 * (H + H.T)
    hi = spectra.hessian_indices(H, eps=1e-6)
    assert hi.null_structural == pytest.approx(1 / 5)
    assert list(hi.structural) == [False] * 4 + [True]
    assert hi.negative == pytest.approx(1 / 5)  # only -2 is beyond eps * 3
    assert hi.null_relative == pytest.approx(3 / 5)  # -1e-9, 1e-12 and the exact zero
    assert hi.positive == pytest.approx(1 / 5)
    assert hi.negative + hi.null_relative + hi.positive == pytest.approx(1.0)
    assert hi.negative_strict == pytest.approx(2 / 5)  # the authors' count sees -1e-9 as negative
    np.testing.assert_allclose(np.sort(hi.eigenvalues), np.sort(np.r_[lam, 0.0]), atol=1e-12)
    # the structural eigenvector is the coordinate vector (IPR 1), and eigenpairs reconstruct H
    k = np.flatnonzero(hi.eigenvalues == 0.0)
    assert k.size == 1 and hi.ipr[k[0]] == 1.0
    V = hi.eigenvectors
    np.testing.assert_allclose((V * hi.eigenvalues) @ V.T, H, atol=1e-12)


def test_ipr_null_value_for_random_vectors():
    N, reps = 40, 60
    rng = np.random.default_rng(1)
    iprs = np.concatenate([spectra.ipr(np.linalg.qr(rng.standard_normal((N, N)))[0]) for _ in range(reps)])
    se = iprs.std() / np.sqrt(iprs.size)  # columns of Haar matrices: nearly independent
    assert abs(iprs.mean() - spectra.ipr_null(N)) < 5 * se
    assert spectra.ipr(np.eye(N)).tolist() == [1.0] * N
    assert spectra.ipr(np.ones((N, 1)) / np.sqrt(N))[0] == pytest.approx(1 / N)


def _dead_relu_net(dead, width=10, seed=0):
    """2-width-1 ReLU net on positive inputs; units in ``dead`` get negative weights and bias."""
    net = MLP([2, width, 1], "relu")
    rng = np.random.default_rng(seed)
    W1 = rng.uniform(0.2, 1.0, (width, 2))
    b1 = rng.uniform(-0.1, 0.1, width)
    W1[dead] *= -1
    b1[dead] = -0.5
    th = net.pack([W1, rng.standard_normal((1, width))], [b1, np.array([0.1])])
    X = rng.uniform(0.05, 1.0, (50, 2))
    y = (X[:, 0] > X[:, 1]).astype(float)
    return net, th, X, y


@pytest.mark.parametrize("dead", [[], [3], [0, 4, 7], [1, 2, 5, 6, 8]])
def test_dead_relu_units_are_exactly_the_structural_zeros(dead):
    net, th, X, y = _dead_relu_net(dead)
    H = net.hessian(th, X, y, "cross_entropy")
    hi = spectra.hessian_indices(H)
    expected = np.zeros(net.n_params, bool)
    for j in dead:
        s, _ = net._slices[1, "W"]
        expected[s + 2 * j : s + 2 * j + 2] = True  # incoming weights
        expected[net._slices[1, "b"][0] + j] = True  # bias
        expected[net._slices[2, "W"][0] + j] = True  # outgoing weight
    assert hi.structural.tolist() == expected.tolist()
    assert hi.null_structural == pytest.approx(4 * len(dead) / net.n_params)
    assert hi.null_relative >= hi.null_structural


def test_dead_unit_in_second_layer():
    net = MLP([2, 3, 2, 1], "relu")
    rng = np.random.default_rng(2)
    W1 = rng.uniform(0.2, 1, (3, 2))
    W2 = rng.uniform(0.2, 1, (2, 3))
    W2[1] *= -1  # second unit of layer 2 never fires (its inputs are positive)
    th = net.pack([W1, W2, rng.standard_normal((1, 2))], [np.zeros(3), np.array([0.0, -0.3]), np.zeros(1)])
    X = rng.uniform(0.05, 1, (30, 2))
    y = (X.sum(1) > 1).astype(float)
    hi = spectra.hessian_indices(net.hessian(th, X, y, "cross_entropy"))
    sW2, _ = net._slices[2, "W"]
    expected = np.zeros(net.n_params, bool)
    expected[sW2 + 3 : sW2 + 6] = True
    expected[net._slices[2, "b"][0] + 1] = True
    expected[net._slices[3, "W"][0] + 1] = True
    assert hi.structural.tolist() == expected.tolist()


@pytest.mark.parametrize("act", ["sigmoid", "swish", "esp"])
def test_smooth_networks_have_no_structural_zeros(act):
    net = MLP([2, 8, 2, 1], act)
    X = np.random.default_rng(3).uniform(0, 1, (40, 2))
    y = (X[:, 1] > X[:, 0]).astype(float)
    th = net.init(3, seed=4, scheme="glorot")
    hi = spectra.hessian_indices(net.hessian(th, X, y, "cross_entropy"))
    assert np.all(hi.null_structural == 0)


def test_spectral_density_integrates_to_one():
    lam = np.random.default_rng(5).standard_normal((4, 30))
    c, h, e = spectra.spectral_density(lam, bins=12)
    assert (h * np.diff(e)).sum() == pytest.approx(1.0)
    c, h, e = spectra.spectral_density(lam, bins=12, density=False)
    assert h.sum() == pytest.approx(30.0)  # eigenvalues per network


def test_bad_input():
    H = np.eye(3)
    for eps in (0.0, 1.0, -1e-3, 2.0):
        with pytest.raises(ValueError, match="eps"):
            spectra.hessian_indices(H, eps=eps)
    with pytest.raises(ValueError, match="symmetric"):
        spectra.hessian_indices(np.triu(np.ones((3, 3))))
    with pytest.raises(ValueError, match="shape"):
        spectra.hessian_indices(np.ones((2, 3)))
    with pytest.raises(ValueError, match="finite"):
        spectra.hessian_indices(np.full((2, 2), np.nan))
    with pytest.raises(ValueError, match="N"):
        spectra.ipr_null(0)
    with pytest.raises(ValueError, match="range"):
        spectra.spectral_density([1.0, 2.0], range=(1.0, 0.0))
