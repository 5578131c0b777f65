"""Model connectomes: TVB templates (optional extra), normalisation, lesions, delays in simulations."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from neurotwin.errors import ConfigError
from neurotwin.io import Connectome
from neurotwin.model import Hopf, hopf_csd, lesion, normalize_weights, simulate, template_connectome


@pytest.mark.parametrize("name, n", [("tvb76", 76), ("tvb68", 68)])
def test_templates_from_tvb_data(shared_data, name, n):
    con = template_connectome(name, tvb_data=shared_data / "tvb-data-3.0.0/tvb_data")
    assert con.n_regions == n and con.tract_lengths is not None
    assert con.provenance["template"] == name


def test_missing_tvb_data_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "tvb_data" else real(n, *a))
    with pytest.raises(ConfigError, match=r'pip install "neurotwin\[tvb\]"'):
        template_connectome("tvb76")
    with pytest.raises(ConfigError, match="Did you mean 'tvb76'"):
        template_connectome("tvb67")


def test_normalisation_and_lesions():
    con = Connectome(np.array([[0, 2.0, 8.0], [2.0, 0, 4.0], [8.0, 4.0, 0]]), labels=["A", "B", "C"])
    assert normalize_weights(con, "max").weights.max() == 1.0
    np.testing.assert_allclose(normalize_weights(con, "sum").weights.sum(axis=1), 1.0)
    assert normalize_weights(con, "log").weights.max() == 1.0
    cut = lesion(con, regions=["C"], edges=[("A", "B")])
    assert cut.weights.sum() == 0 and con.weights.sum() > 0  # a copy
    with pytest.raises(ConfigError, match="no region 'D'"):
        lesion(con, regions=["D"])
    with pytest.raises(ConfigError, match="outside"):
        lesion(con, regions=[5])


def test_what_if_lesion_decouples_the_spectra():
    w = np.array([[0.0, 1.0], [1.0, 0.0]])
    params = {"a": -3.0, "f": 10.0, "G": 2.0, "sigma": 1.0}
    coupled = hopf_csd(w, [10.0], params)[0]
    cut = hopf_csd(lesion(Connectome(w), regions=[0]).weights, [10.0], params)[0]
    assert abs(coupled[0, 1]) > 0.1 * abs(coupled[0, 0]) and abs(cut[0, 1]) < 1e-12


def test_template_network_simulates_with_delays(shared_data):
    con = normalize_weights(template_connectome("tvb76", tvb_data=shared_data / "tvb-data-3.0.0/tvb_data"))
    sim = simulate(
        Hopf(),
        con.weights,
        {"a": -1.0, "G": 0.5, "sigma": 0.1},
        delays_ms=con.delays(4.0),
        duration=0.5,
        dt=1e-3,
        transient=0.1,
        decimate=5,
        random_state=0,
    )
    assert sim.data.shape == (1, 100, 76) and np.isfinite(sim.data).all()
    with pytest.raises(ConfigError, match="conduction_velocity"):
        con.delays(0.0)
