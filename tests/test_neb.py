"""Tests for nnlandscape.surfaces (Müller-Brown, arc double well) and nnlandscape.neb."""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from nnlandscape.neb import (
    FIRE,
    fire_minimize,
    improved_tangents,
    insert_images,
    linear_path,
    nudged_elastic_band,
    refine_band,
    resample_path,
)
from nnlandscape.surfaces import (
    arc_double_well,
    arc_double_well_mep,
    muller_brown,
    muller_brown_hessian,
    muller_brown_stationary_points,
)

SP = muller_brown_stationary_points()
THETA0 = np.pi / 3
ARC_A = np.array([np.cos(THETA0), -np.sin(THETA0)])
ARC_B = np.array([np.cos(THETA0), np.sin(THETA0)])


# --------------------------------------------------------------------------- surfaces
def test_muller_brown_literature_values():
    lit = {"A": (-0.558, 1.442, -146.70), "B": (0.623, 0.028, -108.17), "C": (-0.050, 0.467, -80.77),
           "S1": (-0.822, 0.624, -40.66), "S2": (0.212, 0.293, -72.25)}
    for name, (x, y, e) in lit.items():
        p = SP[name]
        assert np.hypot(p.position[0] - x, p.position[1] - y) < 1e-3
        assert abs(p.energy - e) < 6e-3
        assert np.linalg.norm(muller_brown(p.xy)[1]) < 1e-8
        n_neg = sum(ev < 0 for ev in p.hessian_eigenvalues)
        assert n_neg == (1 if name.startswith("S") else 0)


def test_muller_brown_derivatives_match_finite_differences():
    rng = np.random.default_rng(0)
    pts = rng.uniform([-1.5, -0.5], [1.0, 2.0], size=(20, 2))
    h = 1e-6
    e, g = muller_brown(pts)
    H = muller_brown_hessian(pts)
    for d in range(2):
        step = np.zeros(2)
        step[d] = h
        ep, gp = muller_brown(pts + step)
        em, gm = muller_brown(pts - step)
        np.testing.assert_allclose(g[:, d], (ep - em) / (2 * h), rtol=1e-6, atol=1e-5)
        np.testing.assert_allclose(H[:, :, d], (gp - gm) / (2 * h), rtol=1e-6, atol=1e-3)


def test_arc_double_well_closed_forms():
    e, g = arc_double_well(np.array([ARC_A, ARC_B, [1.0, 0.0], [-1.0, 0.0]]))
    np.testing.assert_allclose(e, [0, 0, 1, 9], atol=1e-12)  # (1+cos t0)^2/(1-cos t0)^2 = 9 at pi
    np.testing.assert_allclose(g, 0, atol=1e-12)
    # on the unit circle the gradient is tangent (zero radial component): the circle is the MEP
    pts, energies, s = arc_double_well_mep(50)
    e, g = arc_double_well(pts)
    np.testing.assert_allclose(np.einsum("id,id->i", g, pts), 0, atol=1e-12)
    np.testing.assert_allclose(e, energies, atol=1e-12)
    np.testing.assert_allclose(s[-1], 2 * THETA0)
    with pytest.raises(ValueError, match="origin"):
        arc_double_well([[0.0, 0.0]])
    with pytest.raises(ValueError, match="theta0"):
        arc_double_well([[1.0, 0.0]], theta0=4.0)


# --------------------------------------------------------------------------- NEB on Müller-Brown
@pytest.mark.parametrize("a, b, saddle, n", [("A", "C", "S1", 11), ("C", "B", "S2", 11), ("A", "B", "S1", 17)])
def test_climbing_image_finds_muller_brown_saddle(a, b, saddle, n):
    r = nudged_elastic_band(muller_brown, SP[a].xy, SP[b].xy, n, climb=True, fmax=1e-3)
    assert r.converged and r.max_force < 1e-3
    assert np.linalg.norm(r.saddle - SP[saddle].xy) < 1e-3
    assert abs(r.energies[r.i_max] - SP[saddle].energy) < 1e-3
    np.testing.assert_array_equal(r.images[0], SP[a].xy)
    np.testing.assert_array_equal(r.images[-1], SP[b].xy)
    assert r.barrier == pytest.approx(SP[saddle].energy - SP[a].energy, abs=1e-3)


