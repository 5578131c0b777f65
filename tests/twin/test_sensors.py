"""One network seen by EEG and MEG (``eeg+meg``), and with BOLD too (``eeg+meg+bold``).

Sessions are drawn from the model itself through the sample person's own sensors (24 MEG, 16 EEG
of its 1-s recording), so what is fitted back is known.
"""

from __future__ import annotations

import copy

import mne
import numpy as np
import pytest

from neurotwin.errors import DataError
from neurotwin.features import FeatureArray, FeatureSet, compute_features, concat
from neurotwin.features.bold import bold_featureset
from neurotwin.model.connectome import normalize_weights
from neurotwin.twin import Twin
from neurotwin.twin.objectives import BoldObjective, EegMegObjective

F_TRUE = 9.0


@pytest.fixture(scope="module")
def eeg_meg(sample_raw):
    """Features of 24 MEG sensors (16 gradiometers, 8 magnetometers) and 16 EEG electrodes."""
    grads = mne.pick_types(sample_raw.info, meg="grad")[::12][:16]
    mags = mne.pick_types(sample_raw.info, meg="mag")[::12][:8]
    eeg = mne.pick_types(sample_raw.info, eeg=True)[::4][:16]
    raw = sample_raw.copy().pick([sample_raw.ch_names[i] for i in np.r_[grads, mags, eeg]])
    return compute_features(raw, ["psd"], subject="sample", session="1")


@pytest.fixture(scope="module")
def draw(eeg_meg, tvb76):
    """``draw(parts, seed)``: a session of those parts' channels drawn from the model at f = 9 Hz."""
    obj = EegMegObjective.build(eeg_meg, normalize_weights(tvb76, "max"), Twin("s", modality="eeg+meg"))
    theta = np.array(obj.prior.mean, float)
    theta[obj.prior.names.index("f")] = F_TRUE
    model = obj.predict(theta)

    def make(parts=("eeg", "meg"), seed=0):
        rng = np.random.default_rng(seed)
        values = [model[m].values * rng.gamma(60, 1 / 60, model[m].shape) for m in parts]
        chans = [c for m in parts for c in model[m].coords["channel"]]
        arrays = {k: v for k, v in eeg_meg.arrays.items() if k != "psd"}
        coords = {"channel": chans, "freq": model["eeg"].coords["freq"]}
        arrays["psd"] = FeatureArray(np.vstack(values), ("channel", "freq"), coords, unit="mixed")
        provenance = {**eeg_meg.provenance, "psd": {**eeg_meg.provenance["psd"], "n_averages": 60}}
        return FeatureSet(eeg_meg.table.iloc[:0], arrays, provenance)

    return make


@pytest.fixture(scope="module")
def fits(draw, tvb76):
    """The same session fitted by an EEG, an MEG and an EEG+MEG twin."""
    out = {}
    for modality, parts in (("eeg", ("eeg",)), ("meg", ("meg",)), ("eeg+meg", ("eeg", "meg"))):
        out[modality] = Twin("s", modality=modality, connectome=tvb76).fit(draw(parts))
    return out


def _post(twin, name, state=0):
    post = twin.states_[state].posterior
    i = post.names.index(name)
    return post.mean[i], post.sd[i]


def test_one_network_seen_by_both_is_fitted_back_more_surely(fits):
    both = fits["eeg+meg"]
    d = both.states_[0].diagnostics
    assert d["eeg_r_log_psd"] > 0.95 and d["meg_r_log_psd"] > 0.95 and not d["poor_fit"]
    f, sd = _post(both, "f")
    assert abs(f - F_TRUE) < 3 * sd + 0.1
    # the network is one: its parameters appear once; each kind of sensors has its own observation model
    names = both.states_[0].posterior.names
    assert names.count("f") == 1 and "meg_f" not in names and {"gain", "meg_gain"} <= set(names)
    # a second kind of sensors narrows the shared parameters' posterior
    for name in ("f", "a"):
        assert _post(both, name)[1] < min(_post(fits[m], name)[1] for m in ("eeg", "meg")), name
    assert both.states_[0].features["modalities"] == ["eeg", "meg"]
    assert set(both.states_[0].features["parts"]) == {"eeg", "meg"}


