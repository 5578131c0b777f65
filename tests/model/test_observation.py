"""Observation models: Balloon-Windkessel BOLD."""

from __future__ import annotations

import numpy as np
import pytest

from neurotwin.errors import ConfigError, DataError
from neurotwin.model import balloon_windkessel, bold_steady_state


@pytest.mark.parametrize("z0", [0.1, 0.3, -0.1])
def test_bold_of_a_constant_input_settles_to_the_steady_state(z0):
    bold = balloon_windkessel(np.full((60_000, 2), z0), 1000.0)  # 60 s at 1 kHz
    assert bold[-1] == pytest.approx([bold_steady_state(z0)] * 2, rel=1e-3)
    assert np.sign(bold[-1, 0]) == np.sign(z0)  # more activity, more BOLD


def test_bold_lags_a_brief_input_by_seconds():
    z = np.zeros((30_000, 1))
    z[1000:1100] = 1.0  # 100 ms burst at 1 s
    bold = balloon_windkessel(z, 1000.0)[:, 0]
    peak = np.argmax(bold) / 1000.0
    assert 3.0 < peak - 1.0 < 7.0  # the hemodynamic response peaks ~4-6 s later
    assert bold.min() < 0  # post-stimulus undershoot


def test_tr_subsampling_and_bad_input():
    assert balloon_windkessel(np.zeros((4, 1000, 3)), 100.0, tr=0.72).shape == (4, 13, 3)
    with pytest.raises(ConfigError, match="valid"):
        balloon_windkessel(np.zeros((10, 1)), 100.0, kapa=1.0)
    with pytest.raises(ConfigError, match="too coarse"):
        balloon_windkessel(np.zeros((10, 1)), 1.0)
    with pytest.raises(DataError, match="finite"):
        balloon_windkessel(np.full((10, 1), np.nan), 100.0)
