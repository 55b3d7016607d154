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


def _same(a, b):
    assert a.chunks_done == b.chunks_done and np.array_equal(a.items, b.items)
    assert sorted(a.data) == sorted(b.data)
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
    one_addr = None
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as c1:
        one_addr = c1.scheduler_address
        one = scale.run("ch05", client=one_addr, **kw)  # by address: run connects and disconnects itself
    _same(ref, two)
    _same(ref, one)


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
