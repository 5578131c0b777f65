"""The simulator's ground truth is what an analysis recovers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import welch

from neurotwin.datasets import SAMPLE_TRUTH, make_resting_eeg, make_sample_study
from neurotwin.errors import ConfigError
from neurotwin.io import discover_study, read_eeg


@pytest.mark.parametrize("alpha", [8.5, 10.0, 11.5])
def test_alpha_peak_recovered(alpha):
    raw = make_resting_eeg(duration=60, sfreq=256, alpha_freq=alpha, random_state=3)
    f, p = welch(raw.get_data(picks=["O1", "O2"]), fs=256, nperseg=1024)
    band = (f >= 6) & (f <= 14)
    assert abs(f[band][np.argmax(p.mean(0)[band])] - alpha) <= 0.25


@pytest.mark.parametrize("chi", [1.0, 1.5, 2.0])
def test_aperiodic_exponent_recovered(chi):
    raw = make_resting_eeg(
        duration=60,
        sfreq=256,
        alpha_freq=None,
        line_freq=None,
        blink_rate=0,
        aperiodic_exponent=chi,
        random_state=5,
    )
    f, p = welch(raw.get_data(picks="eeg"), fs=256, nperseg=1024)
    fit = (f >= 2) & (f <= 40)
    slope = np.polyfit(np.log10(f[fit]), np.log10(p.mean(0)[fit]), 1)[0]
    assert abs(-slope - chi) <= 0.05


def test_components_placed():
    raw = make_resting_eeg(duration=30, sfreq=256, bad_channels=("T7",), random_state=1)
    data = raw.get_data()
    std = dict(zip(raw.ch_names, data.std(axis=1)))
    assert std["T7"] > 3 * np.median(list(std.values()))  # the bad channel stands out
    f, p = welch(data[raw.ch_names.index("Cz")], fs=256, nperseg=512)
    assert p[np.argmin(abs(f - 50))] > 20 * np.median(p[(f > 40) & (f < 60)])  # line noise
    assert len(raw.annotations) > 0 and raw.get_channel_types()[-1] == "eog"


def test_same_seed_same_data():
    a = make_resting_eeg(duration=5, random_state=7).get_data()
    b = make_resting_eeg(duration=5, random_state=7).get_data()
    c = make_resting_eeg(duration=5, random_state=8).get_data()
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_bad_arguments():
    with pytest.raises(ConfigError, match="alpha_freq"):
        make_resting_eeg(sfreq=100, alpha_freq=60)
    with pytest.raises(ConfigError, match="not 10-05 positions"):
        make_resting_eeg(ch_names=["Cz", "Nope"])


def _files(root):
    return sorted(
        q.relative_to(root) for q in root.rglob("*") if q.is_file() and q.name != "make_sample_data.py"
    )


@pytest.mark.slow
def test_committed_sample_data_is_what_the_script_makes(sample_root, tmp_path):
    import pandas as pd

    fresh = make_sample_study(tmp_path / "study")
    assert _files(fresh) == _files(sample_root)
    for rel in _files(sample_root):
        if rel.name.endswith("_electrodes.tsv"):
            # electrode positions pass through MNE's coordinate transforms: their last digit moves
            # with the numpy/MNE versions (1 ulp), so these compare as numbers
            a, b = pd.read_csv(sample_root / rel, sep="\t"), pd.read_csv(fresh / rel, sep="\t")
            assert list(a["name"]) == list(b["name"]), rel
            np.testing.assert_allclose(
                a[["x", "y", "z"]].to_numpy(float), b[["x", "y", "z"]].to_numpy(float), rtol=1e-12, atol=1e-15
            )
        else:
            assert (sample_root / rel).read_bytes() == (fresh / rel).read_bytes(), rel
    size = sum(p.stat().st_size for p in sample_root.rglob("*") if p.is_file())
    assert size <= 5e6


def test_sample_study_alpha_slowing(sample_root):
    study = discover_study(sample_root)
    peaks = {}
    for _, row in study.select(datatype="eeg").iterrows():
        raw = read_eeg(row["path"])
        sfreq = raw.info["sfreq"]
        f, p = welch(raw.get_data(picks=["O1", "O2"]), fs=sfreq, nperseg=int(8 * sfreq))
        band = (f >= 6) & (f <= 14)
        peaks[(row["subject"], row["session"])] = f[band][np.argmax(p.mean(0)[band])]
        assert (
            abs(
                peaks[(row["subject"], row["session"])]
                - SAMPLE_TRUTH[(row["subject"], row["session"])]["alpha_freq"]
            )
            <= 0.25
        )
    assert peaks[("02", "01")] - peaks[("02", "03")] >= 0.75
    assert abs(peaks[("01", "01")] - peaks[("01", "03")]) <= 0.25


def test_sample_meg_is_drawn_at_the_sessions_alpha(sample_root):
    """sub-01's MEG (every session): a synthetic helmet's magnetometers and planar gradiometers, its
    alpha peak at the session's truth, on a head the MEG twin can place (device-to-head, head points)."""
    import mne

    from neurotwin.features.sensors import head_sphere

    files = sorted(sample_root.glob("sub-01/ses-*/meg/*_meg.fif"))
    assert [f.parts[-3] for f in files] == ["ses-01", "ses-02", "ses-03"]
    for path in files:
        raw = mne.io.read_raw_fif(path, verbose="error")
        assert sorted(set(raw.get_channel_types())) == ["grad", "mag"] and len(raw.ch_names) == 24
        mags = raw.get_data(picks="mag")
        assert 1e-14 < np.std(mags) < 1e-11  # tesla, not garbage or flat after 16-bit storage
        f, p = welch(mags, fs=raw.info["sfreq"], nperseg=int(8 * raw.info["sfreq"]))
        band = (f >= 6) & (f <= 14)
        ses = path.parts[-3][4:]
        assert abs(f[band][np.argmax(p.mean(0)[band])] - SAMPLE_TRUTH[("01", ses)]["meg"]["f"]) <= 0.5
        assert not np.allclose(raw.info["dev_head_t"]["trans"], np.eye(4))
        assert head_sphere(raw.info)[1]  # fitted to the head points it carries
