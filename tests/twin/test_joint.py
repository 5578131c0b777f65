"""One twin of EEG and BOLD: sessions of either or both, and the shared quantities between them."""

from __future__ import annotations

import numpy as np
import pytest

from neurotwin.errors import DataError
from neurotwin.features import FeatureSet, concat
from neurotwin.features.bold import bold_featureset
from neurotwin.twin import Twin
from neurotwin.twin.objectives import BoldObjective

#: the BOLD network of the 8-region test patient: damping, coupling, peak frequencies
BOLD_A = -np.linspace(0.04, 0.12, 8)
BOLD_F = np.linspace(0.03, 0.07, 8)


def bold_session(connectome, g: float, session: str = "01"):
    """Exact model FC of the BOLD network at coupling ``g`` (as if from a long recording)."""
    w = connectome.weights / connectome.weights.max()
    obj = BoldObjective(w, np.eye(8), 600.0, BOLD_F, connectome.labels, effective=False)
    theta = np.concatenate([np.log(-BOLD_A), [np.log(g)], np.zeros(8)])
    summary = {"fc": obj.model_fc(theta), "t_eff": 600.0, "peak_freqs": BOLD_F}
    return bold_featureset(summary, list(connectome.labels), subject="01", session=session)


@pytest.fixture(scope="module")
def joint_twin(make_session, small_connectome):
    first = concat([make_session(seed=1), bold_session(small_connectome, 0.1)])
    twin = Twin("01", modality="eeg+bold", connectome=small_connectome, effective_connectivity=False)
    return twin.fit(first)


def _copy(twin):
    import copy

    return copy.deepcopy(twin)


def test_first_session_fits_both_and_meets_the_shared_factor(joint_twin):
    state = joint_twin.states_[0]
    d = state.diagnostics
    assert d["modalities"] == ["eeg", "bold"]
    assert d["r_log_psd"] > 0.9 and d["fc_r"] > 0.9 and not d["poor_fit"]
    p = dict(zip(state.posterior.names, state.posterior.mean))
    # the offset is what separates the modalities' coupling (log G - log|a|), to within the share's sd
    gap = d["coupling"]["bold"] - d["coupling"]["spectrum"] - p["offset_coupling"]
    assert abs(gap) < 3 * type(joint_twin._fitted[0]).share_sd
    assert {"bold_G", "bold_a[R0]", "offset_damping[R0]", "a_offset[R0]"} <= set(state.posterior.names)
    assert state.features["modalities"] == ["eeg", "bold"] and "bold" in state.features["parts"]


def test_first_session_needs_every_modality(make_session, small_connectome):
    twin = Twin("01", modality="eeg+bold", connectome=small_connectome)
    with pytest.raises(DataError, match=r"needs features of every modality.*\['bold'\]"):
        twin.fit(make_session())


def test_a_bold_change_moves_the_eeg_coupling(joint_twin, small_connectome):
    """A BOLD-only session a year later that sees the coupling doubled moves the EEG twin's with it.

    (How far depends on the drift a year allows: the twin weighs a change against its process noise.)
    """
    same = _copy(joint_twin).update(bold_session(small_connectome, 0.1, "02"), session="02", at=365)
    rose = _copy(joint_twin).update(bold_session(small_connectome, 0.2, "02"), session="02", at=365)
    for twin in (same, rose):
        d = twin.states_[1].diagnostics
        assert d["modalities"] == ["bold"] and not d["poor_fit"] and "r_log_psd" not in d
    before = joint_twin.states_[0].diagnostics["coupling"]
    moved = {k: t.states_[1].diagnostics["coupling"] for k, t in (("same", same), ("rose", rose))}
    assert moved["rose"]["bold"] - before["bold"] > 0.5  # BOLD saw log 2 = 0.69
    assert abs(moved["same"]["spectrum"] - before["spectrum"]) < 0.05
    assert moved["rose"]["spectrum"] - before["spectrum"] > 0.3  # the EEG's coupling follows
    assert rose.states_[1].params()["G"] > 1.2 * same.states_[1].params()["G"]


def test_offsets_do_not_drift_and_an_eeg_session_fits_alone(joint_twin, make_session):
    twin = _copy(joint_twin).update(make_session(seed=2, session="02"), session="02", at=365)
    first, later = twin.states_
    assert later.diagnostics["modalities"] == ["eeg"] and not later.diagnostics["poor_fit"]
    i = first.posterior.names.index("offset_coupling")
    # a year of process noise widens the alpha frequency's prior, not the person's offset
    assert later.posterior.sd[i] <= first.posterior.sd[i] * 1.01
    assert abs(later.params()["f"] - first.params()["f"]) < 0.3
    assert set(twin.predict(make_session(seed=3, session="03"))) == {"eeg"}


def test_concat_keeps_each_modalitys_provenance(make_session, small_connectome):
    eeg, bold = make_session(), bold_session(small_connectome, 0.1)
    joined = concat([eeg, bold])
    assert joined.provenance["psd"] == eeg.provenance["psd"]
    clash = concat([eeg, FeatureSet(eeg.table, {}, {"psd": {"n_averages": 3}})])
    # two sets of one session with an array of the same name: refused, not one of them lost
    with pytest.raises(DataError, match="have an array 'psd'"):
        concat([eeg, make_session(seed=2)])
    assert "psd" not in clash.provenance  # the sets disagree: it is not kept
    # a BOLD set read from the pipeline's outputs records no PSD settings (None): the EEG's stand
    unrecorded = FeatureSet(bold.table, bold.arrays, {**(bold.provenance or {}), "psd": None})
    assert concat([eeg, unrecorded]).provenance["psd"] == eeg.provenance["psd"]


def test_a_joint_twin_survives_the_store(joint_twin, small_connectome, make_session, tmp_path):
    from neurotwin.twin import TwinStore

    twin = _copy(joint_twin).update(bold_session(small_connectome, 0.12, "02"), session="02", at=30)
    store = TwinStore(tmp_path / "twins.sqlite", secret="a test key")
    store.save(twin)
    back = store.load("01")
    assert back.modality == "eeg+bold" and len(back.states_) == 2
    assert back.states_[1].features["modalities"] == ["bold"]
    assert back.states_[0].posterior.label("offset_coupling")[0].startswith("coupling offset")
    np.testing.assert_allclose(back.theta(), twin.theta())
    # the loaded twin goes on: an EEG-only session is built from the stored layout of both parts
    back.update(make_session(seed=4, session="03"), session="03", at=60)
    assert back.states_[2].diagnostics["modalities"] == ["eeg"]
