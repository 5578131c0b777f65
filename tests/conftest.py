"""Shared fixtures: real data, the sample study, small synthetic files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real recordings in ``../shared/data`` (README there).

    Skipped when absent (a user's clone); a failure when ``CI=true``.
    ``NEUROTWIN_SHARED_DATA`` overrides the location.
    """
    path = Path(os.environ.get("NEUROTWIN_SHARED_DATA", REPO.parent / "shared" / "data"))
    if not (path / "PROVENANCE.tsv").is_file():
        msg = f"real test data not found at {path}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg + " (CI=true: it must be there)")
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def sample_root() -> Path:
    """The committed sample study."""
    from neurotwin.datasets import sample_data_path

    return sample_data_path()


def write_edf(path: Path, *, n_channels: int = 3, sfreq: int = 128, seconds: int = 4,
              names=None, patient=None, annotations=(), data=None, bdf: bool = False) -> Path:
    """Write a small EDF/BDF with edfio (physical range +-500 uV)."""
    import edfio

    rng = np.random.default_rng(0)
    names = names or [f"EEG {n}" for n in ("Fp1", "Cz", "O1", "O2", "Pz")[:n_channels]]
    n = sfreq * seconds
    if data is None:
        data = rng.normal(0, 20, (len(names), n))
    signal_cls, file_cls = (edfio.BdfSignal, edfio.Bdf) if bdf else (edfio.EdfSignal, edfio.Edf)
    signals = [
        signal_cls(np.asarray(x, float), sampling_frequency=sfreq, label=name,
                   physical_dimension="uV", physical_range=(-500, 500))
        for name, x in zip(names, data)
    ]
    edf = file_cls(signals, patient=patient or edfio.Patient())
    if annotations:
        edf.set_annotations([edfio.EdfAnnotation(o, None, d) for o, d in annotations])
    edf.write(path)
    return path


@pytest.fixture
def small_edf(tmp_path) -> Path:
    """A valid 3-channel EDF, 4 s at 128 Hz."""
    return write_edf(tmp_path / "small.edf")
