"""EEG lead field from region centres (MNE sphere model)."""

from __future__ import annotations

import mne
import numpy as np
import pytest

from neurotwin.errors import DataError
from neurotwin.io import read_raw
from neurotwin.model import sphere_leadfield, template_connectome


@pytest.fixture(scope="module")
def tvb_leadfield(shared_data):
    con = template_connectome("tvb76", tvb_data=shared_data / "tvb-data-3.0.0/tvb_data")
    raw = read_raw(shared_data / "physionet-eegmat/Subject00_1.edf", preload=False)
    return sphere_leadfield(raw.info, con.centres, con.labels), con, raw


def test_leadfield_of_a_patient_recording(tvb_leadfield):
    lf, con, raw = tvb_leadfield
    eeg = [raw.ch_names[i] for i in mne.pick_types(raw.info, eeg=True)]
    assert lf.gain.shape == (len(eeg), 76) and np.isfinite(lf.gain).all()
    # an occipital region projects most strongly to posterior electrodes, a frontal one to frontal
    occ = con.labels.index("rV1") if "rV1" in con.labels else int(np.argmin(con.centres[:, 1]))
    front = int(np.argmax(con.centres[:, 1]))
    top_occ = lf.ch_names[int(np.argmax(np.abs(lf.gain[:, occ])))]
    top_front = lf.ch_names[int(np.argmax(np.abs(lf.gain[:, front])))]
    assert top_occ[0] in "OPT" and top_front[0] == "F"


def test_projection_and_channel_matching(tvb_leadfield):
    lf, _, _ = tvb_leadfield
    sub = lf.pick(["O2", "Fz", "Cz"])
    eeg = sub.project(np.random.default_rng(0).normal(size=(2, 100, 76)))
    assert eeg.shape == (2, 100, 3)
    np.testing.assert_allclose(eeg[0, :, 1], (np.random.default_rng(0).normal(size=(2, 100, 76)) @
                                              lf.gain.T)[0, :, lf.ch_names.index("Fz")])
    with pytest.raises(DataError, match="not in the lead field"):
        lf.pick(["Oz", "O9"])
    with pytest.raises(DataError, match="regions"):
        lf.project(np.zeros((10, 5)))


def test_leadfield_needs_positions():
    info = mne.create_info(["A", "B", "C"], 100.0, "eeg")
    with pytest.raises(DataError, match="montage"):
        sphere_leadfield(info, np.zeros((2, 3)))
