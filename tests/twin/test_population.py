"""The population prior: its moments, what it does to a first fit, its round trip and bad input."""

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


def _connectome(seed: int, keep: float = 0.6) -> Connectome:
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.2, 1, (N, N)) * (rng.uniform(size=(N, N)) < keep)
    w = np.triu(w, 1) + np.triu(w, 1).T
    return Connectome(w, labels=LABELS)


def _session(con: Connectome, a: float, g: float, seed: int, n_times: int = 400):
    """A finite recording's FC of the linear Hopf network (not the exact FC: sampling noise)."""
    w = con.weights / con.weights.max()
    jac = np.diag(a - g * w.sum(axis=1) + 2j * np.pi * PEAKS) + g * w
    cov = solve_continuous_lyapunov(jac, -2 * np.eye(N).astype(complex)).real / 2
    x = np.random.default_rng(seed).multivariate_normal(np.zeros(N), cov, size=n_times)
    summary = {"fc": np.corrcoef(x.T), "t_eff": float(n_times), "peak_freqs": PEAKS}
    return bold_featureset(summary, LABELS, subject="x", session="01")


@pytest.fixture(scope="module")
def group():
    """Four people, each with their own connectome, damping and coupling, fitted with the template."""
    twins = []
    for k, (a, g) in enumerate([(-0.04, 0.02), (-0.06, 0.03), (-0.05, 0.015), (-0.08, 0.04)]):
        twin = Twin(f"0{k}", modality="bold", connectome=_connectome(k))
        twins.append(twin.fit(_session(twin.connectome, a, g, seed=10 + k)))
    return twins


def test_moments_are_the_law_of_total_variance_and_modifiers_are_per_connection(group):
    pop = PopulationPrior.from_twins(group)
    posts = [t.states_[0].posterior for t in group]
    means = np.array([p.mean for p in posts])
    within = np.mean([np.diag(p.cov) for p in posts], axis=0)
    np.testing.assert_allclose(pop.mean, means.mean(axis=0))
    np.testing.assert_allclose(pop.sd**2, means.var(axis=0, ddof=1) + within)
    assert pop.n_people == 4 and pop.names == posts[0].names and pop.regions == LABELS
    # a connection's mean is over the people who have it; nobody's is 0
    masks = [t.connectome.weights > 0 for t in group]
    values = []
    for t, m in zip(group, masks):
        v = np.full((N, N), np.nan)
        v[m] = t.states_[0].posterior.extra["theta_extra"]
        values.append(v)
    values = np.array(values)
    count = np.sum(masks, axis=0)
    expected = np.where(count > 0, np.nansum(values, axis=0) / np.maximum(count, 1), 0.0)
    np.testing.assert_allclose(pop.extra_mean, expected, atol=1e-12)
    assert (count == 1).any() and (count == 0).any()  # the fixture has both cases
    assert pop.extra_sd > 0


def test_a_narrow_population_prior_pulls_the_first_fit_to_it(group):
    template = group[0].states_[0].posterior
    i_g = template.names.index("G")
    target = np.array(template.mean, float)
    target[i_g] += 1.0  # e-fold the coupling the data alone give
    narrow = PopulationPrior(
        "bold",
        None,
        list(template.names),
        target,
        np.full(len(target), 0.01),
        5,
        LABELS,
        np.full((N, N), 0.5),
        0.01,
    )
    con = _connectome(0)
    data = _session(con, -0.04, 0.02, seed=10)
    twin = Twin("09", modality="bold", connectome=con, population=narrow).fit(data)
    state = twin.states_[0]
    assert state.posterior.mean[i_g] == pytest.approx(target[i_g], abs=0.05)
    assert abs(group[0].states_[0].posterior.mean[i_g] - target[i_g]) > 0.5  # the template fit is elsewhere
    np.testing.assert_allclose(state.posterior.extra["theta_extra"], 0.5, atol=0.1)
    assert state.provenance["prior"] == "population of 5"
    # a population prior that is the template gives the template's fit
    obj = group[0]._objective(data)[0]
    pr = obj.prior
    zero = np.zeros((N, N))
    same = PopulationPrior("bold", None, list(pr.names), pr.mean, pr.sd, 5, LABELS, zero, obj.edge_sd)
    again = Twin("09", modality="bold", connectome=con, population=same).fit(data).states_[0].posterior
    np.testing.assert_allclose(again.mean, template.mean, atol=1e-6)


def test_a_population_twin_round_trips_through_the_store(group, tmp_path):
    pop = PopulationPrior.from_twins(group[:3])
    twin = Twin("04", modality="bold", connectome=group[3].connectome, population=pop)
    twin.fit(_session(twin.connectome, -0.08, 0.04, seed=13))
    store = TwinStore(tmp_path / "twins.sqlite", secret="k")
    store.save(twin)
    back = store.load("04")
    assert back.population == pop.to_dict()
    assert back.states_[0].provenance["prior"] == "population of 3"
    np.testing.assert_array_equal(back.states_[0].posterior.mean, twin.states_[0].posterior.mean)


def test_bad_groups_and_priors_are_refused(group):
    with pytest.raises(ConfigError, match="at least 3 fitted twins"):
        PopulationPrior.from_twins(group[:2])
    with pytest.raises(ConfigError, match="has no fitted state"):
        PopulationPrior.from_twins([*group[:3], Twin("05", modality="bold", connectome=_connectome(5))])
    pop = PopulationPrior.from_twins(group[:3])
    with pytest.raises(ConfigError, match="fitted with a population prior"):
        shrunk = Twin("06", modality="bold", connectome=group[3].connectome, population=pop)
        PopulationPrior.from_twins([*group[:2], shrunk.fit(_session(shrunk.connectome, -0.05, 0.02, seed=3))])
    with pytest.raises(ConfigError, match="population prior is of bold twins"):
        Twin("07", modality="eeg", population=pop)
    with pytest.raises(ConfigError, match="not a population prior"):
        Twin("07", modality="bold", population={"modality": "bold"})
    with pytest.raises(ConfigError, match="positive sd"):
        PopulationPrior.from_dict({**pop.to_dict(), "sd": [0.0] * len(pop.names)})
    other = Connectome(np.ones((3, 3)) - np.eye(3), labels=list("ABC"))
    small = bold_featureset(
        {"fc": np.eye(3) * 0.5 + 0.5, "t_eff": 100.0, "peak_freqs": [0.04] * 3}, list("ABC")
    )
    with pytest.raises(DataError, match="other parameters"):
        Twin("08", modality="bold", connectome=other, population=pop).fit(small)