def test_path_a_to_b_passes_through_intermediate_minimum_c():
    r = nudged_elastic_band(muller_brown, SP["A"].xy, SP["B"].xy, 17, climb=True)
    assert np.min(np.linalg.norm(r.images - SP["C"].xy, axis=1)) < 0.1
    # and through (near) the lower saddle S2 as a local maximum of the band
    interior = r.energies[1:-1]
    local_max = [i + 1 for i in range(1, len(interior) - 1) if interior[i] > interior[i - 1] and interior[i] > interior[i + 1]]
    assert len(local_max) == 2


@pytest.mark.parametrize("a, b, saddle", [("A", "C", "S1"), ("C", "B", "S2")])
def test_without_climbing_the_top_image_is_below_the_saddle(a, b, saddle):
    r = nudged_elastic_band(muller_brown, SP[a].xy, SP[b].xy, 11, climb=False)
    assert r.converged
    e_s = SP[saddle].energy
    assert e_s - 5.0 < r.energies[r.i_max] < e_s
    assert np.linalg.norm(r.saddle - SP[saddle].xy) > 1e-3  # the plain band straddles the saddle
    # equal spacing (distance-based springs, no climbing image)
    seg = np.diff(r.arc_length())
    assert np.ptp(seg) < 1e-3 * seg.mean() + 1e-3 / r.spring


# --------------------------------------------------------------------------- NEB on the arc double well
def _arc_band(n, stiffness, **kw):
    return nudged_elastic_band(lambda p: arc_double_well(p, stiffness=stiffness), ARC_A, ARC_B, n, fmax=1e-5, **kw)


def test_arc_double_well_band_converges_to_the_closed_form_mep():
    dev = {}
    for n, kappa in [(11, 100.0), (21, 100.0), (41, 100.0), (21, 1000.0)]:
        r = _arc_band(n, kappa)
        assert r.converged
        np.testing.assert_allclose(r.saddle, [1.0, 0.0], atol=1e-6)
        assert r.energies[r.i_max] == pytest.approx(1.0, abs=1e-9)
        radius = np.linalg.norm(r.images, axis=1)
        dev[n, kappa] = np.max(np.abs(radius - 1))
        theta = np.arctan2(r.images[:, 1], r.images[:, 0])
        c0 = np.cos(THETA0)
        np.testing.assert_allclose(r.energies, (np.cos(theta) - c0) ** 2 / (1 - c0) ** 2, atol=kappa * dev[n, kappa] ** 2 + 1e-9)
    # the chord-tangent discretisation error is O(1 / (N kappa)): halves with N, /10 with kappa
    assert dev[11, 100.0] < 1e-3
    assert 0.4 < dev[21, 100.0] / dev[11, 100.0] < 0.6
    assert 0.4 < dev[41, 100.0] / dev[21, 100.0] < 0.6
    assert 0.07 < dev[21, 1000.0] / dev[21, 100.0] < 0.13


def test_profile_and_path_length_on_arc():
    r = _arc_band(21, 1000.0)
    s = r.arc_length()
    assert r.path_length() == pytest.approx(np.sum(np.linalg.norm(np.diff(r.images, axis=0), axis=1)))
    # inscribed polygon of 20 equal chords of the arc of angle 2 theta0
    assert r.path_length() == pytest.approx(20 * 2 * np.sin(THETA0 / 20), rel=1e-3)
    t, e = r.profile(400)
    np.testing.assert_allclose(np.interp(s, t, e), r.energies, atol=2e-3)
    c0 = np.cos(THETA0)
    exact = (np.cos(t * 2 * THETA0 / t[-1] - THETA0) - c0) ** 2 / (1 - c0) ** 2
    assert np.max(np.abs(e - exact)) < 5e-3


