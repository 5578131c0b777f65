"""A small synthetic patient for twin tests: 8-region network, 19 EEG channels, PSDs drawn from the model.

The sample person's MEG and TVB's template (real data): ``tests/conftest.py``."""

from __future__ import annotations

import numpy as np
import pytest

from neurotwin.datasets import CHANNELS_1020
from neurotwin.features import FeatureArray, FeatureSet
from neurotwin.io import Connectome

CHANNELS = list(CHANNELS_1020)
TRUTH = {"a": -6.0, "f": 10.0, "G": 2.0, "velocity": 6.0, "gain": 1.0, "background": 20.0, "exponent": 1.5}


@pytest.fixture(scope="session")
def small_connectome():
    angles = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    centres = np.column_stack([50 * np.cos(angles), 60 * np.sin(angles), 20 + 10 * np.sin(2 * angles)])
    lengths = np.linalg.norm(centres[:, None] - centres[None], axis=-1)
    weights = np.exp(-lengths / 40.0)
    np.fill_diagonal(weights, 0.0)
    return Connectome(
        weights, tract_lengths=lengths, labels=[f"R{i}" for i in range(8)], centres=centres, name="ring8"
    )


def theta_of(obj, truth):
    from neurotwin.twin.inference import to_unconstrained

    # parameters the truth does not name (knee, beta rhythm, channel and region offsets) stay at
    # the prior's mean (offsets 0: every channel and region alike)
    out = np.array(obj.prior.mean, float)
    for i, (n, tr) in enumerate(zip(obj.prior.names, obj.prior.transforms)):
        if n in truth:
            out[i] = float(to_unconstrained(truth[n], tr))
    return out


@pytest.fixture(scope="session")
def make_session(small_connectome):
    """``make_session(f=10.0, seed=0, session="01", channels=CHANNELS)``: a model PSD with Welch noise."""
    import mne

    from neurotwin.io import standard_montage
    from neurotwin.model import sphere_leadfield
    from neurotwin.twin.objectives import SpectrumObjective

    freqs = np.arange(1.0, 45.01, 0.5)
    n_avg = 60

    def make(f=10.0, seed=0, session="01", channels=CHANNELS, nan=False, blocks=0, jitter=0.0, csd=False):
        """``blocks``: also the PSDs of that many blocks (``psd_blocks``); ``jitter``: each block's
        level varies by that log-sd (a non-stationary recording); ``csd``: the whole sensor CSD
        (``csd`` and ``csd_blocks``, 6 blocks) of ``n_avg`` average-referenced segments drawn from
        the model's cross-spectrum, whose diagonal is the PSD."""
        info = mne.create_info(list(channels), 250.0, "eeg")
        info.set_montage(standard_montage(), verbose="error")
        lf = sphere_leadfield(info, small_connectome.centres, small_connectome.labels)
        con = small_connectome
        w = con.weights / con.weights.max()
        flat = np.ones((len(channels), len(freqs)))
        obj = SpectrumObjective(
            w, con.tract_lengths, lf.gain, freqs, flat, n_avg, fmin=1.0, fmax=45.0, resolution=0.5
        )
        model = obj.model_psd(theta_of(obj, {**TRUTH, "f": f}))
        rng = np.random.default_rng(seed)
        extra = {}
        if csd:
            spec = obj.sensor_csd(theta_of(obj, {**TRUTH, "f": f}), obj.freqs)  # (F, C, C)
            n_ch = len(channels)
            z = rng.standard_normal((n_avg, len(obj.freqs), n_ch, 2)) @ [1.0, 1j] / np.sqrt(2)
            x = np.einsum("fcd,sfd->sfc", np.linalg.cholesky(spec), z)
            x -= x.mean(axis=2, keepdims=True)  # the average reference
            cross = np.einsum("sfc,sfd->sfcd", x, x.conj())
            parts = np.stack([p.mean(axis=0) for p in np.array_split(cross, 6)])
            coords = {"freq": list(obj.freqs), "channel": list(channels), "channel2": list(channels)}
            dims = ("freq", "channel", "channel2")
            extra["csd"] = FeatureArray(cross.mean(axis=0), dims, coords, unit="uV^2/Hz")
            extra["csd_blocks"] = FeatureArray(
                parts, ("block", *dims), {"block": [n_avg / 6] * 6, **coords}, unit="uV^2/Hz"
            )
            psd = np.einsum("fcc->cf", extra["csd"].values).real
        elif blocks:
            m = n_avg // blocks
            level = np.exp(jitter * rng.standard_normal(blocks))[:, None, None]
            parts = model[None] * level * rng.gamma(m, 1.0 / m, (blocks, *model.shape))
            psd = parts.mean(axis=0)
            extra["psd_blocks"] = FeatureArray(
                parts,
                ("block", "channel", "freq"),
                {"block": [float(m)] * blocks, "channel": list(channels), "freq": list(obj.freqs)},
                unit="uV^2/Hz",
            )
        else:
            psd = model * rng.gamma(n_avg, 1.0 / n_avg, model.shape)  # a Welch average of n_avg segments
        if nan:
            psd[0, 3] = np.nan
        alpha = (obj.freqs >= 7) & (obj.freqs <= 14)
        iaf = obj.freqs[alpha][np.argmax(psd[:, alpha], axis=1)]
        rows = [
            {"feature": "iaf", "location": ch, "value": float(v), "unit": "Hz"}
            for ch, v in zip(channels, iaf)
        ]
        arr = FeatureArray(
            psd, ("channel", "freq"), {"channel": list(channels), "freq": list(obj.freqs)}, unit="uV^2/Hz"
        )
        return FeatureSet.from_rows(
            rows,
            subject="01",
            session=session,
            modality="eeg",
            arrays={"psd": arr, **extra},
            provenance={"psd": {"n_averages": n_avg}},
        )

    return make
