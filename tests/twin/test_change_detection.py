"""Calibrated uncertainty and change detection: sandwich posteriors, a session's own evidence,
between-session variability, two-level false-discovery control, forecasts."""

from __future__ import annotations

import numpy as np
import pytest

from neurotwin.errors import ConfigError
from neurotwin.twin import Twin, TwinState, Variability, estimate_variability
from neurotwin.twin.inference import Posterior
from neurotwin.twin.longitudinal import changes, feature_changes, population_variability, variability_of

CH = [f"c{i}" for i in range(19)]


def _state(k, at, f, sd_f, iaf, se_iaf):
    """A hand-made state: the twin's f (own estimate) and per-channel IAFs with their SEs."""
    post = Posterior(
        ["a", "f", "G"],
        ["logneg", "identity", "log"],
        np.array([np.log(6.0), f, 0.0]),
        np.diag([0.01, sd_f**2, 0.25]),
    )
    values = [["iaf", c, "", float(v), float(se_iaf)] for c, v in zip(CH, iaf)]
    own = {"a": [np.log(6.0), 0.1], "f": [f, sd_f], "G": [0.0, 0.5]}
    return TwinState(k, f"0{k + 1}", at, post, {"values": values, "own": own, "n_blocks": 10})


def _patient(rng, shift=0.0, tau=0.1, sd=0.1, n=2):
    """Sessions of a patient whose alpha varies by ``tau`` between sessions and is measured with ``sd``."""
    true = 10.0 + rng.normal(0, 1.0)
    states = []
    for k in range(n):
        level = true + rng.normal(0, tau) + (shift if k == n - 1 else 0.0)
        common = rng.normal(0, tau)  # the channels' IAFs move together with the session
        iaf = level + common + rng.normal(0, sd, len(CH))
        states.append(_state(k, 90.0 * k, level + rng.normal(0, sd), sd, iaf, sd))
    twin = Twin("p")
    twin.states_ = states
    return twin


def test_false_alarms_are_controlled_and_large_changes_found():
    rng = np.random.default_rng(0)
    study = Variability(
        {"f": 0.1, "iaf": np.sqrt(2) * 0.1, "a": 0.0, "G": 0.0}, {k: 1e3 for k in ("f", "iaf", "a", "G")}
    ).to_dict()
    alarms = []
    for _ in range(300):
        twin = _patient(rng)
        twin.variability = study
        alarms.append(bool(twin.changes()["flagged"].any()))
    rate = np.mean(alarms)
    assert rate <= 0.09, rate  # 5 % expected (sd of the estimate over 300: 1.3 %)
    found = []
    for _ in range(50):
        twin = _patient(rng, shift=-1.0)
        twin.variability = study
        table = twin.changes()
        found.append(bool(table.query("flagged and name == 'f'").shape[0]))
        assert set(table.query("flagged")["name"]) <= {"f", "iaf"}
    assert np.mean(found) >= 0.9


def test_the_change_table_says_how_it_decided():
    rng = np.random.default_rng(1)
    twin = _patient(rng, shift=-2.0)
    table = changes(twin)
    assert table["n_families"].iloc[0] == 4  # a, f, G and the channels' IAF (no mean-spectrum IAF here)
    assert (table["q_value"] >= table["p_value"] - 1e-12).all()
    assert (table["flagged"] == (table["q_value"] <= 0.05)).all()
    f = table.set_index("name").loc["f"]
    assert f["sd_source"] == "default (literature)" and f["between_sd"] == 0.3
    assert f["p_meaningful"] > 0.5  # a 2-Hz drop is beyond the 0.5-Hz meaningful size
    with pytest.raises(ConfigError, match="fdr"):
        changes(twin, fdr=1.5)


