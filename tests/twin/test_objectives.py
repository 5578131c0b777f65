"""Every registered twin objective passes its contract (neurotwin.testing.check_objective)."""

from __future__ import annotations

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
    if modality in ("meg", "meg+bold"):  # 24 of the sample person's sensors on TVB's template cortex
        con = request.getfixturevalue("tvb76")
        meg = request.getfixturevalue("few_meg")
        return (meg if modality == "meg" else concat([meg, _bold(con.labels)])), con
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
