"""The population prior on FC: its variances, the shrinkage it gives a first fit, round trip, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import solve_continuous_lyapunov

from neurotwin.errors import ConfigError, DataError
from neurotwin.features.bold import bold_featureset
from neurotwin.io import Connectome
from neurotwin.twin import PopulationPrior, Twin, TwinStore

N = 6
LABELS = [f"r{i}" for i in range(N)]
PEAKS = np.linspace(0.03, 0.07, N)


def _fs(fc, t_eff, labels=LABELS, session="01"):
    summary = {"fc": fc, "t_eff": t_eff, "peak_freqs": np.full(len(labels), 0.05)}
    return bold_featureset(summary, labels, subject="x", session=session)


def _people(n_people, between, within, t_eff, seed=0, n=10):
    """FC on the Fisher-z scale: a mean, each person's offset, each session's offset and sampling noise."""
    rng = np.random.default_rng(seed)
    iu = np.triu_indices(n, 1)
    mean = rng.uniform(0.1, 0.5, len(iu[0]))
    labels = [f"r{i}" for i in range(n)]
    sampling = 1 / (t_eff - 3)
    out = {}
    for k in range(n_people):
        own = mean + np.sqrt(between) * rng.standard_normal(len(mean))
        sessions = []
        for s in range(2):
            z = own + np.sqrt(within + sampling) * rng.standard_normal(len(mean))
            fc = np.eye(n)
            fc[iu] = np.tanh(z)
            fc.T[iu] = np.tanh(z)
            sessions.append(_fs(fc, t_eff, labels, session=str(s)))
        out[f"{k:02d}"] = sessions
    return out


@pytest.mark.parametrize("t_eff", [1e6, 53.0])
def test_between_and_within_variances_are_recovered(t_eff):
    pop = PopulationPrior.from_features(_people(60, between=0.04, within=0.01, t_eff=t_eff))
    assert pop.between == pytest.approx(0.04, rel=0.2)
    assert pop.within == pytest.approx(0.01, rel=0.2)  # the sampling noise (0.02 at 53 samples) taken out
    assert pop.n_people == 60 and pop.n_sessions == 120
    assert np.allclose(np.diag(pop.fc_mean), 1) and np.allclose(pop.fc_mean, pop.fc_mean.T)


def test_shrinkage_weighs_the_session_by_its_reliability():
    pop = PopulationPrior(LABELS, np.eye(N), between=0.04, within=0.01, n_people=5, n_sessions=10)
    weights = [pop.weight(t) for t in (20.0, 50.0, 500.0, 1e6)]
    assert all(0 < w < 1 for w in weights) and np.all(np.diff(weights) > 0)  # more data, more weight
    assert weights[-1] == pytest.approx(0.04 / 0.05, rel=1e-4)  # session variance alone limits it
    fc = np.full((N, N), 0.5) + 0.5 * np.eye(N)
    target, t_fit, lam = pop.shrink(fc, 50.0, LABELS)
    np.testing.assert_allclose(target, lam * fc + (1 - lam) * np.eye(N))
    assert np.linalg.eigvalsh(target).min() > 0 and t_fit > 50.0  # the prior adds precision
    with pytest.raises(DataError, match="regions are not this session's"):
        pop.shrink(fc, 50.0, LABELS[::-1])


def _network_fc(w, a=-0.05, g=0.03):
    w = w / w.max()
    jac = np.diag(a - g * w.sum(axis=1) + 2j * np.pi * PEAKS) + g * w
    cov = solve_continuous_lyapunov(jac, -2 * np.eye(N).astype(complex)).real / 2
    d = 1 / np.sqrt(np.diag(cov))
    return cov * np.outer(d, d)


@pytest.fixture(scope="module")
def setting():
    rng = np.random.default_rng(3)
    w = rng.uniform(0.2, 1, (N, N)) * (rng.uniform(size=(N, N)) < 0.7)
    w = np.triu(w, 1) + np.triu(w, 1).T
    con = Connectome(w, labels=LABELS)
    own = _network_fc(w)
    other = _network_fc(np.roll(np.roll(w, 2, axis=0), 2, axis=1), a=-0.03, g=0.05)  # someone else
    return con, own, other


def test_a_first_fit_goes_where_the_reliabilities_say(setting):
    con, own, other = setting
    iu = np.triu_indices(N, 1)

    def fit(between):
        pop = PopulationPrior(LABELS, other, between=between, within=0.0, n_people=5, n_sessions=10)
        twin = Twin("01", modality="bold", connectome=con, population=pop).fit(_fs(own, 200.0))
        model = twin.predict().values
        return twin, np.corrcoef(model[iu], own[iu])[0, 1], np.corrcoef(model[iu], other[iu])[0, 1]

    sure, r_own, r_other = fit(1e-6)  # people are alike: the population's FC wins
    assert r_other > r_own and sure.states_[0].features["population"]["weight"] < 0.01
    loose, r_own, r_other = fit(10.0)  # people differ: the session's own FC wins
    assert r_own > 0.95 and r_own > r_other and loose.states_[0].features["population"]["weight"] > 0.99
    # what the twin is scored against stays the session's own FC
    assert sure.states_[0].diagnostics["fc_r"] == pytest.approx(sure.score(_fs(own, 200.0))["r"])


def test_the_prior_enters_the_first_fit_only_and_round_trips(setting, tmp_path):
    con, own, other = setting
    pop = PopulationPrior(LABELS, other, between=0.02, within=0.005, n_people=4, n_sessions=8)
    twin = Twin("01", modality="bold", connectome=con, population=pop).fit(_fs(own, 200.0))
    twin.update(_fs(own, 200.0, session="02"), at=30.0)
    assert "population" in twin.states_[0].features and "population" not in twin.states_[1].features
    store = TwinStore(tmp_path / "twins.sqlite", secret="k")
    store.save(twin)
    back = store.load("01")
    assert back.population == pop.to_dict()
    np.testing.assert_array_equal(back.states_[0].posterior.mean, twin.states_[0].posterior.mean)


def test_bad_populations_are_refused(setting):
    con, own, _ = setting
    people = _people(3, 0.04, 0.01, 100.0, n=N)
    with pytest.raises(ConfigError, match="at least 3 people"):
        PopulationPrior.from_features(dict(list(people.items())[:2]))
    odd = {**people, "09": [_fs(np.eye(3), 100.0, labels=list("ABC"))]}
    with pytest.raises(DataError, match="other regions"):
        PopulationPrior.from_features(odd)
    pop = PopulationPrior.from_features(people)
    with pytest.raises(ConfigError, match="has no bold part"):
        Twin("07", modality="eeg", population=pop)
    with pytest.raises(ConfigError, match="not a population prior"):
        Twin("07", modality="bold", population={"regions": LABELS})
    with pytest.raises(ConfigError, match="positive between-person"):
        PopulationPrior.from_dict({**pop.to_dict(), "between": 0.0})
    with pytest.raises(ConfigError, match="PopulationPrior or its dict"):
        Twin("07", modality="bold", population=[1, 2])
    other = Connectome(np.ones((3, 3)) - np.eye(3), labels=list("ABC"))
    with pytest.raises(DataError, match="regions are not this session's"):
        Twin("08", modality="bold", connectome=other, population=pop).fit(_fs(np.eye(3), 100.0, list("ABC")))


def test_with_a_population_prior_the_connections_follow_the_target_further(setting):
    from neurotwin.twin.objectives import BoldObjective

    con, own, other = setting
    pop = PopulationPrior(LABELS, other, between=0.02, within=0.005, n_people=4, n_sessions=8)
    alone, _ = Twin("01", modality="bold", connectome=con)._objective(_fs(own, 200.0))
    shrunk, summary = Twin("01", modality="bold", connectome=con, population=pop)._objective(_fs(own, 200.0))
    assert alone.edge_sd == BoldObjective.edge_sd
    assert shrunk.edge_sd == BoldObjective.population_edge_sd > BoldObjective.edge_sd
    assert summary["population"]["edge_sd"] == shrunk.edge_sd  # the state says which prior it had


def test_the_report_says_the_first_fit_had_a_population_prior(setting, tmp_path):
    from neurotwin.io.derivatives import STORE_NAME
    from neurotwin.report._methods import twin_text
    from neurotwin.report._twin import twin_section

    con, own, other = setting
    pop = PopulationPrior(LABELS, other, between=0.02, within=0.005, n_people=4, n_sessions=8)
    twin = Twin("01", modality="bold", connectome=con, population=pop).fit(_fs(own, 200.0))
    (tmp_path / STORE_NAME).parent.mkdir(parents=True, exist_ok=True)
    TwinStore(tmp_path / STORE_NAME).save(twin)
    info = twin_section(tmp_path, "01", [])["info"]
    assert info["population"]["n_people"] == 4
    assert "mean FC of 4 other people" in twin_text(info) and "[mejia2018]" in twin_text(info)
    alone = Twin("02", modality="bold", connectome=con).fit(_fs(own, 200.0))
    TwinStore(tmp_path / STORE_NAME).save(alone)
    assert "other people" not in twin_text(twin_section(tmp_path, "02", [])["info"])