def test_between_session_sd_is_estimated_from_repeated_sessions():
    rng = np.random.default_rng(2)
    twins = [_patient(rng, tau=0.2, sd=0.05, n=3) for _ in range(150)]
    var = population_variability(twins)
    assert abs(var.sd["f"] - 0.2) < 0.04  # the measurement part (sd 0.05) is subtracted
    assert var.dof["f"] == 300 and "study" in var.source["f"]
    # one patient's own history, once it has 3 sessions before the tested one, is pooled in
    twin = _patient(rng, tau=0.2, sd=0.05, n=5)
    own = variability_of(twin, before=4)
    assert "own history" in own.source["f"] and own.sd["f"] != 0.3
    assert variability_of(twin, before=2).source["f"] == "default (literature)"
    # estimate_variability subtracts the SEs and never goes negative
    tiny = estimate_variability({"x": [(np.array([1.0, 1.01]), np.array([1.0, 1.0]))]})
    assert tiny.sd["x"] == 0.0


def test_features_alone_get_a_change_table():
    from neurotwin.features import FeatureSet

    a = FeatureSet.from_rows(
        [{"feature": "iaf", "location": c, "value": 10.0, "se": 0.2} for c in CH], session="01"
    )
    b = FeatureSet.from_rows(
        [{"feature": "iaf", "location": c, "value": 10.05, "se": 0.2} for c in CH]
        + [{"feature": "iaf", "location": "extra", "value": 7.0, "se": 0.1}],
        session="02",
    )
    table = feature_changes([a, b], at=[0, 30])
    assert len(table) == len(CH) and not table["flagged"].any()
    assert set(table["session"]) == {"02"} and (table["at"] == 30).all()
    no_se = FeatureSet.from_rows([{"feature": "iaf", "location": c, "value": 8.0} for c in CH])
    assert feature_changes([a, no_se]).empty  # values without a measured SE are not tested


@pytest.mark.slow
def test_sandwich_widens_the_posterior_only_for_a_non_stationary_recording(make_session, small_connectome):
    steady = Twin("01", connectome=small_connectome).fit(make_session(seed=4, blocks=10))
    wobbly = Twin("01", connectome=small_connectome).fit(make_session(seed=4, blocks=10, jitter=0.3))
    k_steady = steady.states_[0].diagnostics["sd_inflation"]
    k_wobbly = wobbly.states_[0].diagnostics["sd_inflation"]
    assert k_steady["f"] < 1.6 and k_steady["gain"] < 1.6
    assert k_wobbly["gain"] > 2.0  # the level moves between blocks: its sd widens
    assert "sandwich over 10 blocks" in wobbly.states_[0].diagnostics["posterior"]
    plain = Twin("01", connectome=small_connectome).fit(make_session(seed=4))
    assert plain.states_[0].diagnostics["posterior"] == "laplace"


@pytest.mark.slow
def test_an_update_keeps_the_sessions_own_evidence(make_session, small_connectome):
    first, second = make_session(f=10.0, seed=5), make_session(f=9.0, seed=6, session="02")
    twin = Twin("01", connectome=small_connectome).fit(first).update(second, at=30.0)
    alone = Twin("01", connectome=small_connectome).fit(second)
    own_f, own_sd, *_ = twin.states_[1].features["own"]["f"]
    post = twin.states_[1].posterior
    filtered = post.mean[post.names.index("f")]
    solo = alone.states_[0].posterior
    solo_f, solo_sd = solo.mean[solo.names.index("f")], solo.sd[solo.names.index("f")]
    # the filtered state is pulled towards the first session; its own evidence is not
    assert abs(own_f - solo_f) < 0.5 * abs(filtered - solo_f) + 0.05
    assert 0.6 < own_sd / solo_sd < 1.6


