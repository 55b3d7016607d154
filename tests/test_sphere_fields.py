"""Tests of nnlandscape.sphere_fields: exact critical points of known fields, topology, Kac-Rice agreement."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnlandscape import kac_rice as kr
from nnlandscape import sphere_fields as sf

SETTINGS = settings(max_examples=10, deadline=None)


def _angle(P):
    return np.mod(np.arctan2(P[:, 1], P[:, 0]), 2 * np.pi)


# ---------------------------------------------------------------- exact fields
@pytest.mark.parametrize("m", [1, 3, 7])
def test_trig_field_on_circle(m):
    """f = cos(m (theta - 0.3)): 2m critical points at 0.3 + pi j/m, maxima where j is even."""
    def f(P):
        return np.cos(m * (np.arctan2(P[..., 1], P[..., 0]) - 0.3))

    cp = sf.critical_points_circle(f, 97)
    assert list(cp.counts) == [m, m]
    th = np.sort(_angle(cp.points))
    ref = np.sort(np.mod(0.3 + np.pi * np.arange(2 * m) / m, 2 * np.pi))
    np.testing.assert_allclose(th, ref, atol=1e-8)
    np.testing.assert_allclose(np.abs(cp.values), 1.0, atol=1e-12)
    np.testing.assert_array_equal(cp.index, (cp.values > 0).astype(int))
    assert list(sf.critical_points_circle(f, 97, refine=False).counts) == [m, m]


def test_xyz_on_sphere():
    """f = xyz on S^2: 4 maxima and 4 minima at (+-1,+-1,+-1)/sqrt 3 (value +-1/(3 sqrt 3)), 6 saddles at +-e_i."""
    def f(P):
        return P[..., 0] * P[..., 1] * P[..., 2]

    cp = sf.critical_points_sphere(f, 1500)
    assert list(cp.counts) == [4, 6, 4]
    ext = cp.index != 1
    np.testing.assert_allclose(np.abs(cp.points[ext]), 1 / math.sqrt(3), atol=1e-7)
    np.testing.assert_allclose(np.abs(cp.values[ext]), 1 / (3 * math.sqrt(3)), atol=1e-12)
    np.testing.assert_allclose(np.sort(np.abs(cp.points[~ext]), axis=1), [[0, 0, 1]] * 6, atol=1e-7)
    np.testing.assert_array_equal(np.sign(cp.values[ext]), np.where(cp.index[ext] == 2, 1, -1))


@SETTINGS
@given(st.integers(0, 10_000), st.integers(1, 2))
def test_linear_field_has_its_poles(seed, dim):
    a = np.random.default_rng(seed).normal(size=dim + 1)
    cp = sf.find_critical_points(lambda P: P @ a, dim, 400 if dim == 2 else 32)
    assert list(cp.counts) == [1] + [0] * (dim - 1) + [1]
    top = cp.points[cp.index == dim][0]
    np.testing.assert_allclose(top, a / np.linalg.norm(a), atol=1e-7)


@SETTINGS
@given(st.integers(0, 10_000))
def test_random_quadratic_form_on_sphere(seed):
    """K(t) = t^2: f = x^T J x, critical points are +-eigenvectors of J + J^T: exactly 2 of each index."""
    J = np.random.default_rng(seed).normal(size=(3, 3))
    cp = sf.critical_points_sphere(lambda P: np.einsum("...i,ij,...j->...", P, J, P), 2000)
    assert list(cp.counts) == [2, 2, 2]
    w, V = np.linalg.eigh(J + J.T)
    for k in range(3):
        P = cp.points[cp.index == k]
        np.testing.assert_allclose(np.abs(P @ V[:, k]), 1.0, atol=1e-7)


# ---------------------------------------------------------------- topology
@SETTINGS
@given(st.integers(0, 10_000), st.sampled_from([200, 800]))
def test_banchoff_discrete_morse_identity(seed, res):
    """Discrete counts on the mesh satisfy #min - #saddle(with multiplicity) + #max = 2 for any field."""
    f = sf.polynomial_field([0, 0.2, 0.2, 0.2, 0.4], 2, seed=seed)
    c = sf.critical_points_sphere(f, res, refine=False).counts
    assert c[0] - c[1] + c[2] == 2


def test_mesh_links_are_cycles():
    mesh = sf.sphere_mesh(500)
    V, links = mesh.vertices, mesh.links
    assert V.shape == (500, 3) and np.allclose(np.linalg.norm(V, axis=1), 1)
    # every consecutive pair in a link is itself an edge (a triangle of the hull)
    adj = {(i, j) for i in range(500) for j in links[i]}
    for i in range(0, 500, 37):
        ring = list(dict.fromkeys(links[i]))
        for a, b in zip(ring, ring[1:] + ring[:1]):
            assert (a, b) in adj
    assert 0.8 * math.sqrt(4 * math.pi / 500) < mesh.spacing < 1.6 * math.sqrt(4 * math.pi / 500)