def test_band_is_symmetric_under_reversal():
    f = lambda p: arc_double_well(p, stiffness=100.0)  # noqa: E731
    r1 = nudged_elastic_band(f, ARC_A, ARC_B, 15)
    r2 = nudged_elastic_band(f, ARC_B, ARC_A, 15)
    np.testing.assert_allclose(r1.images, r2.images[::-1], atol=1e-9)


@settings(max_examples=15, deadline=None)
@given(
    start=st.tuples(st.floats(-1.5, 1.0), st.floats(-0.3, 2.0)),
    end=st.tuples(st.floats(-1.5, 1.0), st.floats(-0.3, 2.0)),
    n=st.integers(3, 12),
    climb=st.booleans(),
)
def test_endpoints_never_move(start, end, n, climb):
    start, end = np.array(start), np.array(end)
    assume(np.linalg.norm(start - end) >= 1e-3)
    r = nudged_elastic_band(muller_brown, start, end, n, climb=climb, max_steps=40, climb_after=5)
    np.testing.assert_array_equal(r.images[0], start)
    np.testing.assert_array_equal(r.images[-1], end)
    assert r.images.shape == (n, 2) and r.energies.shape == (n,)
    np.testing.assert_allclose(r.energies, muller_brown(r.images)[0], rtol=0, atol=1e-12)
    assert 1 <= r.i_max <= n - 2


# --------------------------------------------------------------------------- utilities
def test_fire_minimize_finds_minimum_a():
    res = fire_minimize(lambda z: tuple(v[0] for v in muller_brown(z)), [-0.4, 1.3], fmax=1e-8)
    assert res.converged
    np.testing.assert_allclose(res.x, SP["A"].xy, atol=1e-9)
    assert res.energy == pytest.approx(SP["A"].energy, abs=1e-9)


def test_fire_on_quadratic_reaches_zero():
    lam = np.array([1.0, 100.0])
    opt = FIRE(dt=0.01, max_step=1.0)
    x = np.array([[1.0, 1.0]])
    for _ in range(2000):
        x = opt.step(x, -lam * x)
    assert np.linalg.norm(x) < 1e-8


def test_insert_resample_and_refine():
    path = linear_path([0.0, 0.0], [1.0, 2.0], 5)
    new = insert_images(path, [1, 3], n_new=2)
    assert new.shape == (9, 2)
    np.testing.assert_array_equal(new[[0, 1, 4, 5, 8]], path)
    np.testing.assert_allclose(new[2:4], path[1] + np.outer([1 / 3, 2 / 3], path[2] - path[1]))
    curved = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 3.0]])
    rs = resample_path(curved, 5)
    np.testing.assert_allclose(np.linalg.norm(np.diff(rs, axis=0), axis=1)[[0, 2, 3]], 1.0)
    np.testing.assert_allclose(rs[[0, -1]], curved[[0, -1]])
    # refine a converged Müller-Brown band where it rises most, rerun from it
    r = nudged_elastic_band(muller_brown, SP["A"].xy, SP["C"].xy, 7)
    seg = r.rising_segments(2)
    assert len(seg) == 2 and np.all(np.abs(np.diff(r.energies))[seg] >= np.sort(np.abs(np.diff(r.energies)))[-2])
    r2 = refine_band(muller_brown, r, n_new=1, top=2)
    assert r2.n_images == 9 and r2.converged
    assert np.linalg.norm(r2.saddle - SP["S1"].xy) < 1e-3