def test_a_few_imprecise_sessions_do_not_hide_the_between_session_sd():
    from neurotwin.twin.variability import paule_mandel

    rng = np.random.default_rng(7)
    ses = np.where(rng.uniform(size=(300, 3)) < 0.05, 1.5, 0.05)  # 5 % of sessions barely see the rhythm
    people = [(10 + rng.normal(0, 1) + rng.normal(0, 0.1, 3) + rng.normal(0, s), s) for s in ses]
    var = estimate_variability({"iaf": people})
    assert var.sd["iaf"] == pytest.approx(0.1, rel=0.2)
    d = np.concatenate([np.diff(v) for v, _ in people])
    m = np.concatenate([s[1:] ** 2 + s[:-1] ** 2 for _, s in people])
    assert (d**2 - m).sum() < 0  # the moment estimator would have said 0
    assert paule_mandel(np.c_[d, m]) == pytest.approx(var.sd["iaf"] ** 2)
    assert paule_mandel(np.c_[0.1 * d, m + 1]) == 0.0  # differences within their SEs: no variability
    # no SE measured (BOLD's mean FC, a twin parameter without one): the differences alone
    assert paule_mandel(np.c_[d, 0 * m]) == pytest.approx(np.mean(d**2) / 2)


def test_a_forecast_expects_a_typical_session_not_the_last_one():
    rng = np.random.default_rng(4)
    study = Variability({"f": 0.05}, {"f": 1e3}).to_dict()
    hits = []
    for _ in range(300):
        sds = rng.choice([0.05, 0.4], size=4)  # recordings of varying precision
        level = 10.0 + rng.normal(0, 1)
        states = [
            _state(k, 90.0 * k, level + rng.normal(0, 0.05) + rng.normal(0, sds[k]), sds[k], [10.0], 0.1)
            for k in range(4)
        ]
        past = Twin("p", variability=study)
        past.states_ = states[:3]
        fc = past.forecast(270.0).set_index("name")
        hits.append(fc.loc["f", "low"] <= states[3].features["own"]["f"][0] <= fc.loc["f", "high"])
    assert 0.85 <= np.mean(hits) <= 0.97, np.mean(hits)  # with the last session's SE alone: 0.82


def test_forecast_intervals_cover_the_next_measurement():
    rng = np.random.default_rng(3)
    study = Variability({"f": 0.1}, {"f": 1e3}).to_dict()
    hits = []
    for _ in range(200):
        twin = _patient(rng, n=4)
        twin.variability = study
        past = Twin("p", variability=study)
        past.states_ = twin.states_[:3]
        fc = past.forecast(270.0).set_index("name")
        hits.append(fc.loc["f", "low"] <= twin.states_[3].features["own"]["f"][0] <= fc.loc["f", "high"])
    assert 0.83 <= np.mean(hits) <= 0.97, np.mean(hits)


@pytest.mark.slow
def test_two_frontal_channels_get_features_ses_and_a_change_table(small_connectome):
    import mne

    from neurotwin.datasets import make_resting_eeg
    from neurotwin.errors import NoPositionsError
    from neurotwin.features import compute_features

    sessions = []
    for seed in (0, 1):
        raw = make_resting_eeg(duration=60, alpha_freq=10.0, random_state=seed).pick(["Fp1", "Fp2"])
        raw.filter(1.0, 45.0, verbose="error")
        epochs = mne.make_fixed_length_epochs(raw, duration=2.0, preload=True, verbose="error")
        sessions.append(compute_features(epochs, subject="x", session=f"0{seed + 1}"))
    ok = sessions[0].table.query("status == 'ok' and feature in ['iaf', 'aperiodic_exponent']")
    assert len(ok) and np.isfinite(ok["se"]).all()
    table = feature_changes(sessions)
    assert len(table) and table["n_tests"].iloc[0] == len(table)
    twin = Twin("x", connectome=small_connectome).fit(sessions[0]).update(sessions[1], at=7.0)
    assert len(twin.changes()) > 0  # standard names: the template head places them
    bipolar = sessions[0]
    # channels the twin cannot place: a clear error naming them, not a foreign traceback
    from neurotwin.features import FeatureArray, FeatureSet

    psd = bipolar.arrays["psd"]
    odd = FeatureSet(
        bipolar.table,
        {
            "psd": FeatureArray(
                psd.values,
                psd.dims,
                {"channel": ["EEG Fpz-Cz", "EEG Pz-Oz"], "freq": psd.coords["freq"]},
                psd.unit,
            )
        },
        bipolar.provenance,
    )
    with pytest.raises(NoPositionsError, match="EEG Fpz-Cz"):
        Twin("y", connectome=small_connectome).fit(odd)