@SETTINGS
@given(st.integers(0, 10_000))
def test_counts_are_rotation_invariant(seed):
    rng = np.random.default_rng(seed)
    f = sf.polynomial_field([0, 0.5, 0, 0.5], 2, seed=seed)
    Q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    c1 = sf.critical_points_sphere(f, 4000).counts
    c2 = sf.critical_points_sphere(lambda P: f(P @ Q.T), 4000).counts
    np.testing.assert_array_equal(c1, c2)


# ---------------------------------------------------------------- theory vs simulation
def test_polynomial_field_covariance():
    """E f(x) f(y) = sum_p a_p <x,y>^p, over 4000 samples (5 standard errors)."""
    a = [0.1, 0.3, 0.2, 0.4]
    x = np.array([1.0, 0.0, 0.0])
    y = np.array([0.6, 0.8, 0.0])
    v = np.array([[sf.polynomial_field(a, 2, seed=s)(np.stack([x, y])) for s in range(4000)]])[0]
    prod = v[:, 0] * v[:, 1]
    ref = sum(ap * 0.6**p for p, ap in enumerate(a))
    assert abs(prod.mean() - ref) < 5 * prod.std() / math.sqrt(len(prod))
    assert abs(np.mean(v[:, 0] ** 2) - 1.0) < 5 * np.std(v[:, 0] ** 2) / math.sqrt(len(prod))


def test_circle_counts_match_rice():
    a = [0.2, 0.3, 0.0, 0.0, 0.5]
    k1 = sum(p * x for p, x in enumerate(a))
    k2 = sum(p * (p - 1) * x for p, x in enumerate(a))
    counts = sf.count_critical_points((sf.polynomial_field(a, 1, seed=s) for s in range(400)), 1, 64)
    mean, se = sf.mean_counts(counts)
    theory = kr.expected_critical_points_by_index(k1, k2, 1)
    assert np.all(np.abs(mean - theory) < 4 * se + 1e-9), (mean, se, theory)
    assert np.all(counts[:, 0] == counts[:, 1])  # maxima and minima alternate on the circle
    above = sf.count_critical_points((sf.polynomial_field(a, 1, seed=s) for s in range(400)), 1, 64, above=0.5)
    m2, se2 = sf.mean_counts(above)
    t2 = kr.expected_critical_points_by_index(k1, k2, 1, above=0.5)
    assert np.all(np.abs(m2 - t2) < 4 * se2), (m2, se2, t2)


def test_sphere_counts_match_kac_rice():
    a = [0.0, 0.5, 0.0, 0.5]
    k1, k2 = 0.5 + 1.5, 3.0
    fields = [sf.polynomial_field(a, 2, seed=1000 + s) for s in range(150)]
    cps = [sf.critical_points_sphere(f, 1500) for f in fields]
    counts = np.array([cp.counts for cp in cps])
    mean, se = sf.mean_counts(counts)
    theory = kr.expected_critical_points_by_index(k1, k2, 2)
    assert np.all(np.abs(mean - theory) < 4 * se), (mean, se, theory)
    morse = counts[:, 0] - counts[:, 1] + counts[:, 2]
    assert np.mean(morse == 2) > 0.95
    above = np.array([cp.above(0.8).counts for cp in cps])
    m2, se2 = sf.mean_counts(above)
    t2 = kr.expected_critical_points_by_index(k1, k2, 2, above=0.8)
    assert np.all(np.abs(m2 - t2) < 4 * se2 + 0.02), (m2, se2, t2)


random_nets = pytest.importorskip("nnlandscape.random_nets")


def test_relu_counts_grow_with_resolution_smooth_do_not():
    """ReLU networks: discrete counts grow with the mesh; a tanh network's refined counts stabilise."""
    relu = [sf.network_field("relu", 2, 100, 2, sigma_w2=2.0, seed=s) for s in range(6)]
    coarse = sf.count_critical_points(relu, 2, 400, refine=False).sum()
    fine = sf.count_critical_points(relu, 2, 3000, refine=False).sum()
    assert fine > 1.5 * coarse
    tanh = sf.network_field("tanh", 2, 100, 2, sigma_w2=1.5, seed=3)
    c1 = sf.critical_points_sphere(tanh, 1500).counts
    c2 = sf.critical_points_sphere(tanh, 6000).counts
    np.testing.assert_array_equal(c1, c2)


