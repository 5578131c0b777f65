"""The Wilson-Cowan excitatory-inhibitory population model (Wilson & Cowan 1972).

``τe dE/dt = -E + (ke - re E) Se(c_ee E - c_ei I + P + G Σ_j w_ij E_j(t - τ_ij))``
``τi dI/dt = -I + (ki - ri I) Si(c_ie E - c_ii I + Q)``
with ``S(x) = 1/(1 + exp(-a (x - θ))) - 1/(1 + exp(a θ))``; parameter
values and names follow TVB's ``WilsonCowan`` (time in seconds here).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..params import ParamSpec
from .base import NeuralMass


def _sigmoid(x, a, theta):
    return 1 / (1 + np.exp(-a * (x - theta))) - 1 / (1 + np.exp(a * theta))


def _drift1(x, c, prm, out, j):
    (c_ee, c_ei, c_ie, c_ii, tau_e, tau_i, a_e, th_e, a_i, th_i, r_e, r_i, k_e, k_i, P, Q, G) = (
        prm[0, j],
        prm[1, j],
        prm[2, j],
        prm[3, j],
        prm[4, j],
        prm[5, j],
        prm[6, j],
        prm[7, j],
        prm[8, j],
        prm[9, j],
        prm[10, j],
        prm[11, j],
        prm[12, j],
        prm[13, j],
        prm[14, j],
        prm[15, j],
        prm[16, j],
    )
    e, i = x[0, j], x[1, j]
    x_e = c_ee * e - c_ei * i + P + G * c[0, j]
    x_i = c_ie * e - c_ii * i + Q
    s_e = 1 / (1 + np.exp(-a_e * (x_e - th_e))) - 1 / (1 + np.exp(a_e * th_e))
    s_i = 1 / (1 + np.exp(-a_i * (x_i - th_i))) - 1 / (1 + np.exp(a_i * th_i))
    out[0, j] = (-e + (k_e - r_e * e) * s_e) / tau_e
    out[1, j] = (-i + (k_i - r_i * i) * s_i) / tau_i


def _send1(x, prm, out, j):
    out[0, j] = x[0, j]


def _observe1(x, prm, j):
    return x[0, j]


class WilsonCowan(NeuralMass):
    """Wilson-Cowan populations; regions exchange excitatory activity ``E``.

    Examples
    --------
    >>> from neurotwin.model import WilsonCowan
    >>> WilsonCowan().state_names
    ('E', 'I')
    """

    name: ClassVar[str] = "wilson_cowan"
    params: ClassVar[tuple[ParamSpec, ...]] = (
        ParamSpec("c_ee", 12.0, "1", (0.0, 100.0), per_region=True, doc="E to E coupling"),
        ParamSpec("c_ei", 4.0, "1", (0.0, 100.0), per_region=True, doc="I to E coupling"),
        ParamSpec("c_ie", 13.0, "1", (0.0, 100.0), per_region=True, doc="E to I coupling"),
        ParamSpec("c_ii", 11.0, "1", (0.0, 100.0), per_region=True, doc="I to I coupling"),
        ParamSpec("tau_e", 0.010, "s", (1e-4, 1.0), doc="excitatory time constant"),
        ParamSpec("tau_i", 0.010, "s", (1e-4, 1.0), doc="inhibitory time constant"),
        ParamSpec("a_e", 1.2, "1", (0.01, 20.0), doc="excitatory sigmoid slope"),
        ParamSpec("theta_e", 2.8, "1", (-20.0, 20.0), doc="excitatory sigmoid threshold"),
        ParamSpec("a_i", 1.0, "1", (0.01, 20.0), doc="inhibitory sigmoid slope"),
        ParamSpec("theta_i", 4.0, "1", (-20.0, 20.0), doc="inhibitory sigmoid threshold"),
        ParamSpec("r_e", 1.0, "1", (0.0, 10.0), doc="excitatory refractoriness"),
        ParamSpec("r_i", 1.0, "1", (0.0, 10.0), doc="inhibitory refractoriness"),
        ParamSpec("k_e", 1.0, "1", (0.0, 10.0), doc="maximal excitatory response"),
        ParamSpec("k_i", 1.0, "1", (0.0, 10.0), doc="maximal inhibitory response"),
        ParamSpec("P", 0.0, "1", (-20.0, 20.0), per_region=True, doc="external input to E"),
        ParamSpec("Q", 0.0, "1", (-20.0, 20.0), per_region=True, doc="external input to I"),
        ParamSpec("G", 0.0, "1", (0.0, 1e3), doc="global coupling strength"),
        ParamSpec("sigma", 0.01, "1/sqrt(s)", (0.0, 1e3), doc="noise amplitude"),
    )
    state_names: ClassVar[tuple[str, ...]] = ("E", "I")
    coupled: ClassVar[tuple[int, ...]] = (0,)

    def initial_state(self, batch, n_regions, rng):
        return 0.1 * rng.uniform(0, 1, (batch, n_regions, 2))

    def drift(self, state, coupling, p):
        e, i = state[..., 0], state[..., 1]
        g = p["G"][:, None]
        col = {
            k: p[k][:, None]
            for k in ("tau_e", "tau_i", "a_e", "theta_e", "a_i", "theta_i", "r_e", "r_i", "k_e", "k_i")
        }
        x_e = p["c_ee"] * e - p["c_ei"] * i + p["P"] + g * coupling[..., 0]
        x_i = p["c_ie"] * e - p["c_ii"] * i + p["Q"]
        de = (-e + (col["k_e"] - col["r_e"] * e) * _sigmoid(x_e, col["a_e"], col["theta_e"])) / col["tau_e"]
        di = (-i + (col["k_i"] - col["r_i"] * i) * _sigmoid(x_i, col["a_i"], col["theta_i"])) / col["tau_i"]
        return np.stack([de, di], axis=-1)

    def scalar_kernels(self):
        return _drift1, _send1, _observe1
