"""The csd feature: every channel pair's cross-spectrum from the PSD's own Welch segments."""

from __future__ import annotations

import mne
import numpy as np
import pytest

from neurotwin.datasets import make_resting_eeg
from neurotwin.errors import ConfigError
from neurotwin.features import compute_features


@pytest.fixture(scope="module")
def raw():
    out = make_resting_eeg(duration=40.0, random_state=0)
    return out.set_eeg_reference("average", verbose="error")


@pytest.mark.parametrize("kind", ["raw", "epochs"])
def test_the_csd_diagonal_is_the_psd_and_its_blocks_average_to_it(raw, kind):
    data = raw if kind == "raw" else mne.make_fixed_length_epochs(raw, 2.0, preload=True, verbose="error")
    fs = compute_features(data, ["psd", "csd"], n_blocks=4)
    csd, psd = fs.arrays["csd"], fs.arrays["psd"]
    assert csd.dims == ("freq", "channel", "channel2") and csd.unit == psd.unit
    assert csd.coords["channel"] == psd.coords["channel"] and csd.coords["freq"][0] == 1.0
    cols = np.searchsorted(psd.coords["freq"], csd.coords["freq"])
    assert np.allclose(np.einsum("fcc->cf", csd.values).real, np.asarray(psd.values)[:, cols], rtol=1e-10)
    assert np.allclose(csd.values, csd.values.conj().swapaxes(1, 2))  # Hermitian
    # the average reference: every frequency's matrix has rank C - 1
    assert np.linalg.matrix_rank(csd.values[10], tol=1e-9 * np.abs(csd.values[10]).max()) == 18
    blocks = fs.arrays["csd_blocks"]
    share = np.asarray(blocks.coords["block"]) / np.sum(blocks.coords["block"])
    assert np.allclose(np.tensordot(share, blocks.values, axes=1), csd.values, rtol=1e-5, atol=1e-9)


def test_the_csd_needs_welch_segments(raw):
    with pytest.raises(ConfigError, match="psd_method='welch'"):
        compute_features(raw, ["csd"], psd_method="multitaper")