def test_network_field_is_the_same_network_at_new_points():
    f = sf.network_field("tanh", 2, 50, 2, seed=5)
    P = sf.fibonacci_sphere(30)
    np.testing.assert_allclose(f(P[:7]), f(P)[:7], rtol=1e-12, atol=1e-14)  # BLAS blocking: last bits
    assert not np.allclose(f(P), sf.network_field("tanh", 2, 50, 2, seed=6)(P))


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "call",
    [
        lambda: sf.critical_points_circle(np.cos, 8),  # resolution too small for S^1
        lambda: sf.critical_points_sphere(lambda P: P[..., 0], 50),  # too small for S^2
        lambda: sf.find_critical_points(lambda P: P[..., 0], 3, 1000),
        lambda: sf.find_critical_points(lambda P: P[..., 0], 0, 1000),
        lambda: sf.critical_points_sphere("f", 500),
        lambda: sf.critical_points_sphere(lambda P: np.zeros(3), 500),  # wrong output shape
        lambda: sf.critical_points_sphere(lambda P: P[..., 0] / 0.0, 500),  # non-finite
        lambda: sf.polynomial_field([-1.0, 2.0], 2),
        lambda: sf.mean_counts([[1, 2]]),
        lambda: sf.count_critical_points([], 1, 64),
    ],
)
def test_bad_input_raises_value_error(call):
    with np.errstate(all="ignore"), pytest.raises(ValueError):
        call()


# ---------------------------------------------------------------- network counts (chapter 05)
def test_network_field_equals_sample_outputs():
    P = sf.fibonacci_sphere(20)
    f = sf.network_field("sin", 2, 30, 2, sigma_w2=1.5, sigma_b2=0.1, seed=8, index=3)
    F = random_nets.sample_outputs("sin", 2, 30, math.sqrt(3) * P, n_networks=5, sigma_w2=1.5, sigma_b2=0.1,
                                   seed=8, method="weights")
    np.testing.assert_allclose(f(P), F[3], rtol=1e-12, atol=1e-14)
    assert f.net.width == 30


def test_network_counts_seeded_and_thresholds():
    kw = dict(n_networks=6, sigma_w2=2.0, sigma_b2=0.05, seed=3)
    c = sf.network_counts("tanh", 2, 60, 1, 256, **kw)
    assert c.shape == (6, 2) and np.array_equal(c, sf.network_counts("tanh", 2, 60, 1, 256, **kw))
    np.testing.assert_array_equal(c[:, 0], c[:, 1])  # on a circle minima and maxima alternate
    assert np.array_equal(c, sf.network_counts("tanh", 2, 60, 1, 256, above=-1e6, **kw))
    assert sf.network_counts("tanh", 2, 60, 1, 256, above=1e6, **kw).sum() == 0
    hi = sf.network_counts("tanh", 2, 60, 1, 256, above=0.5, **kw)
    assert np.all(hi <= c) and hi.sum() < c.sum()


def test_network_counts_on_circle_match_kac_rice():
    """Theory vs simulation: 60 tanh networks of width 200 on S^1 against the infinite-width Rice count.

    Tolerance: 4 standard errors plus 3% for the O(1/width) finite-width bias of the kernel.
    """
    c = sf.network_counts("tanh", 2, 200, 1, 512, n_networks=60, sigma_w2=2.5, sigma_b2=0.05, seed=11).sum(1)
    m, se = sf.mean_counts(c)
    theory = kr.network_critical_points("tanh", 2, 1, sigma_w2=2.5, sigma_b2=0.05)
    assert abs(m - theory) < 4 * se + 0.03 * theory, (m, se, theory)
    # and it would fail against a wrong depth
    wrong = kr.network_critical_points("tanh", 5, 1, sigma_w2=2.5, sigma_b2=0.05)
    assert abs(m - wrong) > 4 * se + 0.03 * theory


@pytest.mark.parametrize("call", [
    lambda: sf.network_counts("tanh", 2, 20, 3, 1000, n_networks=2),
    lambda: sf.network_counts("tanh", 2, 20, 2, 50, n_networks=2),  # resolution too small for S^2
    lambda: sf.network_counts("tanh", 2, 20, 1, 8, n_networks=2),  # too small for S^1
    lambda: sf.network_counts("tanh", 0, 20, 1, 64, n_networks=2),
    lambda: sf.network_counts("tanh", 2, 20, 1, 64, n_networks=0),
    lambda: sf.network_field("tanh", 2, 20, 0),
    lambda: sf.network_field("tanh", 2, 20, 2)(np.ones((3, 2))),
])
def test_network_counts_bad_input(call):
    with pytest.raises(ValueError):
        call()


# ---------------------------------------------------------------- piecewise-linear fields (creases, plateaus)
def _crease(P):
    """-|x3| + 0.3 x1: minima at (-0.3, 0, +-1)/|.|, a maximum at e1, a saddle at -e1 (exactly 4)."""
    return -np.abs(P[..., 2]) + 0.3 * P[..., 0]


