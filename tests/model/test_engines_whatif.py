"""Compiled vs NumPy engine, chunked output, closed form with delays, what-if comparisons."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from scipy.signal import welch

from neurotwin.errors import ConfigError, DataError
from neurotwin.io import Connectome
from neurotwin.model import (
    MODELS,
    hopf_covariance,
    hopf_csd,
    hopf_fc,
    hopf_psd,
    iter_simulate,
    simulate,
    what_if,
)

pytest.importorskip("numba")

_PARAMS = {
    "hopf": {"a": -1.0, "G": 0.5, "sigma": 0.3},
    "jansen_rit": {"G": 1.0},
    "wilson_cowan": {"G": 0.5, "P": [[1.0, 0.5, 1.0, 1.5]]},
}


def _net(n=4, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.uniform(0, 1, (n, n)) * (rng.uniform(size=(n, n)) < 0.7)
    np.fill_diagonal(w, 0)
    return w, rng.uniform(0, 20, (n, n))


@pytest.mark.parametrize("method", ["heun", "euler"])
@pytest.mark.parametrize("model", sorted(MODELS))
def test_numba_engine_integrates_the_same_path_as_numpy(model, method):
    w, d = _net()
    kw = dict(delays_ms=d, duration=0.3, transient=0.05, method=method, random_state=4, decimate=7)
    a = simulate(model, w, _PARAMS[model], engine="numpy", **kw)
    b = simulate(model, w, _PARAMS[model], engine="numba", **kw)
    assert a.data.shape == b.data.shape == (1, int(round(0.3 / 1e-4)) // 7, 4)
    scale = np.abs(a.data).max()
    assert scale > 0
    np.testing.assert_allclose(b.data, a.data, rtol=0, atol=1e-9 * scale)  # rounding only


def test_batched_engines_agree_per_member():
    w, d = _net(5, seed=1)
    params = {"a": [-0.5, -1.0, -2.0], "G": [0.3, 0.0, 0.6], "f": [[8.0] * 5, [10.0] * 5, [12.0] * 5]}
    kw = dict(delays_ms=d, duration=0.2, random_state=0, decimate=5)
    a = simulate("hopf", w, params, engine="numpy", **kw)
    b = simulate("hopf", w, params, engine="numba", **kw)
    assert b.data.shape == (3, 400, 5)
    np.testing.assert_allclose(b.data, a.data, rtol=0, atol=1e-9 * np.abs(a.data).max())
    assert not np.allclose(b.data[0], b.data[1])  # the members really differ


@pytest.mark.parametrize("blocks", [(1,), (8,), (32,)])
@pytest.mark.parametrize("batch", [1, 3])
def test_blocked_input_gives_the_numpy_path(monkeypatch, blocks, batch):
    """Far connections read in blocks, near ones per step, kernel calls stopping mid-block: same path."""
    from neurotwin.model import _numba, integrate

    rng = np.random.default_rng(12)
    n = 7
    w = rng.uniform(0, 1, (n, n)) * (rng.uniform(size=(n, n)) < 0.6)
    delays = rng.uniform(0.0, 10.0, (n, n))  # 0-100 steps: near, far and zero delays
    delays[0, 1] = 0.0
    w[0, 1] = 0.8
    monkeypatch.setattr(_numba, "_BLOCKS", blocks)
    monkeypatch.setattr(_numba, "_NEAR_SHARE", 0.5)
    monkeypatch.setattr(integrate, "_NOISE_BLOCK", 2 * n * batch * 37)  # kernel calls of 37 steps
    dsteps = np.rint(delays / 0.1).astype(int)
    plan = _numba.plan(w, dsteps, batch, 2)
    assert plan.block == blocks[0]
    if blocks[0] > 1:  # both kinds of connection are exercised
        assert len(plan.near_w) and len(plan.far_w)
    params = {"a": np.linspace(-2.0, -0.5, batch), "G": 0.7, "sigma": 0.3}
    kw = dict(delays_ms=delays, duration=0.05, transient=0.01, random_state=3, decimate=3)
    a = simulate("hopf", w, params, engine="numpy", **kw)
    b = simulate("hopf", w, params, engine="numba", **kw)
    np.testing.assert_allclose(b.data, a.data, rtol=0, atol=1e-12 * np.abs(a.data).max())


def test_chunks_concatenate_to_the_whole_run_and_bound_memory():
    w, d = _net(6, seed=2)
    kw = dict(delays_ms=d, duration=2.0, transient=0.1, decimate=5, random_state=9)
    whole = simulate("hopf", w, {"a": -1.0, "G": 0.2}, **kw)
    parts = list(iter_simulate("hopf", w, {"a": -1.0, "G": 0.2}, chunk_duration=0.3, **kw))
    assert [p.data.shape[1] for p in parts[:-1]] == [600] * (len(parts) - 1)
    np.testing.assert_array_equal(np.concatenate([p.data for p in parts], axis=1), whole.data)
    # a 60 s run read chunk by chunk holds one chunk, not the whole output
    n = 40
    w_big = np.ones((n, n)) - np.eye(n)
    tracemalloc.start()
    total = 0
    for chunk in iter_simulate(
        "hopf",
        w_big,
        {"a": -1.0, "G": 0.01},
        duration=60.0,
        dt=1e-3,
        decimate=1,
        chunk_duration=1.0,
        random_state=0,
    ):
        total += chunk.data.shape[1]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    whole_bytes = 60_000 * n * 8
    assert total == 60_000
    assert peak < whole_bytes / 4, f"peak {peak / 1e6:.1f} MB for an output of {whole_bytes / 1e6:.1f} MB"


def test_delayed_covariance_integral_equals_lyapunov_without_delays():
    w, _ = _net(5, seed=3)
    params = {"a": -2.0, "f": 8.0, "G": 0.5, "sigma": 0.7}
    exact = hopf_covariance(w, params)
    integral = hopf_covariance(w, params, delays_ms=np.zeros_like(w))
    np.testing.assert_allclose(integral, exact, rtol=2e-5, atol=1e-7 * np.abs(exact).max())


@pytest.mark.slow
def test_closed_form_with_delays_matches_a_long_simulation():
    """FC and PSD with 8-25 ms delays vs 300 s of Heun simulation (seed 11): within sampling error."""
    rng = np.random.default_rng(5)
    w = rng.uniform(0.5, 1.0, (3, 3))
    np.fill_diagonal(w, 0)
    tau = rng.uniform(8, 25, (3, 3))
    params = {"a": -5.0, "f": 10.0, "G": 2.0, "sigma": 1.0}
    sim = simulate(
        "hopf",
        w,
        params,
        delays_ms=tau,
        duration=300.0,
        dt=2e-4,
        decimate=10,
        random_state=11,
        engine="numba",
    )
    x = sim.data[0]
    cov = hopf_covariance(w, params, delays_ms=tau)
    # the delays change the covariance by far more than the tolerance: the test can tell them apart
    assert np.abs(hopf_covariance(w, params) - cov).max() > 0.1 * np.abs(cov).max()
    # sampling error of covariances over 300 s with a 0.2 s correlation time: ~3 % of the variance
    np.testing.assert_allclose(np.cov(x.T), cov, rtol=0, atol=0.08 * np.abs(cov).max())
    np.testing.assert_allclose(np.corrcoef(x.T), hopf_fc(w, params, delays_ms=tau), atol=0.06)
    f, p = welch(x.T, fs=sim.sfreq, nperseg=int(4 * sim.sfreq))
    band = (f > 2) & (f < 30)
    theory = hopf_csd(w, f[band], params, delays_ms=tau)
    ratio = p[:, band] / np.stack([theory[:, i, i].real for i in range(3)])
    assert np.abs(np.median(ratio, axis=1) - 1).max() < 0.1


def test_what_if_lesion_and_coupling_closed_form():
    w, d = _net(5, seed=6)
    w = w + w.T
    con = Connectome(w, tract_lengths=d + d.T, labels=list("ABCDE"))
    params = {"a": -1.0, "G": 0.4, "f": 10.0}
    cut = what_if(con, params, lesion_regions=["B"])
    assert cut.method == "closed_form"
    # a disconnected region is independent of the others: zero correlation, exactly
    np.testing.assert_allclose(np.delete(cut.fc["altered"][1], 1), 0.0, atol=1e-12)
    assert abs(np.delete(cut.fc["baseline"][1], 1)).min() > 0.01
    table = cut.summary()
    assert table.loc[table.region == "B", "fc_strength_change"].item() < 0
    stronger = what_if(con, params, coupling_scale=1.5, conduction_velocity=5.0)
    assert (stronger.summary()["fc_strength_change"] > 0).all()
    same = what_if(con, params)
    np.testing.assert_array_equal(same.psd["altered"], same.psd["baseline"])


def test_silencing_a_region_clamps_it_and_differs_from_disconnecting_it():
    from scipy.linalg import solve_continuous_lyapunov

    w, _ = _net(5, seed=6)
    w = w + w.T
    con = Connectome(w, labels=list("ABCDE"))
    params = {"a": -6.0, "G": 2.0, "f": 10.0}
    silent = what_if(con, params, silence_regions=["B"]).summary().set_index("region")
    cut = what_if(con, params, lesion_regions=["B"]).summary().set_index("region")
    assert silent.loc["B", "power_change_pct"] == pytest.approx(-100.0)
    assert cut.loc["B", "power_change_pct"] > 0  # disconnected, B loses its neighbours' damping
    # the definition, independently: the linear system with B's row of the Jacobian clamped to zero
    # (its state stays at rest) is the sub-block of the full Jacobian over the others
    a, g, omega = -6.0, 2.0, 2 * np.pi * 10.0
    jac = np.diag(np.full(5, a + 1j * omega) - g * w.sum(axis=1)) + g * w
    keep = [0, 2, 3, 4]
    sub = jac[np.ix_(keep, keep)]
    cov = solve_continuous_lyapunov(sub, -2 * np.eye(4, dtype=complex) * 0.1**2)  # Hopf sigma 0.1
    corr = cov.real / np.sqrt(np.outer(np.diag(cov.real), np.diag(cov.real)))
    result = what_if(con, params, silence_regions=["B"])
    np.testing.assert_allclose(result.fc["altered"][np.ix_(keep, keep)], corr, atol=1e-8)
    with pytest.raises(ConfigError, match="no region 'Z'"):
        what_if(con, params, silence_regions=["Z"])
    with pytest.raises(ConfigError, match="Hopf"):
        what_if(con, {"G": 1.0}, model="jansen_rit", silence_regions=["B"])


def test_what_if_by_simulation_shares_the_noise():
    w = np.array([[0.0, 1.0], [1.0, 0.0]])
    same = what_if(w, {"G": 1.0}, model="jansen_rit", duration=2.0, dt=5e-4)
    assert same.method == "simulation"
    np.testing.assert_array_equal(same.fc["altered"], same.fc["baseline"])  # nothing changed, same noise
    driven = what_if(
        w, {"G": 1.0}, model="jansen_rit", set_params={"p": [[220.0, 300.0]]}, duration=2.0, dt=5e-4
    )
    assert not np.allclose(driven.psd["altered"], driven.psd["baseline"])


def test_bad_input_to_the_new_paths():
    w, d = _net()
    with pytest.raises(ConfigError, match="engine"):
        simulate("hopf", w, engine="gpu")
    with pytest.raises(ConfigError, match="shorter than one output sample"):
        simulate("hopf", w, duration=1e-4, decimate=10)
    with pytest.raises(DataError, match="do not match"):
        hopf_csd(w, [10.0], {"a": -1.0}, delays_ms=np.zeros((2, 2)))
    with pytest.raises(DataError, match="non-negative"):
        hopf_covariance(-w, {"a": -1.0})
    with pytest.raises(ConfigError, match="velocity"):
        what_if(Connectome(w, tract_lengths=d, directed=True), {"a": -1.0}, conduction_velocity=0.0)
    with pytest.raises(ConfigError, match="closed form"):
        what_if(w, {"a": 0.5}, method="closed_form")
    with pytest.raises(ConfigError, match="coupling_scale"):
        what_if(w, {"a": -1.0}, coupling_scale=-1.0)


def _csd_by_definition(w, freqs, p, tau_ms, gain):
    """``S_x = H₊ D H₊ᴴ + H₋ D H₋ᴴ`` with ``H₋ = conj(H(-f))``, from explicit inverses."""
    n = len(w)
    sigma = np.broadcast_to(p["sigma"], (n,))
    out = []
    for f in freqs:
        total = 0
        for sign in (1, -1):
            j = np.diag(p["a"] + 2j * np.pi * p["f"] - p["G"] * w.sum(axis=1)) + p["G"] * w * np.exp(
                -2j * np.pi * sign * f * tau_ms / 1000
            )
            h = np.linalg.inv(2j * np.pi * sign * f * np.eye(n) - j)
            h = (h if sign == 1 else h.conj()) * sigma
            x = gain @ h if gain is not None else h
            total = total + x @ x.conj().T
        out.append(total)
    return np.array(out)


@pytest.mark.parametrize("case", ["typical", "near-critical", "silent region"])
def test_closed_form_equals_its_definition(case):
    """The Hermitian (Cholesky) route, and its LU fallback, give the CSD of the definition."""
    rng = np.random.default_rng(8)
    n = 30
    w = np.where(rng.uniform(size=(n, n)) < 0.3, rng.uniform(size=(n, n)), 0.0)
    tau = rng.uniform(0, 40, (n, n))
    p = {"a": -4.0, "f": 10.0, "G": 1.5, "sigma": rng.uniform(0.5, 2.0, n)}
    if case == "near-critical":  # weak damping, strong instant coupling: cond(A)² ~ 1e12 at 10 Hz, where
        p.update(a=-0.1, G=1000.0)  # the Hermitian route alone errs by 4e-8 (its LU fallback by 6e-12)
        tau = np.zeros((n, n))
    if case == "silent region":
        p["sigma"][4] = 0.0
    gain = rng.standard_normal((12, n))
    freqs = np.r_[np.arange(1.0, 45.0, 3.5), 10.0]
    for lg in (None, gain):
        ref = _csd_by_definition(w, freqs, p, tau, lg)
        scale = np.abs(np.einsum("fii->fi", ref)).max(axis=1)[:, None, None]
        got = hopf_csd(w, freqs, p, delays_ms=tau, gain=lg)
        assert (np.abs(got - ref) / scale).max() < 1e-10
        np.testing.assert_allclose(
            hopf_psd(w, freqs, p, delays_ms=tau, gain=lg), np.einsum("fii->fi", ref).real, rtol=1e-9
        )
