"""The MEG twin: sensor geometry in the features, MNE's MEG forward model, per-type units, clear refusals.

Fixtures (the sample person's MEG, TVB's template): ``tests/twin/conftest.py``.
"""

from __future__ import annotations

import mne
import numpy as np
import pytest

from neurotwin.errors import ConfigError, DataError, NoPositionsError
from neurotwin.features import compute_features, read_featureset
from neurotwin.features.sensors import meg_info, sensor_arrays
from neurotwin.twin import Twin
from neurotwin.twin.objectives import MegSpectrumObjective

KIT = "mne-python/mne/io/kit/tests/data/test.sqd"


def test_meg_geometry_is_stored_without_head_points(sample_raw, tmp_path):
    arrays = sensor_arrays(sample_raw.info, sample_raw.ch_names)
    meg = mne.pick_types(sample_raw.info, meg=True)
    assert arrays["meg_sensors"].shape == (len(meg), 13)
    # the rebuilt Info has the original sensors' types and transform (and forward model: below)
    info = meg_info(
        arrays["meg_sensors"].values, arrays["meg_sensors"].coords["channel"], arrays["dev_head_t"].values
    )
    assert info.get_channel_types() == sample_raw.info.get_channel_types(picks=meg)
    assert np.allclose(info["dev_head_t"]["trans"], sample_raw.info["dev_head_t"]["trans"])
    # a sphere fitted to the head points (MNE's), but no head point itself in the features
    radius, origin, _ = mne.bem.fit_sphere_to_headshape(sample_raw.info, dig_kinds=("extra",), units="m")
    assert np.allclose(arrays["head_sphere"].values, [*origin, radius])
    fs = compute_features(sample_raw, ["psd"], subject="sample", session="1")
    back = read_featureset(fs.save(tmp_path / "x_features.tsv"))
    assert back.arrays["meg_sensors"].coords["channel"] == list(np.array(sample_raw.ch_names)[meg])
    # the EEG positions are the EEG channels' only (MEG locations are in the device frame)
    assert set(back.arrays["channel_positions"].coords["channel"]) == set(
        np.array(sample_raw.ch_names)[mne.pick_types(sample_raw.info, eeg=True)]
    )
    assert not any("dig" in k or "hsp" in k for k in back.arrays)


def test_meg_and_eeg_twins_take_their_own_channels(few_meg, tvb76, sample_raw, shared_data):
    meg = MegSpectrumObjective.build(few_meg, tvb76, Twin("s", modality="meg", connectome=tvb76))
    eeg = Twin("s", modality="eeg", connectome=tvb76)
    from neurotwin.twin.objectives import SpectrumObjective

    eeg_obj = SpectrumObjective.build(few_meg, tvb76, eeg)
    assert len(meg.channels) == 24 and all(c.startswith("MEG") for c in meg.channels)
    assert len(eeg_obj.channels) == 4 and all(c.startswith("EEG") for c in eeg_obj.channels)
    # each sensor type in its own unit: gradiometers (T/m) and magnetometers (T) both near 1 inside
    types = np.array(["grad" if c[-1] in "23" else "mag" for c in meg.channels])
    for kind in ("grad", "mag"):
        level = np.median(meg.psd[types == kind])
        assert 0.2 < level < 5, (kind, level)
    # ...and the observed PSD handed back in the recording's units
    from neurotwin.twin.objectives.eeg_inputs import bin_psd

    psd = few_meg.arrays["psd"]
    rows = [list(psd.coords["channel"]).index(c) for c in meg.channels]
    _, binned, _ = bin_psd(psd.coords["freq"], np.asarray(psd.values)[rows])
    assert np.allclose(meg.observed().values, binned)
    # the lead field from the stored geometry is MNE's from the recording's own Info
    from neurotwin.model.leadfield import cortical_leadfield, template_cortex

    cortex = template_cortex(shared_data / "tvb-data-3.0.0" / "tvb_data")
    own = mne.pick_info(sample_raw.info, [sample_raw.ch_names.index(c) for c in meg.channels])
    sphere = few_meg.arrays["head_sphere"].values
    direct = cortical_leadfield(own, cortex, tvb76.labels, sphere=sphere).gain
    assert np.allclose(meg.lf * meg.channel_scale[:, None], direct, rtol=1e-6, atol=0)
    # MEG sees the cortex's tangential sources: no sensor is blind, and the lead field is unreferenced
    assert (np.abs(meg.lf).sum(axis=1) > 0).all()
    assert not np.allclose(meg.lf.mean(axis=0), 0)