def test_improved_tangent_cases_and_flat_fallback():
    img = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    t, _, _ = improved_tangents(img, np.array([0.0, 1.0, 2.0]))  # rising: tau_+
    np.testing.assert_allclose(t[0], [0.0, 1.0])
    t, _, _ = improved_tangents(img, np.array([2.0, 1.0, 0.0]))  # falling: tau_-
    np.testing.assert_allclose(t[0], [1.0, 0.0])
    t, _, _ = improved_tangents(img, np.array([0.0, 0.0, 0.0]))  # exactly flat (dead ReLU): bisector
    np.testing.assert_allclose(t[0], [np.sqrt(0.5), np.sqrt(0.5)])
    t, _, _ = improved_tangents(img, np.array([0.0, 3.0, 1.0]))  # maximum, E+ > E-: tau_+ dEmax + tau_- dEmin
    np.testing.assert_allclose(t[0], np.array([2.0, 3.0]) / np.sqrt(13))  # = ((0,1) 3 + (1,0) 2) / |.|
    t, _, _ = improved_tangents(img, np.array([1.0, 3.0, 0.0]))  # maximum, E+ < E-: tau_+ dEmin + tau_- dEmax
    np.testing.assert_allclose(t[0], np.array([3.0, 2.0]) / np.sqrt(13))
    # a band on an exactly flat landscape: no NaN, spacing already equal -> converged at once
    flat = lambda p: (np.zeros(len(p)), np.zeros_like(p))  # noqa: E731
    r = nudged_elastic_band(flat, [0.0, 0.0], [1.0, 1.0], 6, climb=False)
    assert r.converged and r.n_steps == 0 and np.all(np.isfinite(r.tangents))


def test_seeded_perturbation_is_reproducible():
    kw = dict(perturb=0.05, seed=3, max_steps=30)
    r1 = nudged_elastic_band(muller_brown, SP["C"].xy, SP["B"].xy, 9, **kw)
    r2 = nudged_elastic_band(muller_brown, SP["C"].xy, SP["B"].xy, 9, **kw)
    r3 = nudged_elastic_band(muller_brown, SP["C"].xy, SP["B"].xy, 9, **{**kw, "seed": 4})
    np.testing.assert_array_equal(r1.images, r2.images)
    assert not np.array_equal(r1.images, r3.images)


def test_callback_can_stop_and_steepest_descent_runs():
    calls = []
    r = nudged_elastic_band(muller_brown, SP["C"].xy, SP["B"].xy, 9,
                            callback=lambda step, imgs, e, f: calls.append(f) or step >= 7)
    assert r.n_steps == 7 and len(calls) == 7 and not r.converged
    r = nudged_elastic_band(muller_brown, SP["C"].xy, SP["B"].xy, 9, optimizer="steepest", max_steps=2000)
    assert r.converged and np.linalg.norm(r.saddle - SP["S2"].xy) < 1e-3


@pytest.mark.parametrize(
    "args, kwargs, name",
    [
        (([0.0, 0.0], [1.0, 1.0], 2), {}, "n_images"),
        (([0.0, 0.0], [1.0, 1.0], 1), {}, "n_images"),
        (([0.0, 0.0], [1.0, 1.0, 0.0], 5), {}, "end"),
        (([0.0, np.nan], [1.0, 1.0], 5), {}, "start"),
        (([0.0, 0.0], [np.inf, 1.0], 5), {}, "end"),
        (([0.0, 0.0], [1.0, 1.0], 5), {"spring": 0.0}, "spring"),
        (([0.0, 0.0], [1.0, 1.0], 5), {"spring": -2.0}, "spring"),
        (([0.0, 0.0], [1.0, 1.0], 5), {"optimizer": "adam"}, "optimizer"),
        (([0.0, 0.0], [1.0, 1.0], 5), {"fmax": 0.0}, "fmax"),
        (([0.0, 0.0], [1.0, 1.0], 5), {"initial_path": np.zeros((4, 2))}, "n_images"),
        (([0.0, 0.0], [1.0, 1.0], 5), {"perturb": -1.0}, "perturb"),
        (([0.0, 0.0], [1.0, 1.0]), {}, "n_images"),
    ],
)
def test_bad_input_raises(args, kwargs, name):
    with pytest.raises(ValueError, match=name):
        nudged_elastic_band(muller_brown, *args, **kwargs)


