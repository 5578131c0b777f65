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
    assert top_occ[0] in "OP" and top_front[0] == "F"


def test_projection_and_channel_matching(tvb_leadfield):
    lf, _, _ = tvb_leadfield
    sub = lf.pick(["O2", "Fz", "Cz"])
    eeg = sub.project(np.random.default_rng(0).normal(size=(2, 100, 76)))
    assert eeg.shape == (2, 100, 3)
    np.testing.assert_allclose(
        eeg[0, :, 1],
        (np.random.default_rng(0).normal(size=(2, 100, 76)) @ lf.gain.T)[0, :, lf.ch_names.index("Fz")],
    )
    with pytest.raises(DataError, match="not in the lead field"):
        lf.pick(["Oz", "O9"])
    with pytest.raises(DataError, match="regions"):
        lf.project(np.zeros((10, 5)))


def test_leadfield_needs_positions():
    info = mne.create_info(["A", "B", "C"], 100.0, "eeg")
    with pytest.raises(DataError, match="montage"):
        sphere_leadfield(info, np.zeros((2, 3)))


def test_template_centres_are_in_ras(shared_data):
    # TVB's frame is x anterior, y left: the template is turned into RAS (x right, y anterior)
    con = template_connectome("tvb76", tvb_data=shared_data / "tvb-data-3.0.0/tvb_data")
    c = dict(zip(con.labels, con.centres))
    assert c["rV1"][1] < -40 and c["rPFCPOL"][1] > 40  # occipital behind, frontal pole in front
    assert c["rA1"][0] > 30 and c["lA1"][0] < -30  # right auditory cortex on the right
    assert c["rM1"][2] > 20  # motor cortex on top


def test_cortical_leadfield_projects_regions_where_anatomy_says(shared_data, tvb_leadfield):
    from neurotwin.model import cortical_leadfield, template_cortex

    _, con, raw = tvb_leadfield
    cortex = template_cortex(shared_data / "tvb-data-3.0.0/tvb_data")
    assert len(cortex.vertices) == 16384 and cortex.vertex_areas().sum() > 1e5  # mm² of one cortex
    lf = cortical_leadfield(raw.info, cortex, con.labels)
    gain = lf.gain - lf.gain.mean(axis=0)  # average reference
    top = {
        lab: lf.ch_names[int(np.argmax(np.abs(gain[:, con.labels.index(lab)])))]
        for lab in ("rPFCPOL", "lPFCPOL", "rM1", "lM1")
    }
    assert top["rPFCPOL"] == "Fp2" and top["lPFCPOL"] == "Fp1"
    assert top["rM1"] in ("C4", "Cz", "F4", "P4") and top["lM1"] in ("C3", "Cz", "F3", "P3")
    # a deep region without cortical vertices would have no gain; every TVB-76 region has some
    assert (np.abs(lf.gain).sum(axis=0) > 0).all()


def test_few_channels_get_the_template_head(shared_data):
    from neurotwin.io import standard_montage

    con = template_connectome("tvb76", tvb_data=shared_data / "tvb-data-3.0.0/tvb_data")
    info = mne.create_info(["Fp1", "Fp2"], 250.0, "eeg")
    info.set_montage(standard_montage(), verbose="error")
    lf = sphere_leadfield(info, con.centres, con.labels)  # MNE alone cannot fit a head to 2 points
    assert lf.gain.shape == (2, 76) and np.isfinite(lf.gain).all()