def test_meg_twin_fits_its_own_spectrum(few_meg, tvb76):
    """A synthetic session drawn from the MEG model at a known alpha frequency is fitted back."""
    from neurotwin.model.connectome import normalize_weights

    twin = Twin("s", modality="meg", connectome=tvb76)
    obj = MegSpectrumObjective.build(few_meg, normalize_weights(tvb76, "max"), twin)  # as the twin sees it
    theta = np.array(obj.prior.mean, float)
    theta[1] = 9.0  # alpha frequency (Hz)
    model = obj.predict(theta)
    rng = np.random.default_rng(0)
    noisy = model.values * rng.gamma(60, 1 / 60, model.shape)
    from neurotwin.features import FeatureArray, FeatureSet

    arrays = {k: v for k, v in few_meg.arrays.items() if k != "psd"}
    arrays["psd"] = FeatureArray(noisy, ("channel", "freq"), model.coords, unit="T^2/Hz")
    provenance = {**few_meg.provenance, "psd": {**few_meg.provenance["psd"], "n_averages": 60}}
    fs = FeatureSet(few_meg.table.iloc[:0], arrays, provenance)
    twin.fit(fs)
    post = twin.states_[0].posterior
    f = post.mean[post.names.index("f")]
    assert abs(f - 9.0) < 3 * post.sd[post.names.index("f")] + 0.2
    assert twin.states_[0].diagnostics["r_log_psd"] > 0.9
    assert twin.states_[0].features["head"].startswith("tvb cortex")


def test_meg_needs_the_head_position(shared_data, tvb76):
    kit = mne.io.read_raw_kit(shared_data / KIT, verbose="error").load_data()
    fs = compute_features(kit, ["psd"], subject="kit", session="1")
    with pytest.raises(NoPositionsError, match="where the head sits in the MEG helmet is unknown"):
        Twin("kit", modality="meg", connectome=tvb76).fit(fs)


def test_meg_refusals(few_meg, tvb76, small_connectome):
    eeg_only = type(few_meg)(few_meg.table, {"psd": few_meg.arrays["psd"]}, few_meg.provenance)
    with pytest.raises(DataError, match="no MEG channels"):
        Twin("s", modality="meg", connectome=tvb76).fit(eeg_only)
    with pytest.raises(ConfigError, match="MEG does not see radial dipoles"):
        Twin("s", modality="meg", connectome=small_connectome, head="centres").fit(few_meg)
    with pytest.raises(ConfigError, match="cortical surface"):
        Twin("s", modality="meg", connectome=small_connectome).fit(few_meg)


def test_a_later_session_keeps_the_first_sessions_units(few_meg, tvb76):
    """Each sensor type is scaled by its level in the *first* session: a later session twice as loud
    raises the twin's gain and aperiodic background, rather than being divided back to the first's
    level; and a state predicts another session at its own level, not at that session's."""
    from neurotwin.features import FeatureArray, FeatureSet
    from neurotwin.model.connectome import normalize_weights

    twin = Twin("s", modality="meg", connectome=tvb76)
    obj = MegSpectrumObjective.build(few_meg, normalize_weights(tvb76, "max"), twin)
    model = obj.predict(np.array(obj.prior.mean, float))
    rng = np.random.default_rng(0)

    def session(factor):
        noisy = factor * model.values * rng.gamma(60, 1 / 60, model.shape)
        arrays = {k: v for k, v in few_meg.arrays.items() if k != "psd"}
        arrays["psd"] = FeatureArray(noisy, ("channel", "freq"), model.coords, unit="T^2/Hz")
        provenance = {**few_meg.provenance, "psd": {**few_meg.provenance["psd"], "n_averages": 60}}
        return FeatureSet(few_meg.table.iloc[:0].copy(), arrays, provenance)

    twin.fit(session(1.0), session="1")
    twin.update(session(4.0), session="2", at=30.0)
    first, second = (s.params() for s in twin.states_)
    assert np.log(second["gain"] / first["gain"]) > 0.5 * np.log(2.0)  # amplitude x2: gain up ...
    assert np.log(second["background"] / first["background"]) > 0.5 * np.log(4.0)  # ... and power x4
    assert twin.states_[1].features["channel_scale"] == twin.states_[0].features["channel_scale"]
    # the first state predicts the loud session at the first session's level (a quarter of it)
    loud = session(4.0)
    observed = MegSpectrumObjective.build(loud, tvb76, twin).observed().values
    assert 0.15 < np.median(twin.predict(loud, state=0).values / observed) < 0.4


def test_meg_sees_dipoles_at_region_centres_along_their_orientations(few_meg):
    """A connectome with its regions' mean cortical normals (no cortex): MEG at the centres."""
    from neurotwin.datasets import make_connectome
    from neurotwin.model.connectome import normalize_weights

    con = make_connectome(20, orientations=True)
    twin = Twin("s", modality="meg", connectome=con)
    obj = MegSpectrumObjective.build(few_meg, normalize_weights(con, "max"), twin)
    assert obj.summary["head"] == "region centres (their orientations)"
    # every region reaches the sensors, unlike radial dipoles (the same centres, radial: next to nothing)
    gain = np.abs(obj.lf * obj.channel_scale[:, None])
    assert (gain.max(axis=0) > 0).all()
    from neurotwin.model import sphere_leadfield

    geo = few_meg.arrays["meg_sensors"]
    info = meg_info(geo.values, geo.coords["channel"], few_meg.arrays["dev_head_t"].values)
    sphere = few_meg.arrays["head_sphere"].values
    outward = con.centres - con.centres.mean(axis=0)  # radial from the sphere's origin, as placed
    radial = sphere_leadfield(info, con.centres, con.labels, outward, sphere=sphere).gain
    oriented = sphere_leadfield(info, con.centres, con.labels, con.orientations, sphere=sphere).gain
    assert np.abs(radial).max() < 1e-6 * np.abs(oriented).max()