def test_bad_fun_output_raises():
    with pytest.raises(ValueError, match="fun"):
        nudged_elastic_band(lambda p: (np.zeros(len(p) + 1), p), [0.0, 0.0], [1.0, 1.0], 5)
    with pytest.raises(ValueError, match="fun"):
        nudged_elastic_band(lambda p: (np.full(len(p), np.nan), p), [0.0, 0.0], [1.0, 1.0], 5)
    with pytest.raises(ValueError, match="initial_path"):
        nudged_elastic_band(muller_brown, [0.0, 0.0], [1.0, 1.0], 3, initial_path=[[0, 0], [5, 5], [1, 2]])
    with pytest.raises(ValueError, match="segments"):
        insert_images(np.zeros((3, 2)), [5])


# --------------------------------------------------------------------------- dense profile, climbing-image index
def test_band_profile_matches_direct_evaluation_between_images():
    from nnlandscape.neb import band_profile

    rng = np.random.default_rng(3)
    images = np.cumsum(rng.uniform(-0.3, 0.3, size=(6, 2)), axis=0) + SP["A"].xy
    prof = band_profile(muller_brown, images, per_segment=8)
    assert prof.energies.size == 5 * 8 + 1
    np.testing.assert_array_equal(prof.points[prof.at_image], images)
    for j in range(5):  # every sampled point is (1-t) R_j + t R_{j+1} and its energy is the direct value
        for i, t in enumerate(np.arange(8) / 8):
            k = 8 * j + i
            p = (1 - t) * images[j] + t * images[j + 1]
            np.testing.assert_allclose(prof.points[k], p, rtol=0, atol=1e-14)
            assert prof.energies[k] == pytest.approx(muller_brown(p[None])[0][0], rel=1e-12)
            seg = np.linalg.norm(np.diff(images, axis=0), axis=1)
            assert prof.s[k] == pytest.approx(seg[:j].sum() + t * seg[j], rel=1e-12)
    assert prof.segment[-1] == 4 and prof.s[-1] == pytest.approx(np.linalg.norm(np.diff(images, axis=0), axis=1).sum())


def test_band_profile_finds_a_bump_the_images_miss():
    from nnlandscape.neb import band_profile

    def bump(p):  # E = exp(-x^2/0.02): a ridge at x = 0 between images at x = -0.5, 0.5
        e = np.exp(-p[:, 0] ** 2 / 0.02)
        return e, np.stack([-p[:, 0] / 0.01 * e, 0 * e], 1)

    images = np.array([[-1.0, 0.0], [-0.5, 0.0], [0.5, 0.0], [1.0, 0.0]])
    assert bump(images)[0].max() < 1e-5
    prof = band_profile(bump, images, per_segment=8)  # t = 4/8 on the middle segment hits x = 0
    assert prof.e_max == pytest.approx(1.0, abs=1e-12)
    assert prof.s_max == pytest.approx(1.0)
    assert prof.first_reaching(0.5) <= 1.0 and np.isnan(prof.first_reaching(2.0))


def test_climbing_image_on_muller_brown_is_an_index_one_saddle():
    from nnlandscape.landscape import hessian_index

    r = nudged_elastic_band(muller_brown, SP["A"].xy, SP["C"].xy, 15, climb=True, fmax=1e-4)
    top = r.saddle[None]
    assert np.linalg.norm(muller_brown(top)[1][0]) < 1e-3  # fmax bounds the climbing image's force
    assert hessian_index(np.linalg.eigvalsh(muller_brown_hessian(top)[0])) == 1
    assert hessian_index(np.linalg.eigvalsh(muller_brown_hessian(SP["A"].xy[None])[0])) == 0
    # an ordinary image next to the top is neither critical nor (generally) on the saddle
    assert np.linalg.norm(muller_brown(r.images[r.i_max + 1][None])[1][0]) > 1.0
