"""Paper-scale runs (nnlandscape.scale): same bits in-process and on 1 or 2 Dask workers, resumable
chunk files, a killed worker or an interrupted run loses no finished chunk, bad input before work."""
from __future__ import annotations

import collections
import json
import os
import signal
import time

import numpy as np
import pytest

from nnlandscape import landscape, optim, scale

SMALL = dict(steps=60)  # ch05 at a test size: 60 full-batch steps per network


def _same(a, b, chunks=True):
    """Bit-identical data (and, with ``chunks``, the same chunks present)."""
    assert not chunks or a.chunks_done == b.chunks_done
    assert np.array_equal(a.items, b.items) and sorted(a.data) == sorted(b.data)
    for k in a.data:
        # bit-identical: the same bytes, NaN included
        assert a.data[k].dtype == b.data[k].dtype and a.data[k].tobytes() == b.data[k].tobytes(), k


# ------------------------------------------------------------------------------ a toy experiment
CALLS = []


def _toy_check(params):
    p = {"fail_from": None, **params}
    return p


def _toy_chunk(params, start, stop, seed):
    CALLS.append((start, stop))
    if params["fail_from"] is not None and start >= params["fail_from"] and os.environ.get("SCALE_TEST_FAIL") == "1":
        raise RuntimeError(f"simulated crash in chunk starting at {start}")
    x = np.array([np.random.default_rng(scale.item_seed(seed, i)).random() for i in range(start, stop)])
    return {"x": x}


TOY = scale.Experiment(name="toy-test", description="uniforms, one per item", item="items", paper_items=10,
                       paper_chunk=2, defaults={}, check=_toy_check, run_chunk=_toy_chunk,
                       bytes_per_item=lambda p: 1e9, max_chunk=lambda p: 1000, model_steps_per_item=lambda p: 1.0)


@pytest.fixture
def toy():
    scale.register(TOY)
    CALLS.clear()
    yield TOY
    scale.EXPERIMENTS.pop(TOY.name, None)
    os.environ.pop("SCALE_TEST_FAIL", None)


# ------------------------------------------------------------------------------ seeds and chunks
def test_item_seed_is_the_spawned_child():
    kids = np.random.SeedSequence(7).spawn(5)
    for i, kid in enumerate(kids):
        assert np.array_equal(scale.item_seed(7, i).generate_state(4), kid.generate_state(4))