def _plateau(P):
    """relu(x3 - 0.5): a maximum at the north pole, a flat minimal cap (one critical set)."""
    return np.maximum(P[..., 2] - 0.5, 0.0)


def test_exact_pl_counter_on_the_crease_function():
    cp = sf.pl_critical_points([[0.0, 0.0, 1.0]], [0.0], [-1.0], slopes=(1.0, -1.0), linear=[0.3, 0.0, 0.0])
    assert list(cp.counts) == [2, 1, 1]
    a = 1.0 / math.sqrt(1.09)
    want = {0: [(-0.3 * a, 0, a), (-0.3 * a, 0, -a)], 1: [(-1, 0, 0)], 2: [(1, 0, 0)]}
    for k, pts in want.items():
        got = cp.points[cp.index == k]
        for p in pts:
            assert np.min(np.linalg.norm(got - np.array(p), axis=1)) < 1e-12


@pytest.mark.parametrize("seed", range(6))
def test_exact_pl_counter_obeys_euler_and_matches_a_fine_mesh(seed):
    """Leaky-ReLU nets of width 3 (<= 8 pieces): N0 - N1 + N2 = 2, and the persistence count of a fine
    mesh never exceeds the exact count (it only misses pairs below the local interpolation error)."""
    fld = sf.network_field("leaky_relu", 1, 3, 2, sigma_w2=2.0, sigma_b2=0.5, seed=seed)
    exact = sf.network_pl_critical_points(fld)
    assert exact.counts @ [1, -1, 1] == 2
    assert np.allclose(fld(exact.points), exact.values)
    mesh = sf.critical_points_sphere(fld, 32000, refine=False, persistence="auto").counts
    assert np.all(mesh <= exact.counts)
    assert mesh @ [1, -1, 1] == 2


def test_persistence_count_converges_to_the_exact_count():
    """A width-3 leaky-ReLU net with 6 critical points: raw discrete count grows with the mesh, the
    persistence count reaches 6 and stays there."""
    fld = sf.network_field("leaky_relu", 1, 3, 2, sigma_w2=2.0, sigma_b2=0.5, seed=4)
    assert list(sf.network_pl_critical_points(fld).counts) == [2, 2, 2]
    raw = [sf.critical_points_sphere(fld, r, refine=False).counts.sum() for r in (2000, 128000)]
    assert raw[1] > 3 * raw[0] > 6
    assert list(sf.critical_points_sphere(fld, 128000, refine=False, persistence="auto").counts) == [2, 2, 2]


@pytest.mark.parametrize("res", [500, 2000, 8000, 32000, 128000])
def test_persistence_count_is_exact_on_crease_and_plateau(res):
    raw = sf.critical_points_sphere(_crease, res, refine=False).counts
    assert list(sf.critical_points_sphere(_crease, res, refine=False, persistence="auto").counts) == [2, 1, 1]
    assert list(sf.critical_points_sphere(_plateau, res, refine=False, persistence="auto").counts) == [1, 0, 1]
    xyz = sf.critical_points_sphere(lambda P: P[..., 0] * P[..., 1] * P[..., 2], res, refine=False, persistence="auto")
    assert list(xyz.counts) == [4, 6, 4]
    if res >= 8000:  # the raw count is wrong on both: spurious pairs along the crease, every plateau vertex
        assert raw.sum() > 20
        assert sf.critical_points_sphere(_plateau, res, refine=False).counts[2] > res / 10


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_zero_persistence_is_banchoff(seed):
    """With distinct values and no cancellation, the pairs reproduce Banchoff's discrete counts."""
    f = sf.polynomial_field([0, 0.3, 0.3, 0.4], 2, seed=seed)
    a = sf.critical_points_sphere(f, 3000, refine=False).counts
    b = sf.critical_points_sphere(f, 3000, refine=False, persistence=0.0).counts
    np.testing.assert_array_equal(a, b)


def test_persistence_bad_input():
    with pytest.raises(ValueError):
        sf.critical_points_sphere(_crease, 500, persistence="auto")  # refine=True
    with pytest.raises(ValueError):
        sf.critical_points_sphere(_crease, 500, refine=False, persistence="fast")
    with pytest.raises(ValueError):
        sf.critical_points_sphere(_crease, 500, refine=False, persistence=-1.0)
    with pytest.raises(ValueError):
        sf.find_critical_points(_crease, 1, 64, refine=False, persistence="auto")
    with pytest.raises(ValueError):
        sf.network_pl_critical_points(sf.network_field("tanh", 1, 3, 2))
    with pytest.raises(ValueError):
        sf.pl_critical_points(np.ones((13, 3)), np.zeros(13), np.ones(13))