def test_a_later_session_may_have_either_kind(fits, draw):
    twin = copy.deepcopy(fits["eeg+meg"])
    twin.update(draw(("eeg",), seed=1), session="2", at=30.0)
    twin.update(draw(("meg",), seed=2), session="3", at=60.0)
    assert [s.features["modalities"] for s in twin.states_] == [["eeg", "meg"], ["eeg"], ["meg"]]
    # a session without MEG leaves the MEG observation model where it was (its prior: the last state)
    g0, sd0 = _post(twin, "meg_gain", 0)
    g1, _ = _post(twin, "meg_gain", 1)
    assert abs(g1 - g0) < 0.5 * sd0
    # ...and one with MEG only still informs the shared alpha frequency
    assert _post(twin, "f", 2)[1] < _post(twin, "f", 1)[1]
    pred = twin.predict(draw(("eeg", "meg"), seed=3))
    assert set(pred) == {"eeg", "meg"}


def test_the_first_session_needs_both(draw, tvb76):
    with pytest.raises(DataError, match="needs both.*no MEG channels"):
        Twin("s", modality="eeg+meg", connectome=tvb76).fit(draw(("eeg",)))


def test_a_stored_eeg_meg_twin_goes_on(fits, draw, tmp_path):
    from neurotwin.twin import TwinStore

    store = TwinStore(tmp_path / "twins.sqlite", secret="a test key")
    store.save(fits["eeg+meg"])
    back = store.load("s")
    assert back.modality == "eeg+meg"
    np.testing.assert_allclose(back.theta(), fits["eeg+meg"].theta())
    back.update(draw(("meg",), seed=4), session="2", at=30.0)
    assert back.states_[1].diagnostics["modalities"] == ["meg"]


@pytest.mark.slow
def test_eeg_meg_and_bold_in_one_twin(draw, tvb76):
    """A session of all three: one network for the sensors, BOLD tied to it by the shared quantities."""
    con = normalize_weights(tvb76, "max")
    n = len(con.labels)
    peaks = np.linspace(0.03, 0.07, n)
    obj = BoldObjective(con.weights, np.eye(n), 600.0, peaks, con.labels, effective=False)
    theta = np.concatenate([np.log(np.linspace(0.04, 0.12, n)), [np.log(0.1)], np.zeros(n)])
    summary = {"fc": obj.model_fc(theta), "t_eff": 600.0, "peak_freqs": peaks}
    bold = bold_featureset(summary, list(con.labels), subject="s", session="1")
    twin = Twin("s", modality="eeg+meg+bold", connectome=tvb76, effective_connectivity=False)
    twin.fit(concat([draw(("eeg", "meg")), bold]))
    d = twin.states_[0].diagnostics
    assert d["modalities"] == ["eeg", "meg", "bold"]
    assert d["eeg_r_log_psd"] > 0.95 and d["meg_r_log_psd"] > 0.95 and d["fc_r"] > 0.9
    names = twin.states_[0].posterior.names
    assert {"f", "meg_gain", "bold_G", "offset_coupling"} <= set(names)
    f, sd = _post(twin, "f")
    assert abs(f - F_TRUE) < 3 * sd + 0.1
    # a later session of one kind of sensors alone
    twin.update(draw(("meg",), seed=5), session="2", at=30.0)
    assert twin.states_[1].features["parts"]["eeg+meg"]["modalities"] == ["meg"]


def test_eeg_and_meg_recorded_apart_are_joined_by_tagging(draw, tvb76):
    """Two recordings of one session (an EEG and an MEG file) each with a PSD: the MEG's features are
    tagged ``meg:`` so ``concat`` keeps both, and the twin reads each part's own."""
    eeg, meg = draw(("eeg",)), draw(("meg",), seed=6)
    with pytest.raises(DataError, match="have an array"):  # (their psd, and here their sensors too)
        concat([eeg, meg])
    joined = concat([eeg, meg.tagged("meg")])
    assert EegMegObjective.parts_in(joined) == ("eeg", "meg")
    twin = Twin("s", modality="eeg+meg", connectome=tvb76).fit(joined)
    parts = twin.states_[0].features["parts"]
    assert parts["eeg"]["channels"] == list(eeg.arrays["psd"].coords["channel"])
    assert parts["meg"]["channels"] == list(meg.arrays["psd"].coords["channel"])
    assert abs(_post(twin, "f")[0] - F_TRUE) < 3 * _post(twin, "f")[1] + 0.1