def _pairs_study(rng, n_people: int, draw) -> dict:
    """``variability_sums`` of people with 3 sessions each, their session differences drawn by ``draw``."""
    from neurotwin.twin.variability import add_sums, variability_sums

    parts = []
    for _ in range(n_people):
        values = np.cumsum(np.concatenate([[10.0], draw(rng, 2)]))
        parts.append(variability_sums({"iaf": [(values, np.full(3, 0.05))]}))
    return add_sums(parts)


def test_heavy_tailed_session_differences_get_student_t_tests():
    """People who vary unequally give heavy-tailed differences: tests on the normal law alarm too often
    there, tests with the study's fitted tails as often as they say; light tails stay normal."""
    from neurotwin.twin.variability import from_sums

    rng = np.random.default_rng(3)
    heavy = from_sums(_pairs_study(rng, 300, lambda r, k: 0.2 * r.standard_t(3, k)))
    light = from_sums(_pairs_study(rng, 300, lambda r, k: r.normal(0, 0.2, k)))
    assert "iaf" in heavy.tail and 2 < heavy.tail["iaf"][0] < 6
    assert "iaf" not in light.tail  # no evidence of heavier tails: the normal law
    # new people of the heavy-tailed kind: how often is a no-change difference called at p < 0.01?
    diffs = 0.2 * rng.standard_t(3, 20000)
    sd = np.sqrt(2 * 0.05**2 + 2 * heavy.sd["iaf"] ** 2)
    with_tails = np.mean([heavy.p_value("iaf", d / sd, np.inf) < 0.01 for d in diffs])
    normal = Variability(heavy.sd, heavy.dof, heavy.source)  # the same SD, no tail shape
    without = np.mean([normal.p_value("iaf", d / sd, np.inf) < 0.01 for d in diffs])
    assert 0.005 < with_tails < 0.02 and without > 2 * with_tails


def test_study_sums_kept_without_their_pairs_still_give_the_sd():
    """A store written before the pairs were kept (4 sums a measure) gives the same SD and no tails
    (its moment estimator and the pairs' Paule-Mandel agree when every session has the same SE)."""
    from neurotwin.twin.variability import from_sums

    rng = np.random.default_rng(0)
    sums = _pairs_study(rng, 50, lambda r, k: r.normal(0, 0.2, k))
    old = {k: v[:4] for k, v in sums.items()}
    assert from_sums(old).sd["iaf"] == pytest.approx(from_sums(sums).sd["iaf"], rel=1e-6)
    assert from_sums(old).tail == {}
    again = Variability.from_dict(from_sums(sums).to_dict())
    assert again.tail == from_sums(sums).tail


@pytest.mark.parametrize("dof", [1.5, 3.0, 8.0])
def test_centred_t_fit_finds_scipys_maximum(dof):
    """The dedicated fit of the tails reaches the likelihood maximum of SciPy's generic ``t.fit``
    (with the degrees of freedom held at the minimum where the free fit goes below it)."""
    from scipy.stats import t as student

    from neurotwin.twin.variability import MIN_TAIL_DOF, _centred_t

    z = 0.7 * np.random.default_rng(int(dof * 10)).standard_t(dof, 600)
    got = _centred_t(z)
    both = np.concatenate([z, -z])
    ref = student.fit(both, floc=0)
    if ref[0] < MIN_TAIL_DOF:
        ref = student.fit(both, f0=MIN_TAIL_DOF, floc=0)
    ll = [np.sum(student.logpdf(z, d, scale=s)) for d, s in (got, (ref[0], ref[2]))]
    assert ll[0] >= ll[1] - 1e-3
    assert (
        got[0] >= MIN_TAIL_DOF
        and np.isclose(got[0], ref[0], rtol=0.02)
        and np.isclose(got[1], ref[2], rtol=0.01)
    )
