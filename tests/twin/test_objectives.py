"""Every registered twin objective passes its contract (neurotwin.testing.check_objective)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from neurotwin.errors import ConfigError
from neurotwin.testing import check_objective
from neurotwin.twin.objectives import LIKELIHOODS, OBJECTIVES, get_objective


def _bold(labels, seed=0):
    from neurotwin.features.bold import bold_featureset

    rng = np.random.default_rng(seed)
    n = len(labels)
    fc = np.corrcoef(rng.normal(size=(n, 300)))
    summary = {"fc": fc, "t_eff": 150.0, "peak_freqs": rng.uniform(0.02, 0.08, n)}
    return bold_featureset(summary, list(labels), subject="s", session="01")


def _objective_example(modality, make_session, small_connectome, request):
    from neurotwin.features import concat

    if modality == "eeg":
        return make_session(), small_connectome
    if modality == "eeg+bold":  # one session of both on the same network
        return concat([make_session(), _bold(small_connectome.labels)]), small_connectome
    if "meg" in modality.split("+"):  # 24 of the sample person's MEG sensors and 4 EEG, TVB's template
        con = request.getfixturevalue("tvb76")
        meg = request.getfixturevalue("few_meg")
        return (concat([meg, _bold(con.labels)]) if "bold" in modality else meg), con
    from neurotwin.io import Connectome

    rng = np.random.default_rng(0)
    labels = [f"r{i}" for i in range(6)]
    w = rng.uniform(0, 1, (6, 6)) * (rng.uniform(size=(6, 6)) < 0.6)
    w = np.triu(w, 1) + np.triu(w, 1).T
    return _bold(labels), Connectome(w, labels=labels)


@pytest.mark.parametrize("modality", sorted(OBJECTIVES))
def test_objective_contract(modality, make_session, small_connectome, request):
    features, connectome = _objective_example(modality, make_session, small_connectome, request)
    check_objective(get_objective(modality), features, connectome)


@pytest.mark.parametrize("modality, likelihood", sorted(LIKELIHOODS))
def test_other_likelihoods_pass_the_contract(modality, likelihood, make_session, small_connectome):
    features, connectome = make_session(csd=True), small_connectome
    check_objective(get_objective(modality, likelihood), features, connectome)


def test_unknown_modality_names_the_objectives():
    with pytest.raises(ConfigError, match="Did you mean 'eeg'"):
        get_objective("eegg")


def test_the_beta_rhythm_also_starts_at_the_prior_frequency(make_session, small_connectome):
    """The fit starts from the better of the data's beta start and the prior's 20 Hz (each with its
    observation model refined): a start at the band's top, as the data's was on two real recordings,
    gives way to a broad beta rhythm at 20 Hz; a strong narrow line at 34 Hz is kept."""
    from neurotwin.twin import Twin

    fs = make_session(seed=0)
    psd = fs.arrays["psd"]
    freqs = np.asarray(psd.coords["freq"], float)
    bump = np.array(psd.values, float) * (1.0 + 1.5 * 9.0 / ((freqs - 20.0) ** 2 + 9.0))
    line = bump.copy()
    line[:, np.abs(freqs - 34.0) < 0.6] *= 4.0
    for values, beta_f in ((bump, 20.0), (line, 34.0)):
        fs = dataclasses.replace(fs, arrays={**fs.arrays, "psd": dataclasses.replace(psd, values=values)})
        obj, _ = Twin("01", connectome=small_connectome)._objective(fs)
        k = obj.global_index("beta_f")
        obj.start[k] = 34.0  # the data's start at the band's top
        (start,) = obj.starts(obj.prior)
        assert abs(start[k] - beta_f) < 2.0
        alone = obj.refine_observation(obj.start, obj.prior)  # without the second start
        prior_start = obj.start.copy()
        prior_start[k] = 20.0
        other = obj.refine_observation(prior_start, obj.prior)
        best = min(obj._neg_log_posterior(x, obj.prior) for x in (alone, other))
        assert obj._neg_log_posterior(start, obj.prior) == best
