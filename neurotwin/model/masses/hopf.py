"""The Stuart-Landau (supercritical Hopf normal form) oscillator.

Each region is ``dz/dt = (a + i 2π f) z - |z|² z + G Σ_j w_ij (z_j(t - τ_ij) - z_i) + σ ξ``
written in real coordinates ``z = x + i y`` (Deco et al. 2017). For
``a < 0`` the node is a damped, noise-driven oscillator at ``f`` Hz; for
``a > 0`` it oscillates on a limit cycle of radius √a.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..params import ParamSpec
from .base import NeuralMass


def _drift1(x, c, prm, out, j):
    a, w, g, s = prm[0, j], 2 * np.pi * prm[1, j], prm[2, j], prm[4, j]
    r2 = x[0, j] * x[0, j] + x[1, j] * x[1, j]
    out[0, j] = (a - r2) * x[0, j] - w * x[1, j] + g * (c[0, j] - s * x[0, j])
    out[1, j] = (a - r2) * x[1, j] + w * x[0, j] + g * (c[1, j] - s * x[1, j])


def _send1(x, prm, out, j):
    out[0, j] = x[0, j]
    out[1, j] = x[1, j]


def _observe1(x, prm, j):
    return x[0, j]


class Hopf(NeuralMass):
    """Stuart-Landau oscillators with diffusive delayed coupling.

    Examples
    --------
    >>> from neurotwin.model import Hopf
    >>> [p.name for p in Hopf.params]
    ['a', 'f', 'G', 'sigma']
    """

    name: ClassVar[str] = "hopf"
    params: ClassVar[tuple[ParamSpec, ...]] = (
        ParamSpec("a", -0.5, "1/s", (-50.0, 50.0), per_region=True, doc="bifurcation parameter"),
        ParamSpec("f", 10.0, "Hz", (0.0, 100.0), per_region=True, doc="intrinsic frequency"),
        ParamSpec("G", 0.0, "1/s", (0.0, 1e3), doc="global coupling strength"),
        ParamSpec(
            "sigma", 0.1, "1/sqrt(s)", (0.0, 1e3), per_region=True, doc="noise amplitude (each coordinate)"
        ),
    )
    state_names: ClassVar[tuple[str, ...]] = ("x", "y")
    coupled: ClassVar[tuple[int, ...]] = (0, 1)

    def drift(self, state, coupling, p):
        x, y = state[..., 0], state[..., 1]
        a, w = p["a"], 2 * np.pi * p["f"]
        r2 = x * x + y * y
        g = p["G"][:, None]
        # coupling holds sum_j w_ij z_j(t - tau_ij); p["_strength"] is sum_j w_ij (diffusive term)
        dx = (a - r2) * x - w * y + g * (coupling[..., 0] - p["_strength"] * x)
        dy = (a - r2) * y + w * x + g * (coupling[..., 1] - p["_strength"] * y)
        return np.stack([dx, dy], axis=-1)

    def scalar_kernels(self):
        return _drift1, _send1, _observe1
