"""The damaged-input corpus (:mod:`tests.io.damaged_corpus`) and the real files it is made from.

Every case is refused with a neurotwin error naming the file, or read as
sane data; never a foreign exception, garbage, or a memory blow-up. And
every real file that MNE or nibabel reads, neurotwin reads too.
"""

from __future__ import annotations

import mne
import nibabel as nib
import numpy as np
import pytest

from neurotwin.errors import NeurotwinError
from neurotwin.io import match_reader, read_connectome, read_mri, read_raw

from .damaged_corpus import SOURCES, build_cases, run_case

CASES = build_cases()


def test_corpus_covers_every_source_with_100_cases():
    assert len(CASES) >= 100
    assert {c.fmt for c in CASES} == set(SOURCES)
    assert sum(c.expect == "refuse" for c in CASES) >= 60


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_damaged_input(case, shared_data, tmp_path):
    run_case(case, shared_data, tmp_path)


def _real_files(shared):
    for path in sorted(shared.rglob("*")):
        spec = match_reader(path)
        if spec is None or path.is_dir() != spec.is_dir:
            continue
        if path.suffix == ".fdt" or path.name.endswith((".vmrk", ".eeg")):
            continue
        yield path, spec


def test_every_real_file_mne_or_nibabel_reads_is_read(shared_data):
    """Where an integrity check disagrees with the field's own reader on a valid file, the check is wrong."""
    checked = {"ephys": 0, "mri": 0, "connectome": 0}
    for path, spec in _real_files(shared_data):
        if spec.modality == "ephys":
            try:
                mne.io.read_raw(path, preload=False, verbose="error")
            except Exception:  # not a recording MNE reads (a -cov.fif): ours must refuse by name
                with pytest.raises(NeurotwinError, match=path.name):
                    read_raw(path, preload=False)
                continue
            raw = read_raw(path, preload=False)
            assert raw.n_times > 1, path
        elif spec.modality == "mri":
            try:
                data = np.asanyarray(nib.load(path).dataobj)
            except Exception:
                with pytest.raises(NeurotwinError, match=path.name):
                    read_mri(path)
                continue
            if np.ptp(data[np.isfinite(data)]) == 0:
                continue  # a constant volume is refused on purpose
            read_mri(path)
        elif path.name.startswith("connectivity") or path.name == "DTI_CM.mat":  # others: surfaces, FC
            read_connectome(path)
        else:
            continue
        checked[spec.modality] += 1
    assert checked["ephys"] >= 30 and checked["mri"] >= 5 and checked["connectome"] >= 2, checked
