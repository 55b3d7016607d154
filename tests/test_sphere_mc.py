"""Tests of nnlandscape.input_landscape (batched random MLPs with input gradients),
nnlandscape.sphere_mc (Metropolis / replica exchange / descent on the sphere) and
nnlandscape.shaped_limit (depth-continuum limit of the shaped-ReLU kernel)."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import special

from nnlandscape import kernels
from nnlandscape.activations import get_activation
from nnlandscape.input_landscape import MLPBatch, uniform_sphere
from nnlandscape.shaped_limit import shaped_relu_correlation_limit, shaped_relu_drift
from nnlandscape.sphere_mc import metropolis_sphere, pair_overlaps, sphere_descent


# ---------------------------------------------------------------------------- MLPBatch
def test_batch_matches_sample_network():
    random_nets = pytest.importorskip("nnlandscape.random_nets")
    if not hasattr(random_nets, "sample_network"):
        pytest.skip("random_nets.sample_network not available")
    nets = MLPBatch("tanh", 2, 24, 6, n_networks=3, sigma_w2=1.5, sigma_b2=0.3, seed=11)
    X = np.random.default_rng(0).standard_normal((3, 5, 6))
    f = nets(X)
    for i in range(3):
        net = random_nets.sample_network("tanh", 2, 24, 6, sigma_w2=1.5, sigma_b2=0.3, seed=11, index=i)
        np.testing.assert_allclose(f[i], net(X[i]), rtol=1e-12, atol=1e-12)


@settings(max_examples=12, deadline=None)
@given(act=st.sampled_from(["tanh", "sin", "erf", "softplus", "relu"]), depth=st.integers(1, 3),
       seed=st.integers(0, 10**6))
def test_input_gradient_matches_finite_differences(act, depth, seed):
    nets = MLPBatch(act, depth, 16, 5, n_networks=2, sigma_w2=1.7, sigma_b2=0.2, seed=seed)
    X = np.random.default_rng(seed).standard_normal((2, 3, 5))
    f, g = nets.value_and_grad(X)
    np.testing.assert_allclose(f, nets(X), rtol=1e-13)
    h = 1e-6
    for i in range(5):
        E = np.zeros_like(X)
        E[..., i] = h
        fd = (nets(X + E) - nets(X - E)) / (2 * h)
        np.testing.assert_allclose(g[..., i], fd, rtol=1e-5, atol=1e-6)


def test_linear_network_is_a_linear_form_and_sphere_mean():
    # f(x) = v.x / sqrt(N) + const for a linear network: gradient constant, sphere mean = const
    nets = MLPBatch("linear", 2, 32, 8, n_networks=2, sigma_w2=1.0, sigma_b2=0.5, seed=3)
    X = uniform_sphere((2, 6), 8, np.random.default_rng(1))
    f, g = nets.value_and_grad(X)
    np.testing.assert_allclose(g, np.broadcast_to(g[:, :1], g.shape), atol=1e-12)
    const = nets(np.zeros((2, 1, 8)))[:, 0]
    mean, se = nets.sphere_mean(64, seed=2)
    np.testing.assert_allclose(mean, const, atol=1e-12)  # antithetic pairs are exact for odd parts
    assert np.all(se < 1e-10)


def test_sphere_mean_against_brute_force():
    nets = MLPBatch("relu", 1, 64, 4, n_networks=2, sigma_w2=2.0, seed=5)
    mean, se = nets.sphere_mean(4000, seed=1)
    U = uniform_sphere((2, 200000), 4, np.random.default_rng(9))
    brute = nets(U).mean(axis=1)
    assert np.all(np.abs(mean - brute) < 5 * se + 0.01)


def test_bad_input():
    with pytest.raises(ValueError, match="depth"):
        MLPBatch("tanh", 0, 8, 4, n_networks=1)
    with pytest.raises(ValueError, match="sigma_w2"):
        MLPBatch("tanh", 1, 8, 4, n_networks=1, sigma_w2=0.0)
    with pytest.raises(ValueError, match="sigma_b2"):
        MLPBatch("tanh", 1, 8, 4, n_networks=1, sigma_b2=-1.0)
    with pytest.raises(ValueError, match="activation|name"):
        MLPBatch("nope", 1, 8, 4, n_networks=1)
    with pytest.raises(ValueError, match="c="):
        MLPBatch("shaped_relu", 1, 8, 4, n_networks=1, c=1.5)
    nets = MLPBatch("tanh", 1, 8, 4, n_networks=2)
    with pytest.raises(ValueError, match="X"):
        nets(np.zeros((3, 1, 4)))
    with pytest.raises(ValueError, match="T"):
        metropolis_sphere(nets, [0.5, -1.0])
    with pytest.raises(ValueError, match="n_chains"):
        metropolis_sphere(nets, [0.5], n_chains=1)
    with pytest.raises(ValueError, match="lr"):
        sphere_descent(nets, lr=0.0)
    with pytest.raises(ValueError, match="offset"):
        metropolis_sphere(nets, [0.5], offset=[0.0, 1.0, 2.0])


# ---------------------------------------------------------------------------- Metropolis
def test_metropolis_linear_network_is_von_mises_fisher():
    r"""Linear network: f = v.x/sqrt(N), so the Gibbs measure is von Mises-Fisher with
    kappa = beta N |v|/sqrt(N)... exactly: <e> = -|v|/sqrt(N) * I_{N/2}(kappa)/I_{N/2-1}(kappa),
    kappa = beta sqrt(N) |v|. Finite N, no approximation."""
    N = 12
    nets = MLPBatch("linear", 1, 32, N, n_networks=3, seed=1)
    v = (nets._W[0] @ nets._W[1])[:, :, 0]  # f(x) = x . v (scaled weights)
    a = np.linalg.norm(v, axis=1)  # e = f/sqrt(N) = a * (u . vhat) * sqrt(N)/sqrt(N) with x = sqrt(N) u
    T = np.array([0.15, 0.4, 1.0])
    res = metropolis_sphere(nets, T, n_chains=6, n_steps=3000, n_burn=500, seed=4)
    e = res.energy_by_network()  # (B, K)
    for k, t in enumerate(T):
        kappa = N * a / t
        exact = -a * special.ive(N / 2, kappa) / special.ive(N / 2 - 1, kappa)
        # per network: time average over 300 records x 6 chains; correlated, so a loose 4% + 0.01
        np.testing.assert_allclose(e[:, k], exact, rtol=0.04, atol=0.01)
    assert np.all((res.acceptance > 0.2) & (res.acceptance < 0.7))


def test_replica_exchange_matches_quadrature_on_s2():
    """N = 3: exact Gibbs averages by Monte Carlo quadrature with 4e5 uniform points; a rugged
    sin network where single chains get stuck, replica exchange must not bias the answer."""
    N = 3
    nets = MLPBatch("sin", 1, 64, N, n_networks=2, sigma_w2=4.0, seed=1)
    U = uniform_sphere((2, 400000), N, np.random.default_rng(0))
    e = nets(U) / math.sqrt(N)
    T = np.array([0.1, 0.15, 0.25, 0.4])
    w = np.exp(-(e[:, None, :] - e.min(axis=1)[:, None, None]) * N / T[None, :, None])
    exact = (w * e[:, None, :]).sum(-1) / w.sum(-1)
    res = metropolis_sphere(nets, T, n_chains=6, n_steps=8000, n_burn=1000, swap_every=10, seed=2)
    np.testing.assert_allclose(res.energy_by_network(), exact, atol=0.03)
    assert np.all(res.swap_acceptance > 0.1)


def test_seed_reproducible_and_overlaps():
    nets = MLPBatch("tanh", 1, 16, 6, n_networks=2, seed=0)
    a = metropolis_sphere(nets, [0.5, 1.0], n_chains=3, n_steps=50, n_burn=25, seed=7)
    b = metropolis_sphere(nets, [0.5, 1.0], n_chains=3, n_steps=50, n_burn=25, seed=7)
    np.testing.assert_array_equal(a.energies, b.energies)
    assert a.overlaps.shape == (5, 2, 2, 3)
    np.testing.assert_allclose(pair_overlaps(a.X), a.overlaps[-1])
    np.testing.assert_allclose(np.linalg.norm(a.X, axis=-1), math.sqrt(6), rtol=1e-12)


def test_descent_reaches_linear_minimum():
    nets = MLPBatch("linear", 1, 32, 10, n_networks=2, seed=2)
    v = (nets._W[0] @ nets._W[1])[:, :, 0]
    d = sphere_descent(nets, n_starts=5, n_steps=300, lr=0.3, seed=1)
    np.testing.assert_allclose(d.energies, np.broadcast_to(-np.linalg.norm(v, axis=1)[:, None], (2, 5)), rtol=1e-8)
    np.testing.assert_allclose(d.endpoint_overlaps(), 1.0, atol=1e-8)  # a single minimum
    assert np.all(np.diff(d.history.mean(axis=(1, 2))) <= 1e-12)  # monotone descent (small lr)


# ---------------------------------------------------------------------------- shaped limit
def test_shaped_limit_is_one_over_depth_close_to_kernel():
    q = np.linspace(-1, 1, 21)
    lim = shaped_relu_correlation_limit(q, 1.0)
    errs = []
    for L in (16, 64, 256):
        k = kernels.normalized_kernel(get_activation("shaped_relu", c=1.0, depth=L), L, q)
        errs.append(np.max(np.abs(k - lim)))
    assert errs[2] < 2e-3
    # O(1/L): quadrupling the depth divides the error by ~4
    assert 3.3 < errs[0] / errs[1] < 4.7 and 3.3 < errs[1] / errs[2] < 4.7


def test_shaped_limit_fixed_points_and_drift():
    np.testing.assert_allclose(shaped_relu_correlation_limit([1.0], 2.0), [1.0], atol=1e-10)  # rho = 1 fixed
    assert float(shaped_relu_drift(1.0, 1.0)) == pytest.approx(0.0, abs=1e-15)
    assert float(shaped_relu_drift(0.0, 1.0)) == pytest.approx(2 / np.pi)
    np.testing.assert_allclose(shaped_relu_correlation_limit(np.array([0.3]), 0.0), [0.3])
    r = shaped_relu_correlation_limit(np.linspace(-0.9, 0.9, 7), 1.0)
    assert np.all(np.diff(r) > 0) and np.all(r > np.linspace(-0.9, 0.9, 7))  # monotone, pulled up
    with pytest.raises(ValueError, match="q"):
        shaped_relu_correlation_limit([1.5], 1.0)


def test_metropolis_trace_covers_burn_in_and_matches_records():
    """The equilibration trace starts at the first step (burn-in included) and, at recorded steps,
    equals the chain average of the recorded energies."""
    nets = MLPBatch("tanh", 1, 32, 8, n_networks=2, seed=3)
    res = metropolis_sphere(nets, [0.3, 1.0], n_chains=3, n_steps=60, n_burn=40, record_every=10, seed=1)
    assert res.trace.shape == (10, 2, 2)
    np.testing.assert_allclose(res.trace[4:], res.energies.mean(axis=3), rtol=0, atol=1e-15)
    # from a uniform random start the energy at the cold temperature goes down on average
    assert res.trace[-1, :, 0].mean() < res.trace[0, :, 0].mean()
