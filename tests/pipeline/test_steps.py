"""Each step does what it says on synthetic recordings with known content."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import welch

from neurotwin.datasets import make_resting_eeg
from neurotwin.errors import ConfigError
from neurotwin.pipeline.steps import Bandpass, Crop, Notch, Rereference, Resample
from neurotwin.pipeline.steps.filters import detect_line_freq


def _power_at(raw, freq):
    f, p = welch(raw.get_data(picks="eeg"), fs=raw.info["sfreq"], nperseg=int(raw.info["sfreq"] * 2))
    return p.mean(0)[np.argmin(abs(f - freq))]


@pytest.mark.parametrize("line", [50.0, 60.0])
def test_line_freq_detected(line):
    raw = make_resting_eeg(duration=20, line_freq=line, random_state=1)
    assert detect_line_freq(raw) == line


def test_no_line_noise_detected_as_none():
    assert detect_line_freq(make_resting_eeg(duration=20, line_freq=None, random_state=1)) is None


def test_notch_removes_mains():
    raw = make_resting_eeg(duration=30, line_freq=50.0, line_amplitude=10e-6, random_state=2)
    with raw.info._unlock():
        raw.info["line_freq"] = None  # force detection
    before = _power_at(raw, 50.0)
    after = _power_at(Notch().apply(raw), 50.0)
    assert after < before / 100  # > 20 dB


def test_bandpass_attenuates_outside_band():
    raw = make_resting_eeg(duration=30, line_freq=None, random_state=3)
    low_before, alpha_before = _power_at(raw, 0.5), _power_at(raw, 10.0)
    out = Bandpass(l_freq=2.0, h_freq=40.0).apply(raw)
    assert _power_at(out, 0.5) < low_before / 10
    assert _power_at(out, 10.0) == pytest.approx(alpha_before, rel=0.1)


def test_bandpass_above_nyquist_is_config_error():
    raw = make_resting_eeg(duration=5, sfreq=128, random_state=0)
    with pytest.raises(ConfigError, match="Nyquist"):
        Bandpass(l_freq=1, h_freq=70).apply(raw)


def test_resample_only_down_by_default():
    raw = make_resting_eeg(duration=5, sfreq=128, random_state=0)
    assert Resample(sfreq=250).apply(raw).info["sfreq"] == 128
    assert Resample(sfreq=64).apply(raw).info["sfreq"] == 64
    assert Resample(sfreq=256, only_down=False).apply(raw).info["sfreq"] == 256


def test_crop_bounds():
    raw = make_resting_eeg(duration=10, random_state=0)
    assert Crop(tmin=2, tmax=50).apply(raw.copy()).times[-1] == pytest.approx(8 - 1 / 256, abs=1e-6)
    with pytest.raises(ConfigError, match="past the end"):
        Crop(tmin=20).apply(raw)


def test_rereference_options():
    raw = make_resting_eeg(duration=4, random_state=0)
    with pytest.raises(ConfigError, match="mastoids"):
        Rereference(ref="mastoids").apply(raw.copy())
    with pytest.raises(ConfigError, match="Nope"):
        Rereference(ref=["Nope"]).apply(raw.copy())
    out = Rereference(ref=["Cz"]).apply(raw.copy())
    assert np.allclose(out.get_data(picks="Cz"), 0)