def test_chunk_bounds_cover_the_items_once():
    for n, c in [(1, 1), (10, 3), (10, 10), (10, 11), (320_000, 1000)]:
        b = scale.chunk_bounds(n, c)
        assert b[0][0] == 0 and b[-1][1] == n and len(b) == -(-n // c)
        assert all(b1 == a2 for (_, b1), (a2, _) in zip(b, b[1:]))
        assert all(0 < stop - start <= c for start, stop in b)


def test_ch05_same_bits_for_any_chunk_size_and_prefix():
    a = scale.run("ch05", n_items=7, chunk_size=3, seed=11, params=SMALL, progress=False)
    b = scale.run("ch05", n_items=7, chunk_size=7, seed=11, params=SMALL, progress=False)
    c = scale.run("ch05", n_items=4, chunk_size=2, seed=11, params=SMALL, progress=False)
    for k in a.data:
        assert a.data[k].tobytes() == b.data[k].tobytes(), k
        assert a.data[k][:4].tobytes() == c.data[k].tobytes(), k  # a shorter run is a prefix
    d = scale.run("ch05", n_items=7, chunk_size=3, seed=12, params=SMALL, progress=False)
    assert not np.array_equal(a.data["theta"], d.data["theta"])  # the seed matters


def test_ch05_item_is_train_models_of_its_own_stream():
    """Item i = optim.train with OPTIMIZER_SETTINGS[optimizers[i % 2]] from net.init(1, seed=item_seed(seed, i))."""
    r = scale.run("ch05", n_items=4, chunk_size=4, seed=3, params=SMALL, progress=False)
    W, net, X, Y = scale._ch05_problem(0.5, 4, 9)
    for i in range(4):
        name = ["momentum", "adadelta"][i % 2]
        tr = landscape.train_models(net, X, Y, 1, name, steps=SMALL["steps"], seed=scale.item_seed(3, i))
        assert r.data["optimizer"][i] == i % 2
        np.testing.assert_array_equal(r.data["theta"][i], tr.theta[0])
        assert r.data["loss"][i] == tr.loss[0]


# ------------------------------------------------------------------------------ resumable folders
def test_interrupted_run_resumes_without_recomputing(tmp_path, toy):
    out = tmp_path / "toy"
    os.environ["SCALE_TEST_FAIL"] = "1"
    with pytest.raises(RuntimeError, match="simulated crash"):
        scale.run(toy, n_items=10, chunk_size=2, seed=5, params={"fail_from": 6}, out=out, progress=False)
    part = scale.load(out)
    assert part.chunks_done == [0, 1, 2] and not part.complete and "3 of 5 chunks" in part.describe()
    assert not list(out.glob("*.tmp"))  # the crashed chunk left no partial file
    mtimes = {f.name: f.stat().st_mtime_ns for f in out.glob("chunk-*.npz")}
    del os.environ["SCALE_TEST_FAIL"]
    CALLS.clear()
    full = scale.run(toy, n_items=10, chunk_size=2, seed=5, params={"fail_from": 6}, out=out, progress=False)
    assert CALLS == [(6, 8), (8, 10)]  # only the missing chunks ran
    assert {f: out.joinpath(f).stat().st_mtime_ns for f in mtimes} == mtimes
    assert full.complete and full.n_present == 10
    ref = scale.run(toy, n_items=10, chunk_size=2, seed=5, params={"fail_from": 6}, progress=False)
    np.testing.assert_array_equal(full.data["x"], ref.data["x"])
    CALLS.clear()
    again = scale.run(toy, n_items=10, chunk_size=2, seed=5, params={"fail_from": 6}, out=out, progress=False)
    assert CALLS == [] and again.complete  # a finished folder runs nothing


def test_manifest_mismatch_refused_before_work(tmp_path, toy):
    out = tmp_path / "run"
    scale.run(toy, n_items=4, chunk_size=2, seed=1, out=out, progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["experiment"] == "toy-test" and manifest["seed"] == 1 and manifest["n_chunks"] == 2
    assert manifest["package_version"]
    CALLS.clear()
    for kw, name in [(dict(seed=2), "seed"), (dict(n_items=6), "n_items"), (dict(chunk_size=1), "chunk_size"),
                     (dict(params={"fail_from": 3}), "params")]:
        args = {**dict(n_items=4, chunk_size=2, seed=1, out=out, progress=False), **kw}
        with pytest.raises(ValueError, match=name):
            scale.run(toy, **args)
    with pytest.raises(ValueError, match="experiment"):
        scale.run("ch05", n_items=4, chunk_size=2, seed=1, params=SMALL, out=out, progress=False)
    assert CALLS == []


def test_bad_input_before_work(tmp_path, toy, monkeypatch):
    out = tmp_path / "never"
    base = dict(n_items=4, chunk_size=2, seed=1, out=out, progress=False)
    for kw, name in [(dict(n_items=0), "n_items"), (dict(chunk_size=0), "chunk_size"), (dict(seed=-1), "seed"),
                     (dict(n_items=2.5), "n_items")]:
        with pytest.raises(ValueError, match=name):
            scale.run(toy, **{**base, **kw})
    with pytest.raises(ValueError, match="not a registered experiment"):
        scale.run("ch99", **base)
    with pytest.raises(ValueError, match="steps"):
        scale.run("ch05", **{**base, "params": {"steps": 0}})
    with pytest.raises(ValueError, match="optimizers"):
        scale.run("ch05", **{**base, "params": {"optimizers": ["sgd"]}})
    # paper-scale steps: a chunk beyond the package's work budget names the largest allowed size
    largest = scale._ch05_max_chunk(scale._ch05_check({}))
    with pytest.raises(ValueError, match=rf"chunk_size={largest + 1} .* largest allowed chunk_size is {largest}"):
        scale.run("ch05", **{**base, "n_items": 10**5, "chunk_size": largest + 1})
    # an unreachable scheduler is named, quickly
    monkeypatch.setattr(scale, "CONNECT_TIMEOUT", 0.5)
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="tcp://127.0.0.1:9' is unreachable"):
        scale.run(toy, **{**base, "client": "tcp://127.0.0.1:9"})
    assert time.perf_counter() - t0 < 30
    assert CALLS == [] and not out.exists()
    with pytest.raises(ValueError, match="manifest"):
        scale.load(tmp_path)


def test_cli_runs_and_refuses(tmp_path, capsys):
    out = tmp_path / "cli"
    assert scale.main(["ch05", "--networks", "4", "--steps", "20", "--chunk-size", "3", "--out", str(out),
                       "--no-progress"]) == 0
    r = scale.load(out)
    assert r.complete and r.n_present == 4 and r.params["steps"] == 20
    assert scale.main(["ch05", "--status", "--out", str(out)]) == 0
    assert "2 of 2 chunks, 4 of 4 networks" in capsys.readouterr().out
    assert scale.main(["ch05", "--status", "--out", str(tmp_path / "none")]) == 2
    assert scale.main(["ch05", "--dry-run", "--out", str(tmp_path / "dry")]) == 0
    text = capsys.readouterr().out
    assert "320,000 networks, 320 chunks of 1000, 1.6e+10 model-steps" in text
    assert scale.main(["ch05", "--chunk-size", "100000", "--out", str(tmp_path / "x")]) == 2
    assert "largest allowed chunk_size" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_ch05_summary_counts():
    r = scale.run("ch05", n_items=6, chunk_size=6, seed=2, params=SMALL, progress=False)
    s = scale.ch05_summary(r)
    assert s["n"] == 6 and sum(v["n"] for v in s["per_optimizer"].values()) == 6
    loss = r.data["loss"][r.data["optimizer"] == 0]
    assert s["per_optimizer"]["momentum"]["best"] == np.nanmin(loss)


# ------------------------------------------------------------------------------ on a Dask cluster
@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as c:
        yield c


def test_same_bits_in_process_and_on_1_and_2_workers(cluster, tmp_path):
    from distributed import Client

    kw = dict(n_items=9, chunk_size=2, seed=17, params=SMALL, progress=False)
    ref = scale.run("ch05", **kw)
    kw1 = dict(n_items=5, chunk_size=2, seed=5, params=CH01, progress=False)
    with Client(cluster) as c:
        two = scale.run("ch05", client=c, out=tmp_path / "two", **kw)
        assert len(c.scheduler_info()["workers"]) == 2
        _same(scale.run("ch01", client=c, **kw1), scale.run("ch01", **kw1))
        kw4 = dict(n_items=6, chunk_size=4, seed=5, params=CH04, progress=False)
        _same(scale.run("ch04", client=c, **kw4), scale.run("ch04", **kw4))
        new_two = {name: scale.run(name, client=c, **kwn) for name, kwn in NEW_KW.items()}
    one_addr = None
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as c1:
        one_addr = c1.scheduler_address
        one = scale.run("ch05", client=one_addr, **kw)  # by address: run connects and disconnects itself
        with Client(c1) as c:
            new_one = {name: scale.run(name, client=c, **kwn) for name, kwn in NEW_KW.items()}
    _same(ref, two)
    _same(ref, one)
    for name, kwn in NEW_KW.items():  # jitter trials, NEB batches, explorer grids: same bits on 1, 2 workers, here
        here = scale.run(name, **kwn)
        _same(here, new_two[name])
        _same(here, new_one[name])


def test_worker_memory_limit_bounds_chunk_size(cluster, toy):
    from distributed import Client

    with Client(cluster) as c:
        lim = min(w["memory_limit"] for w in c.scheduler_info()["workers"].values())
        largest = int(scale.WORKER_MEMORY_FRACTION * lim // 1e9)
        with pytest.raises(ValueError, match=rf"largest allowed chunk_size is {largest}"):
            scale.run(toy, n_items=1000, chunk_size=largest + 1, seed=0, client=c, progress=False)
    assert CALLS == []


@pytest.mark.slow
def test_killed_worker_loses_no_finished_chunk(tmp_path):
    from distributed import Client, LocalCluster

    kw = dict(n_items=8, chunk_size=1, seed=23, params={"steps": 3000}, progress=False)
    out = tmp_path / "kill"
    seen = {}

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as lc, \
            Client(lc) as c:
        pids = c.run(os.getpid)

        stored = []

        def kill_after_first(k, start, stop):
            stored.append(k)
            if not seen:  # the first stored chunk: note the files, then kill a worker mid-run
                seen.update({f.name: (f.stat().st_mtime_ns, f.read_bytes()) for f in out.glob("chunk-*.npz")})
                os.kill(sorted(pids.values())[0], signal.SIGKILL)

        r = scale.run("ch05", client=c, out=out, on_chunk=kill_after_first, **kw)
        victim = sorted(pids.values())[0]
        assert victim not in c.run(os.getpid).values()  # the worker really died (its nanny started another)
        sent = collections.Counter(t[0] for t in lc.scheduler.transition_log if t[2] == "processing")
        assert max(sent.values()) >= 2  # it died mid-run: a chunk it was running was sent out again
    assert seen and r.complete and r.n_present == 8 and len(stored) == 8 and len(set(stored)) == 8
    for name, (mtime, data) in seen.items():  # the chunks finished before the kill are untouched
        f = out / name
        assert f.stat().st_mtime_ns == mtime and f.read_bytes() == data
    _same(r, scale.run("ch05", **kw))


def test_chapter_reads_a_results_folder_and_says_which_scale(tmp_path, monkeypatch):
    monkeypatch.setenv("NNLANDSCAPE_RESULTS", str(tmp_path))
    assert scale.results_dir("ch05") == tmp_path / "ch05"
    assert scale.load_results("ch05") is None
    text = scale.ch05_markdown(None, book_networks=1280, book_steps=1500)
    assert "book's own" in text and "1,280 networks of 1,500 steps" in text
    # a partial run: 2 of 3 chunks present
    kw = dict(n_items=6, chunk_size=2, seed=4, params=SMALL, out=tmp_path / "ch05", progress=False)

    def stop_after_two(k, start, stop):
        if k == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        scale.run("ch05", on_chunk=stop_after_two, **kw)
    r = scale.load_results("ch05", fields=["loss", "diverged", "optimizer", "dead0"])
    assert sorted(r.data) == ["dead0", "diverged", "loss", "optimizer"] and r.n_present == 4
    text = scale.ch05_markdown(r, book_networks=1280, book_steps=1500)
    assert "partial run: 2 of 3 chunks" in text and "4 of 6 networks of 60 steps" in text
    assert "smaller than the paper's 320,000 networks of 50,000 steps" in text
    s = scale.ch05_summary(r)
    k, n = s["n_global"], s["n"]
    from scipy import stats

    assert f"{100 * stats.beta.ppf(0.975, k + 1, n - k):.2g} %" in text  # 0 of 4: 1 - 0.025**(1/4)
    assert np.isclose(stats.beta.ppf(0.975, 1, 4), 1 - 0.025 ** 0.25)
    assert text.count("\n| momentum |") == 1 and text.count("\n| adadelta |") == 1


CH01 = dict(N=8, width_ratio=2, n_steps=40, n_burn=10, offset_points=64)


def test_ch01_chunks_and_cli(tmp_path):
    a = scale.run("ch01", n_items=5, chunk_size=2, seed=5, params=CH01, progress=False)
    b = scale.run("ch01", n_items=7, chunk_size=2, seed=5, params=CH01, progress=False)
    for k in a.data:  # a chunk's stream depends on its bounds only: the shared chunks agree
        assert a.data[k][:4].tobytes() == b.data[k][:4].tobytes(), k
    assert a.data["energy"].shape == (5, 6) and np.all((a.data["acceptance"] > 0) & (a.data["acceptance"] < 1))
    assert np.all(np.abs(a.data["overlap"]) <= 1 + 1e-12)
    # the networks are per item: item 4's sphere mean from its own chunk matches MLPBatch's network 4
    from nnlandscape.input_landscape import MLPBatch

    nets = MLPBatch("tanh", 1, 16, 8, n_networks=1, seed=5, first_index=4)
    ref = MLPBatch("tanh", 1, 16, 8, n_networks=5, seed=5)
    x = np.cos(np.arange(8.0))[None, None, :]
    np.testing.assert_allclose(nets(x)[0], ref(np.repeat(x, 5, axis=0))[4], rtol=1e-13)
    assert not np.allclose(ref(np.repeat(x, 5, axis=0))[3], ref(np.repeat(x, 5, axis=0))[4])
    out = tmp_path / "ch01"
    assert scale.main(["ch01", "--networks", "3", "--steps", "40", "--param", "n_burn=10", "--param", "N=8",
                       "--param", "width_ratio=2", "--param", "offset_points=64", "--chunk-size", "2",
                       "--out", str(out), "--no-progress"]) == 0
    r = scale.load(out)
    assert r.complete and r.params["n_steps"] == 40 and r.params["activation"] == "tanh"
    with pytest.raises(ValueError, match="unknown keys"):
        scale.run("ch01", n_items=2, chunk_size=1, seed=0, params={"steps": 3}, progress=False)


CH04 = dict(N=40, K=4, alpha=0.5, gd_steps=50, n_moves=10, n_burn=4, n_leapfrog=5, temperatures=[1e-3, 1e-1])


def test_ch04_chains_share_starts_and_stay_on_the_spheres():
    a = scale.run("ch04", n_items=6, chunk_size=4, seed=5, params=CH04, progress=False)
    b = scale.run("ch04", n_items=6, chunk_size=3, seed=5, params=CH04, progress=False)
    np.testing.assert_array_equal(a.data["start"], [0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(a.data["T"], [1e-3, 1e-1] * 3)
    # the descent of a start does not depend on the chunk, and both temperatures of a start share it
    np.testing.assert_array_equal(a.data["gd_train_error"], b.data["gd_train_error"])
    assert np.all(a.data["gd_train_error"][::2] == a.data["gd_train_error"][1::2])
    # geodesic HMC keeps every unit on its sphere |w_k|^2 = n = N / K (float32 storage: rtol 1e-6)
    units = a.data["final"].astype(float).reshape(6, 4, 10)
    np.testing.assert_allclose(np.square(units).sum(-1), 10.0, rtol=1e-5)
    assert np.all((a.data["acceptance"] >= 0) & (a.data["acceptance"] <= 1))
    assert np.all(a.data["q_gd"] <= 1 + 1e-12)


# ------------------------------------------------------------------------------ ch04 on a hidden manifold
def test_ch04_hidden_manifold_data_and_checks():
    from nnlandscape.committee import committee_data

    p = scale.EXPERIMENTS["ch04"].check({**CH04, "kind": "hidden_manifold"})
    assert p["latent_dim"] == 2  # committee_data's default max(1, N // 20), written into the manifest
    mm = scale._ch04_model(p["N"], p["K"], p["alpha"], p["kind"], p["data_seed"], p["zeta"], p["lam"], 3)
    X, y = committee_data(40, 4, 0.5, kind="hidden_manifold", latent_dim=3, seed=p["data_seed"])
    np.testing.assert_array_equal(mm.X, X)
    np.testing.assert_array_equal(mm.y, y)
    # the latent dimension matters: the inputs live on a 3-dimensional manifold, not a 2-dimensional one
    X2, _ = committee_data(40, 4, 0.5, kind="hidden_manifold", latent_dim=2, seed=p["data_seed"])
    assert not np.allclose(X, X2)
    r = scale.run("ch04", n_items=2, chunk_size=2, seed=1, params={**CH04, "kind": "hidden_manifold", "latent_dim": 3},
                  progress=False)
    assert r.params["latent_dim"] == 3 and np.all((r.data["train_error"] >= 0) & (r.data["train_error"] <= 1))
    for bad, name in [({"latent_dim": 41}, "latent_dim"), ({"latent_dim": 0}, "latent_dim"), ({"kind": "mnist"}, "kind")]:
        with pytest.raises(ValueError, match=name):
            scale.run("ch04", n_items=2, chunk_size=1, seed=0, params={**CH04, "kind": "hidden_manifold", **bad},
                      progress=False)
    with pytest.raises(ValueError, match="latent_dim=3 applies only to kind='hidden_manifold'"):
        scale.run("ch04", n_items=2, chunk_size=1, seed=0, params={**CH04, "latent_dim": 3}, progress=False)


# ------------------------------------------------------------------------------ ch05: jitter trials, NEB batches
JITTER = dict(steps=40, optimizers=["momentum", "momentum", "adadelta"], lr=[None, 0.001, None])


def test_jitter_trial_is_its_own_stream_and_step():
    """Trial i: r ~ U[0, r_max] then the direction, from one generator on item_seed(seed, i); start W_f + xi,
    |xi| = r; trained with optimizers[i % 3] at lr[i % 3]; same bits for any chunk size."""
    a = scale.run("ch05-jitter", n_items=5, chunk_size=2, seed=9, params=JITTER, progress=False)
    b = scale.run("ch05-jitter", n_items=5, chunk_size=5, seed=9, params=JITTER, progress=False)
    _same(a, b, chunks=False)
    W, net, X, Y = scale._ch05_problem(0.5, 4, 9)
    wf = landscape.desymmetrize(net, W.theta)
    for i in (1, 2, 4):
        rng = np.random.default_rng(scale.item_seed(9, i))
        r = rng.uniform(0.0, 2.0)
        th0 = landscape.jitter(wf, [r], seed=rng)
        assert a.data["radius"][i] == r and np.isclose(np.linalg.norm(th0[0] - wf), r, rtol=1e-12)
        assert a.data["loss0"][i] == net.loss(th0[0], X, Y)
        name, lr = JITTER["optimizers"][i % 3], [0.01, 0.001, 1.0][i % 3]
        settings = {k: v for k, v in landscape.OPTIMIZER_SETTINGS[name].items() if k != "lr"}
        tr = optim.train(net, th0.astype(np.float32), X, Y, optimizer=name, lr=lr, steps=40, record_every=40, **settings)
        np.testing.assert_array_equal(a.data["theta"][i], tr.theta[0])
        assert a.data["optimizer"][i] == i % 3
    assert np.all(a.data["returned"] == (a.data["loss"] < 1e-3))
    for bad, name in [({"lr": [0.1]}, "lr"), ({"lr": [None, None, -1.0]}, "lr"), ({"r_max": 0}, "r_max"),
                      ({"optimizers": ["momentum", "momentum"], "lr": None}, "repeat"), ({"tol": 0}, "tol")]:
        with pytest.raises(ValueError, match=name):
            scale.run("ch05-jitter", n_items=2, chunk_size=1, seed=0, params={**JITTER, **bad}, progress=False)


def test_jitter_inside_the_stability_bound_returns():
    """A known answer: heavy ball with eta = 0.001, mu = 0.9 is stable at W_f when its largest Hessian
    eigenvalue is below 2(1 + mu)/eta (the recursion's Jury bound); started 1e-6 away it must stay below tol."""
    W, net, X, Y = scale._ch05_problem(0.5, 4, 9)
    wf = landscape.desymmetrize(net, W.theta)
    assert landscape.flat_mode_census(net, wf, X, Y).lambda_max < landscape.heavy_ball_critical_curvature(0.001, 0.9)
    r = scale.run("ch05-jitter", n_items=4, chunk_size=4, seed=2, progress=False,
                  params=dict(steps=200, optimizers=["momentum"], lr=[0.001], r_max=1e-6))
    assert np.all(r.data["radius"] <= 1e-6) and np.all(r.data["returned"]) and not r.data["diverged"].any()


NEB = dict(steps=60, endpoints="all", n_images=5, neb_steps=15, refine=1, n_new=2, per_segment=4)


def test_neb_bands_run_from_w_f_to_the_ch05_networks():
    a = scale.run("ch05-neb", n_items=3, chunk_size=2, seed=4, params=NEB, progress=False)
    _same(a, scale.run("ch05-neb", n_items=3, chunk_size=3, seed=4, params=NEB, progress=False), chunks=False)
    ch05 = scale.run("ch05", n_items=3, chunk_size=3, seed=4, params=SMALL, progress=False)
    # network i is ch05's network i, bit for bit
    assert a.data["train_loss"].tobytes() == np.where(ch05.data["diverged"], np.nan, ch05.data["loss"]).tobytes()
    W, net, X, Y = scale._ch05_problem(0.5, 4, 9)
    wf = landscape.desymmetrize(net, W.theta)
    assert a.data["selected"].all() and a.data["images"].shape == (3, 5 + 2, net.n_params)
    for j in range(3):
        end = landscape.match_units(net, wf, landscape.desymmetrize(net, ch05.data["theta"][j].astype(float)))
        np.testing.assert_array_equal(a.data["images"][j, 0], wf.astype(np.float32))  # fixed endpoints
        np.testing.assert_array_equal(a.data["images"][j, -1], end.astype(np.float32))
        assert np.isclose(a.data["distance"][j], np.linalg.norm(end - wf), rtol=1e-12)
    # the dense profile contains the images (evaluated again, in other batches: rounding apart), so its
    # maximum is at least theirs and at least the endpoints'; the polygon is no shorter than its chord
    tol = 1e-9 * np.maximum(1.0, np.abs(a.data["image_max"]))
    assert np.all(a.data["dense_max"] >= a.data["image_max"] - tol) and np.all(a.data["excess_barrier"] >= -tol)
    assert np.all(a.data["path_length"] >= a.data["distance"] * (1 - 1e-12))
    # the chapter's endpoints: only networks below the spline floor get a band; the others are NaN
    s = scale.run("ch05-neb", n_items=3, chunk_size=3, seed=4, params={**NEB, "endpoints": "spline"}, progress=False)
    floor = W.low_frequency_floor(9)
    np.testing.assert_array_equal(s.data["selected"], a.data["train_loss"] < floor)
    assert np.all(np.isnan(s.data["dense_max"][~s.data["selected"]]))
    for bad, name in [({"endpoints": "best"}, "endpoints"), ({"n_images": 2}, "n_images"), ({"neb_steps": 0}, "neb_steps"),
                      ({"steps": 0}, "steps")]:
        with pytest.raises(ValueError, match=name):
            scale.run("ch05-neb", n_items=2, chunk_size=1, seed=0, params={**NEB, **bad}, progress=False)
    text = scale.scale_markdown("ch05-neb", a, book="6 bands")
    assert "3 bands to the networks ('all' endpoints) among 3 of 3" in text and "smaller than the paper's" in text


# ------------------------------------------------------------------------------ explorer grids
def _wave_traces(freq, shape, amplitude=1.0):
    x = np.linspace(0.0, 1.0, 21)
    y = amplitude * (np.sin(2 * np.pi * freq * x) if shape == "sin" else np.cos(2 * np.pi * freq * x))
    return [dict(x=x, y=y, name=f"{shape} {freq}"), dict(x=[0.0, 1.0], y=[0.0, float(freq)], mode="lines")]


GRID = dict(function="nnlandscape.kernels:covariance", controls=[["activation", ["relu", "tanh"]], ["depth", [1, 2, 3]]],
            fixed={"q": [0.0, 0.5, 1.0]})


def test_grid_points_are_the_function_values(tmp_path):
    from nnlandscape import kernels

    a = scale.run("grid", n_items=6, chunk_size=4, seed=0, params=GRID, progress=False)
    _same(a, scale.run("grid", n_items=6, chunk_size=1, seed=0, params=GRID, progress=False), chunks=False)
    values = scale.grid_values(a)
    assert list(values) == [(act, d) for act in ("relu", "tanh") for d in (1, 2, 3)]  # C order, last control fastest
    for (act, d), v in values.items():
        ref = kernels.covariance(act, d, [0.0, 0.5, 1.0])
        assert v.dtype == ref.dtype and v.tobytes() == ref.tobytes()  # stored exactly
    f = scale.grid_function(a)
    assert f(activation="tanh", depth=2.0).tobytes() == kernels.covariance("tanh", 2, [0.0, 0.5, 1.0]).tobytes()
    with pytest.raises(ValueError, match="depth"):
        f(activation="tanh", depth=4)
    with pytest.raises(ValueError, match="n_items=5 does not match"):
        scale.run("grid", n_items=5, chunk_size=2, seed=0, params=GRID, progress=False)
    for bad, name in [({"function": "nnlandscape.kernels.covariance"}, "function"),
                      ({"function": "nnlandscape.nothing:f"}, "cannot be imported"),
                      ({"controls": {"depth": [1, 2]}}, "controls"), ({"controls": [["depth", []]]}, "controls"),
                      ({"controls": [["depth", [1]], ["depth", [2]]]}, "distinct"),
                      ({"fixed": {"depth": 1}}, "fixed"), ({"controls": [["depth", [object()]]]}, "JSON"),
                      ({"max_point_chars": 0}, "max_point_chars")]:
        with pytest.raises(ValueError, match=name):
            scale.run("grid", n_items=6, chunk_size=1, seed=0, params={**GRID, **bad}, progress=False)
    # a point beyond its declared size is refused, naming the budget
    with pytest.raises(ValueError, match="max_point_chars=16"):
        scale.run("grid", n_items=6, chunk_size=1, seed=0, params={**GRID, "max_point_chars": 16}, progress=False)
    with pytest.raises(TypeError, match="result"):
        scale.grid_values("results/grid")
    with pytest.raises(ValueError, match="grid result"):
        scale.grid_function(scale.run("ch05", n_items=1, chunk_size=1, seed=0, params=SMALL, progress=False))
    # the command line fills in the number of grid points
    out = tmp_path / "grid"
    assert scale.main(["grid", "--param", f"function={json.dumps(GRID['function'])}", "--param",
                       f"controls={json.dumps(GRID['controls'])}", "--param", f"fixed={json.dumps(GRID['fixed'])}",
                       "--chunk-size", "4", "--out", str(out), "--no-progress"]) == 0
    _same(scale.load(out), a)


def _noise(n, seed):
    return np.random.default_rng(seed).standard_normal(n)


def test_grid_seed_arg_gives_every_point_the_run_seed():
    params = dict(function=f"{__name__}:_noise", controls=[["n", np.arange(2, 5)]], seed_arg="seed")
    r = scale.run("grid", n_items=3, chunk_size=2, seed=11, params=params, progress=False)
    assert r.params["controls"] == [["n", [2, 3, 4]]]  # numpy values stored as JSON numbers
    values = scale.grid_values(r)
    for n in (2, 3, 4):  # common random numbers: one seed, every point
        assert values[(n,)].tobytes() == np.random.default_rng(11).standard_normal(n).tobytes()
    with pytest.raises(ValueError, match="seed_arg"):
        scale.run("grid", n_items=3, chunk_size=2, seed=11, params={**params, "seed_arg": "n"}, progress=False)


def test_grid_feeds_a_static_explorer_unchanged():
    from nnlandscape.explore import dropdown, explore, slider

    params = dict(function=f"{__name__}:_wave_traces", controls=[["freq", [1, 2, 3]], ["shape", ["sin", "cos"]]],
                  fixed={"amplitude": 0.5})
    r = scale.run("grid", n_items=6, chunk_size=4, seed=0, params=params, progress=False)
    controls = [slider("freq", [1, 2, 3], default=2), dropdown("shape", ["sin", "cos"])]

    def direct(freq, shape):
        return _wave_traces(freq, shape, amplitude=0.5)

    a = explore(direct, controls, mode="static")
    b = explore(scale.grid_function(r), controls, mode="static")
    assert a.post_script == b.post_script and a.figure.to_json() == b.figure.to_json()


def test_scale_markdown_of_ch01_and_ch04(tmp_path, monkeypatch):
    from nnlandscape import replica

    for name in ("ch01", "ch04", "ch05-jitter", "grid"):
        text = scale.scale_markdown(name, None, book="the book's size")
        assert text.startswith("**Scale shown: the book's own** (the book's size)") and text.count(". ") == 0
        assert f"python -m nnlandscape.scale {name}`" in text
    r = scale.run("ch01", n_items=3, chunk_size=2, seed=5, params=CH01, progress=False)
    text = scale.scale_markdown("ch01", r, book="N = 16")
    rows = [line for line in text.splitlines() if line.startswith("| 0") or line.startswith("| 1")]
    assert len(rows) == 6 and "3 of 3 tanh networks" in text
    e_rs = replica.rs_solution(replica.Mixture.from_network("tanh", 1, sigma_w2=1.0), r.params["temperatures"]).energy
    em = r.data["energy"].mean(0)
    for row, e, m in zip(rows, e_rs, em):
        assert f"| {m:+.4f} ± " in row and f"| {e:+.4f}" in row
    r4 = scale.run("ch04", n_items=4, chunk_size=4, seed=5, params=CH04, progress=False)
    text = scale.scale_markdown("ch04", r4, book="N = 200")
    assert "4 of 4 chains of 10 moves from 2 gradient-descent solutions, N = 40, K = 4" in text
    assert text.count("\n| 0.001 | 2 |") == 1 and text.count("\n| 0.1 | 2 |") == 1
    with pytest.raises(ValueError, match="result must be a ch01 result"):
        scale.scale_markdown("ch01", r4, book="N = 16")
    with pytest.raises(ValueError, match="book"):
        scale.scale_markdown("ch01", None, book="")


NEW_KW = {"ch05-jitter": dict(n_items=5, chunk_size=2, seed=3, params=JITTER, progress=False),
          "ch05-neb": dict(n_items=3, chunk_size=2, seed=4, params=NEB, progress=False),
          "grid": dict(n_items=6, chunk_size=4, seed=0, params=GRID, progress=False)}
