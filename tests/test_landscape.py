"""Tests of nnlandscape.landscape: symmetries made exact, unit matching, basins, bands, flat modes."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnlandscape import landscape as ls
from nnlandscape import sawtooth, symmetries
from nnlandscape.nets import MLP

NET = MLP([1, 5, 5, 5, 5, 5, 1], "relu")
WF = sawtooth.build_network()
X, Y = WF.training_set()
XS = np.linspace(-3.0, 3.0, 301)[:, None]  # beyond the domain: symmetries hold for every input


def _random_theta(seed, n=1):
    return NET.init(n, seed=seed, bias_std=0.3)


# --------------------------------------------------------------------------- symmetries
def test_prune_dead_zeros_the_far_side_and_keeps_the_function():
    th = _random_theta(0)[0]
    Ws, bs = NET.unpack(th)
    Ws[1][2, :] = 0.0  # node 2 of layer 2 has no incoming weight ...
    bs[1][2] = 0.0  # ... and no bias: it outputs relu(0) = 0
    Ws[4][:, 4] = 0.0  # node 4 of layer 4 is invisible (no outgoing weight)
    pr = ls.prune_dead(NET, th)
    Wp, bp = NET.unpack(pr)
    assert np.all(Wp[2][:, 2] == 0)  # outgoing of the zero-input node
    assert np.all(Wp[3][4] == 0) and bp[3][4] == 0  # incoming of the invisible node
    np.testing.assert_allclose(NET.forward(pr, XS), NET.forward(th, XS), rtol=0, atol=1e-12)
    assert np.linalg.norm(pr) < np.linalg.norm(th)


def test_minimal_norm_of_wf_is_balanced_and_exact():
    th = ls.minimal_norm(NET, WF.theta)
    np.testing.assert_allclose(NET.forward(th, XS), NET.forward(WF.theta, XS), rtol=0, atol=1e-12)
    for l in range(1, 6):
        a, c = symmetries.node_norms(NET, th, l)
        np.testing.assert_allclose(a, c, rtol=1e-10, atol=1e-14)  # balanced or both zero
    # no rescaling lowers the norm further: random log-scale perturbations only increase it
    rng = np.random.default_rng(1)
    base = np.linalg.norm(th)
    for _ in range(20):
        l = int(rng.integers(1, 6))
        t2 = symmetries.rescale_nodes(NET, th, l, np.exp(0.05 * rng.standard_normal(5)))
        assert np.linalg.norm(t2) >= base - 1e-12


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_desymmetrize_is_invariant_under_the_symmetry_group(seed):
    rng = np.random.default_rng(seed)
    th = _random_theta(seed)[0]
    g = th.copy()
    for l in range(1, 6):  # a random group element: rescale and permute every layer
        g = symmetries.rescale_nodes(NET, g, l, np.exp(rng.normal(0, 0.7, 5)))
        g = symmetries.permute_nodes(NET, g, l, rng.permutation(5))
    a, b = ls.desymmetrize(NET, th), ls.desymmetrize(NET, g)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-8 * (1 + np.abs(a).max()))
    np.testing.assert_allclose(NET.forward(a, XS), NET.forward(th, XS), rtol=0, atol=1e-10)
    Ws, bs = NET.unpack(a)
    for l in range(5):  # sorted by increasing node norm
        norm = np.square(Ws[l]).sum(-1) + np.square(bs[l])
        assert np.all(np.diff(norm) >= -1e-12)


def test_match_units_undoes_a_permutation_and_never_increases_distance():
    rng = np.random.default_rng(3)
    ref = ls.minimal_norm(NET, _random_theta(5)[0])
    perm = ref.copy()
    for l in range(1, 6):
        perm = symmetries.permute_nodes(NET, perm, l, rng.permutation(5))
    assert ls.distances(ref, perm) > 1.0
    back = ls.match_units(NET, ref, perm)
    assert ls.distances(ref, back) < 1e-12
    # random others: matched distance <= distance of the given order; brute force on one layer
    others = ls.minimal_norm(NET, _random_theta(11, 6))
    matched = ls.match_units(NET, ref, others)
    assert np.all(ls.distances(ref, matched) <= ls.distances(ref, others) + 1e-12)
    np.testing.assert_allclose(NET.forward(matched, XS), NET.forward(others, XS), rtol=0, atol=1e-10)
    # coordinate-wise optimality: no single-layer permutation improves a matched model
    m = matched[0]
    d0 = ls.distances(ref, m)
    for l in (1, 3, 5):
        for p in itertools.permutations(range(5)):
            assert ls.distances(ref, symmetries.permute_nodes(NET, m, l, np.array(p))) >= d0 - 1e-12


# --------------------------------------------------------------------------- noise, fits, smoothing
def test_noise_has_exact_norms_isotropic_directions_and_seeds():
    r = np.array([0.0, 0.5, 2.0, 7.0])
    z = ls.noise_of_norm(136, r, seed=4)
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), r, rtol=1e-12)
    np.testing.assert_array_equal(z, ls.noise_of_norm(136, r, seed=4))
    u = ls.noise_of_norm(3, np.ones(20000), seed=9)
    # isotropy: E[u u^T] = I/3, standard error of each entry ~ sqrt(2/45/20000) ~ 1.5e-3
    np.testing.assert_allclose(u.T @ u / len(u), np.eye(3) / 3, atol=7e-3)
    j = ls.jitter(WF.theta, r, seed=4)
    np.testing.assert_allclose(ls.distances(WF.theta, j), r, rtol=1e-12, atol=1e-12)


def test_logistic_fit_recovers_parameters_of_simulated_data():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 2, 20000)
    b0, b1 = 3.0, -6.0  # r50 = 0.5
    s = rng.uniform(size=x.size) < 1 / (1 + np.exp(-(b0 + b1 * x)))
    fit = ls.logistic_fit(x, s)
    # MLE standard errors at n = 20000 are ~0.07 (b0) and ~0.1 (b1): 5 sigma bands
    assert abs(fit.b0 - b0) < 0.4 and abs(fit.b1 - b1) < 0.6
    assert abs(fit.r50 - 0.5) < 0.02
    assert fit(fit.r50) == pytest.approx(0.5)
    none = ls.logistic_fit(x[:10], np.zeros(10))
    assert np.isnan(none.r50) and none(1.0) == 0.0


def test_lowess_reproduces_lines_and_smooths_noise():
    x = np.linspace(0, 1, 200)
    np.testing.assert_allclose(ls.lowess(x, 2.0 - 3.0 * x, frac=0.2), 2.0 - 3.0 * x, atol=1e-12)
    rng = np.random.default_rng(1)
    y = np.sin(2 * np.pi * x) + 0.3 * rng.standard_normal(x.size)
    sm = ls.lowess(x, y, frac=0.15)
    # residual noise of the smooth is far below the raw noise (0.3), bias of a local line small
    assert np.sqrt(np.mean((sm - np.sin(2 * np.pi * x)) ** 2)) < 0.12


# --------------------------------------------------------------------------- stability and basins
def test_heavy_ball_bound_separates_convergence_from_divergence():
    lr, mu = 0.01, 0.9
    lam_c = ls.heavy_ball_critical_curvature(lr, mu)
    assert lam_c == pytest.approx(380.0)
    for factor, stable in [(0.98, True), (1.02, False)]:
        lam = factor * lam_c
        th, v = 1.0, 0.0
        for _ in range(3000):
            v = mu * v - lr * lam * th
            th += v
        assert (abs(th) < 1e-3) == stable


def test_basin_return_at_zero_noise_depends_on_stability_bound():
    wf = ls.desymmetrize(NET, WF.theta)
    lam_max = ls.flat_mode_census(NET, wf, X, Y).lambda_max
    # W_f's curvature exceeds the bound at lr = 0.01 (unstable) but not at lr = 0.001
    assert 0.01 * lam_max > 2 * 1.9 > 0.001 * lam_max
    stable = ls.basin_experiment(NET, wf, X, Y, n_trials=8, r_max=0.02, optimizer="momentum", lr=0.001,
                                 steps=300, seed=1)
    unstable = ls.basin_experiment(NET, wf, X, Y, n_trials=8, r_max=0.02, optimizer="momentum", lr=0.01,
                                   steps=300, seed=1)
    assert stable.returned.all()
    assert not unstable.returned.any()
    np.testing.assert_allclose(stable.radii, unstable.radii)  # same seed, same jitter


# --------------------------------------------------------------------------- bands and flat modes
def test_turning_angles_of_simple_paths():
    line = np.outer(np.linspace(0, 1, 5), [1.0, 2.0, 3.0])
    np.testing.assert_allclose(ls.turning_angles(line), 0.0, atol=1e-7)
    square = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float)
    np.testing.assert_allclose(ls.turning_angles(square), np.pi / 2)


def test_network_band_endpoints_energies_and_line():
    wf = ls.desymmetrize(NET, WF.theta)
    other = ls.match_units(NET, wf, ls.desymmetrize(NET, _random_theta(2)[0]))
    nb = ls.network_band(NET, X, Y, wf, other, 7, steps=30, refine=1, n_new=2)
    b = nb.band
    assert b.n_images == 9
    assert len(nb.stages) == 1 and nb.stages[0].n_images == 7
    np.testing.assert_array_equal(b.images[0], wf)
    np.testing.assert_array_equal(b.images[-1], other)
    np.testing.assert_allclose(b.energies, NET.loss(b.images, X, Y), rtol=1e-12)
    np.testing.assert_allclose(nb.line_energy[[0, -1]], NET.loss(np.stack([wf, other]), X, Y), rtol=1e-12)
    assert nb.line_s[-1] == pytest.approx(np.linalg.norm(other - wf))


def test_flat_mode_census_at_wf_matches_jacobian_null_space():
    wf = ls.desymmetrize(NET, WF.theta)
    fm = ls.flat_mode_census(NET, wf, X, Y)
    # at a zero-loss minimum H = (2/n) J^T J, so the near-zero modes are exactly the null space of J
    assert fm.n_near_zero == fm.jacobian_null
    assert fm.n_near_zero > fm.n_rescaling  # more flat directions than rescalings
    assert fm.eigenvalues[0] > -1e-9 * fm.lambda_max  # positive semi-definite
    # dead units: node slots left empty by the construction (roles "dead"), all inactive
    assert fm.n_dead_units == sum(r == "dead" for layer in WF.roles for r in layer)
    assert fm.n_rescaling + fm.n_dead_units == 25


# --------------------------------------------------------------------------- training and bad input
def test_train_models_is_seeded_and_uses_settings():
    a = ls.train_models(NET, X, Y, 4, "adadelta", steps=20, seed=7)
    b = ls.train_models(NET, X, Y, 4, "adadelta", steps=20, seed=7)
    np.testing.assert_array_equal(a.theta, b.theta)
    assert np.all(a.loss < NET.loss(NET.init(4, seed=7), X, Y) + 1e-6)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: ls.noise_of_norm(10, [-0.5]), "radii"),
        (lambda: ls.jitter(WF.theta, -1.0), "radii"),
        (lambda: ls.basin_experiment(NET, WF.theta, X, Y, r_max=-1.0), "r_max"),
        (lambda: ls.basin_experiment(NET, WF.theta, X, Y, optimizer="sgd"), "optimizer"),
        (lambda: ls.network_band(NET, X, Y, WF.theta, WF.theta + 1, 1), "n_images"),
        (lambda: ls.train_models(NET, X, Y, 0), "n_models"),
        (lambda: ls.match_units(NET, WF.theta[None].repeat(2, 0), WF.theta), "reference"),
        (lambda: ls.heavy_ball_critical_curvature(0.0), "lr"),
        (lambda: ls.logistic_fit([1.0, 2.0], [0, 2]), "success"),
        (lambda: ls.minimal_norm(MLP([1, 3, 1], "tanh"), np.zeros(10)), "net"),
        (lambda: sawtooth.build_network(sizes=(1, 10, 10, 1)), "sizes"),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


# --------------------------------------------------------------------------- critical points and polish
def test_hessian_index_counts_negative_eigenvalues_with_relative_tolerance():
    assert ls.hessian_index([-2.0, -1e-12, 0.0, 3.0]) == 1  # -1e-12 is below the 1e-9 relative tolerance
    assert ls.hessian_index([-2.0, -1e-12, 0.0, 3.0], rel_tol=0.0) == 2
    np.testing.assert_array_equal(ls.hessian_index(np.array([[1.0, 2.0], [-1.0, 2.0], [-1.0, -2.0]])), [0, 1, 2])
    with pytest.raises(ValueError, match="rel_tol"):
        ls.hessian_index([1.0], rel_tol=-1)


def test_critical_point_check_known_minimum_and_saddle():
    # W_f: a zero-loss minimum -> gradient zero, index 0
    c = ls.critical_point_check(NET, ls.desymmetrize(NET, WF.theta), X, Y)
    assert c.loss < 1e-20 and c.grad_norm < 1e-10 and c.index == 0
    # linear 1-1-1 net f = w2 (w1 x + b1) + b2 on y = x (x symmetric): theta = 0 is a saddle whose
    # Hessian has eigenvalues +-2 mean(x y), 2 (for b2) and 0 (for b1): gradient 0, index 1
    lin = MLP([1, 1, 1], "linear")
    x = np.linspace(-1, 1, 11)[:, None]
    c = ls.critical_point_check(lin, np.zeros(lin.n_params), x, x[:, 0])
    v = float(np.mean(x[:, 0] ** 2))
    assert c.grad_norm < 1e-14 and c.index == 1  # mean(y) = 0 up to rounding
    np.testing.assert_allclose(np.sort(c.eigenvalues), [-2 * v, 0.0, 2 * v, 2.0], atol=1e-12)


def test_polish_reaches_the_least_squares_minimum_of_a_linear_net():
    lin = MLP([1, 2, 1], "linear")
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (40, 1))
    y = 0.7 * x[:, 0] - 0.2 + 0.1 * rng.standard_normal(40)
    A = np.c_[x[:, 0], np.ones(40)]
    best = np.mean((A @ np.linalg.lstsq(A, y, rcond=None)[0] - y) ** 2)  # no linear net can beat the LS fit
    th0 = lin.init(1, seed=1)[0]
    p = ls.polish(lin, th0, x, y)
    assert p.loss <= lin.loss(th0, x, y)
    assert p.loss == pytest.approx(best, rel=1e-8)
    assert p.grad_norm < 1e-6
    assert ls.critical_point_check(lin, p.theta, x, y).index == 0


def test_band_top_and_double_band_find_the_saddle_of_a_linear_net():
    """f = w2 (w1 x + b1) + b2 fitting y = x: minima at w1 w2 = 1; between (1, 1) and (-1, -1) the
    barrier is the saddle theta = 0 (loss mean(y^2), index 1). The climbing image finds it, and
    doubling the band (2N - 1 images, more steps) keeps it there."""
    lin = MLP([1, 1, 1], "linear")
    x = np.linspace(-1, 1, 11)[:, None]
    y = x[:, 0]
    a = np.array([1.0, 0.0, 1.0, 0.0])  # (w1, b1, w2, b2)
    nb = ls.network_band(lin, x, y, a, -a, 7, steps=400)
    v = float(np.mean(y**2))
    for band in (nb.band, ls.double_band(lin, x, y, nb.band, steps=400)):
        t = ls.band_top(lin, x, y, band)
        assert t.top.index == 1 and t.top.grad_norm < 1e-6
        assert t.top.loss == pytest.approx(v, rel=1e-6)
        assert t.dense_max == pytest.approx(v, rel=1e-6) and t.image_max == pytest.approx(v, rel=1e-6)
        np.testing.assert_array_equal(band.images[[0, -1]], np.stack([a, -a]))
    assert t.n_images == 2 * nb.band.n_images - 1


def test_band_top_reads_the_dense_profile_and_the_climbing_image():
    from nnlandscape import neb
    wf = ls.desymmetrize(NET, WF.theta)
    other = ls.match_units(NET, wf, ls.desymmetrize(NET, _random_theta(2)[0]))
    band = ls.network_band(NET, X, Y, wf, other, 5, steps=20).band
    t = ls.band_top(NET, X, Y, band, per_segment=6)
    prof = neb.band_profile(ls.energy_function(NET, X, Y), band.images, 6)
    assert t.dense_max == prof.e_max >= t.image_max == band.energies.max()
    chk = ls.critical_point_check(NET, band.saddle, X, Y)
    assert (t.top.loss, t.top.grad_norm, t.top.index) == (chk.loss, chk.grad_norm, chk.index)
    d = ls.double_band(NET, X, Y, band, steps=1)
    assert d.n_images == 9 and d.n_steps <= 1
    with pytest.raises(ValueError, match="steps"):
        ls.double_band(NET, X, Y, band, steps=0)
