"""The EEG twin of the whole sensor cross-spectrum (complex-Wishart likelihood, ``likelihood="csd"``)."""

from __future__ import annotations

import numpy as np
import pytest

from neurotwin.errors import ConfigError, DataError
from neurotwin.twin import Twin, TwinStore
from neurotwin.twin.inference import from_unconstrained
from neurotwin.twin.objectives import CsdObjective

from .conftest import CHANNELS, TRUTH, theta_of


def _objective(small_connectome, csd=None, channels=CHANNELS[:6], average_reference=True):
    import mne

    from neurotwin.io import standard_montage
    from neurotwin.model import sphere_leadfield

    info = mne.create_info(list(channels), 250.0, "eeg")
    info.set_montage(standard_montage(), verbose="error")
    lf = sphere_leadfield(info, small_connectome.centres, small_connectome.labels)
    w = small_connectome.weights / small_connectome.weights.max()
    freqs = np.arange(1.0, 45.01, 0.5)
    if csd is None:
        csd = np.broadcast_to(np.eye(len(channels)) + 0.1, (len(freqs), len(channels), len(channels)))
    return CsdObjective(
        w,
        small_connectome.tract_lengths,
        lf.gain,
        freqs,
        csd,
        60,
        fmin=1.0,
        fmax=45.0,
        resolution=0.5,
        average_reference=average_reference,
    )


@pytest.mark.parametrize("average_reference", [False, True])
def test_the_information_is_the_hessian_where_the_data_are_the_model(small_connectome, average_reference):
    # at Ŝ = S the Hessian of the complex-Wishart NLL is its expected information: differences of
    # the exact gradient check every block of fisher() (network, gains, background, centring)
    base = _objective(small_connectome, average_reference=average_reference)
    theta = theta_of(base, TRUTH) + 0.05 * np.random.default_rng(1).standard_normal(base.n_params)
    model = base.model_csd(theta)
    if average_reference:  # the recording's rank: C - 1 (the model's projection on it is the data's)
        ref = np.eye(6) - 1.0 / 6
        model = ref @ model @ ref
    obj = _objective(small_connectome, model, average_reference=average_reference)
    assert obj.rank == (5 if average_reference else 6)
    # the spectrum at any frequencies is the prediction's on the grid (in the data's subspace)
    assert np.allclose(obj.spectrum(theta, obj.freqs), obj.model_psd(theta))
    info = obj.fisher(theta)
    hess = np.empty_like(info)
    for i in range(len(theta)):
        step = np.zeros(len(theta))
        step[i] = 1e-5
        hess[:, i] = (obj(theta + step)[1] - obj(theta - step)[1]) / 2e-5
    hess = (hess + hess.T) / 2
    sd = np.sqrt(np.abs(np.diag(hess))) + 1e-12
    assert np.abs((info - hess) / np.outer(sd, sd)).max() < 1e-5


def test_a_csd_twin_recovers_the_alpha_frequency_with_an_interval_that_covers_it(
    make_session, small_connectome
):
    truth = 10.6
    z = []  # the alpha frequency's error in posterior sds, over 5 simulated recordings
    for seed in (3, 4, 5, 6, 7):
        twin = Twin("01", likelihood="csd", connectome=small_connectome).fit(
            make_session(f=truth, csd=True, seed=seed), session="01"
        )
        post = twin.states_[0].posterior
        i = post.names.index("f")
        assert 2 * 2.576 * post.sd[i] < 1.0
        z.append((post.mean[i] - truth) / post.sd[i])
    # a 99 % interval covers the truth in at least 4 of 5, and none is off by more than 3.29 sds
    assert np.sum(np.abs(z) < 2.576) >= 4 and np.max(np.abs(z)) < 3.29, z
    state = twin.states_[0]
    assert state.provenance["objective"] == "CsdObjective"
    damping = float(from_unconstrained(post.mean[post.names.index("a")], "logneg"))
    assert -12.0 < damping < -3.0  # the truth is -6
    diag = state.diagnostics
    assert diag["r_log_psd"] > 0.9 and diag["r_coherence"] > 0.5
    assert diag["csd_rank"] == len(CHANNELS) - 1  # the average reference removed one direction
    assert "sandwich over 6 blocks" in diag["posterior"]


def test_the_likelihood_is_kept_by_the_store(make_session, small_connectome, tmp_path):
    twin = Twin("01", likelihood="csd", connectome=small_connectome).fit(make_session(csd=True), session="01")
    store = TwinStore(tmp_path / "twins.sqlite")
    store.save(twin)
    again = store.load("01")
    assert again.likelihood == "csd"
    again.update(make_session(csd=True, seed=1, session="02"), session="02", at=30.0)
    assert again.states_[1].provenance["objective"] == "CsdObjective"


def test_bad_likelihoods_and_features_without_a_csd_get_clear_errors(make_session, small_connectome):
    with pytest.raises(ConfigError, match=r"one of \['csd'\] for modality 'eeg'"):
        Twin("01", likelihood="cds")
    with pytest.raises(ConfigError, match=r"one of \[\] for modality 'bold'"):
        Twin("01", modality="bold", likelihood="csd")
    with pytest.raises(DataError, match="exactly one 'csd' array"):
        Twin("01", likelihood="csd", connectome=small_connectome).fit(make_session(), session="01")
