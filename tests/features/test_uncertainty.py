"""Standard errors measured from the recording: the jackknife, the ``se`` column, the PSD's blocks."""

from __future__ import annotations

import mne
import numpy as np
import pytest

from neurotwin.datasets import make_resting_eeg
from neurotwin.errors import ConfigError
from neurotwin.features import FeatureSet, compute_features, read_featureset
from neurotwin.features.uncertainty import block_indices, block_mean_se, jackknife_se


def _epochs(duration: float, seed: int) -> mne.Epochs:
    raw = make_resting_eeg(duration=duration, alpha_freq=10.0, random_state=seed)
    raw.filter(1.0, 45.0, verbose="error")
    return mne.make_fixed_length_epochs(raw, duration=2.0, preload=True, verbose="error")


def test_jackknife_of_a_mean_is_its_standard_error():
    x = np.random.default_rng(3).normal(5.0, 2.0, size=(300, 2))
    se = block_mean_se(x, n_blocks=300)
    np.testing.assert_allclose(se, x.std(axis=0, ddof=1) / np.sqrt(300), rtol=1e-10)
    # one missing replicate is tolerated, two are not
    reps = np.array([1.0, 1.1, 0.9, np.nan, 1.05])
    assert np.isfinite(jackknife_se(reps)) and np.isnan(jackknife_se(np.r_[reps, np.nan]))
    assert block_indices(2) is None and len(block_indices(95, 10)) == 10


def test_features_carry_standard_errors_and_the_psd_its_blocks():
    fs = compute_features(_epochs(60, 0), ["psd", "band_power", "iaf", "aperiodic"])
    t = fs.table
    ok = t[t["status"] == "ok"]
    for feat in ("band_power", "band_power_rel", "iaf", "aperiodic_exponent", "aperiodic_offset"):
        se = ok[ok["feature"] == feat]["se"]
        assert len(se) and np.isfinite(se).all() and (se > 0).all(), feat
    blocks = fs.arrays["psd_blocks"]
    assert blocks.dims == ("block", "channel", "freq") and blocks.shape[0] == 10
    weights = np.asarray(blocks.coords["block"], float)
    assert weights.sum() == fs.provenance["psd"]["n_averages"]
    mean = np.tensordot(weights / weights.sum(), blocks.values, axes=1)
    np.testing.assert_allclose(mean, fs.arrays["psd"].values, rtol=1e-10)
    assert fs.provenance["se"] == {"method": "delete-a-block jackknife", "n_blocks": 10}


@pytest.mark.slow
def test_standard_errors_match_the_spread_of_independent_recordings():
    # eight independent 60-s recordings of the same simulated brain: the jackknife SE of one
    # recording should be about the SD of the eight values
    values, ses = [], []
    for seed in range(8):
        fs = compute_features(_epochs(60, 10 + seed), ["band_power"])
        row = fs.table.query("feature == 'band_power_rel' and band == 'alpha'")
        values.append(row["value"].to_numpy())
        ses.append(row["se"].to_numpy())
    spread = np.std(values, axis=0, ddof=1)  # per channel, over recordings
    ratio = np.median(np.median(ses, axis=0) / spread)
    assert 0.5 < ratio < 2.0, ratio


def test_longer_recordings_have_smaller_standard_errors():
    short = compute_features(_epochs(40, 1), ["band_power"]).table
    long = compute_features(_epochs(160, 1), ["band_power"]).table
    sel = "feature == 'band_power_rel' and band == 'alpha'"
    ratio = np.median(short.query(sel)["se"].to_numpy() / long.query(sel)["se"].to_numpy())
    assert 1.3 < ratio < 3.5, ratio  # 2 for independent blocks (4x the data)


def test_raw_input_uses_welch_segments_and_no_blocks_means_no_se(tmp_path):
    raw = make_resting_eeg(duration=40, random_state=2).filter(1.0, 45.0, verbose="error")
    fs = compute_features(raw, ["psd", "iaf"])
    assert np.isfinite(fs.table.query("feature == 'iaf' and status == 'ok'")["se"]).all()
    assert "psd_blocks" in fs.arrays
    none = compute_features(raw, ["psd", "iaf"], n_blocks=0)
    assert none.table["se"].isna().all() and "psd_blocks" not in none.arrays
    with pytest.raises(ConfigError, match="n_blocks"):
        compute_features(raw, ["iaf"], n_blocks=2)
    # a Raw with a bad span: MNE keeps no segments across it, so the PSD is plain and there are no SEs
    raw.set_annotations(mne.Annotations([10.3], [5.1], ["BAD_x"]))
    spans = compute_features(raw, ["psd", "iaf"])
    assert np.isfinite(spans.arrays["psd"].values).all() and "psd_blocks" not in spans.arrays
    assert spans.table["se"].isna().all()
    back = read_featureset(fs.save(tmp_path / "x_features.tsv"))
    np.testing.assert_allclose(back.table["se"], fs.table["se"], rtol=1e-8)


def test_tables_without_se_still_read(tmp_path):
    fs = FeatureSet.from_rows([{"feature": "iaf", "location": "O1", "value": 10.0}])
    path = tmp_path / "old_features.tsv"
    fs.table.drop(columns="se").to_csv(path, sep="\t", index=False)
    back = read_featureset(path)
    assert back.get("iaf", "O1") == 10.0 and back.table["se"].isna().all()
