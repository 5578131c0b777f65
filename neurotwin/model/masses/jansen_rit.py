"""The Jansen-Rit cortical column (Jansen & Rit 1995).

Three populations (pyramidal cells, excitatory and inhibitory
interneurons) with second-order synaptic kernels and a sigmoid firing
rate. The region's output ``y1 - y2`` is the pyramidal membrane
potential that EEG sees; with the standard parameters and an input of
120-320 pulses/s the column produces alpha (~10 Hz) rhythms. Regions send
their firing rate ``S(y1 - y2)`` to each other, which adds to the
excitatory input scaled by ``G`` (TVB's sigmoidal coupling); noise is on
the input ``p``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..params import ParamSpec
from .base import NeuralMass


def _drift1(x, c, prm, out, j):
    A, B, a, b, C = prm[0, j], prm[1, j], prm[2, j], prm[3, j], prm[4, j]
    e0, v0, r, p, G = prm[5, j], prm[6, j], prm[7, j], prm[8, j], prm[9, j]
    out[0, j] = x[3, j]
    out[1, j] = x[4, j]
    out[2, j] = x[5, j]
    out[3, j] = (
        A * a * 2 * e0 / (1 + np.exp(r * (v0 - (x[1, j] - x[2, j])))) - 2 * a * x[3, j] - a * a * x[0, j]
    )
    s_e = 2 * e0 / (1 + np.exp(r * (v0 - C * x[0, j])))
    out[4, j] = A * a * (p + 0.8 * C * s_e + G * c[0, j]) - 2 * a * x[4, j] - a * a * x[1, j]
    s_i = 2 * e0 / (1 + np.exp(r * (v0 - 0.25 * C * x[0, j])))
    out[5, j] = B * b * 0.25 * C * s_i - 2 * b * x[5, j] - b * b * x[2, j]


def _send1(x, prm, out, j):
    out[0, j] = 2 * prm[5, j] / (1 + np.exp(prm[7, j] * (prm[6, j] - (x[1, j] - x[2, j]))))


def _observe1(x, prm, j):
    return x[1, j] - x[2, j]


class JansenRit(NeuralMass):
    """Jansen-Rit neural masses (time in seconds, potentials in mV).

    Examples
    --------
    >>> from neurotwin.model import JansenRit
    >>> {p.name: p.default for p in JansenRit.params}["C"]
    135.0
    """

    name: ClassVar[str] = "jansen_rit"
    params: ClassVar[tuple[ParamSpec, ...]] = (
        ParamSpec("A", 3.25, "mV", (0.0, 20.0), per_region=True, doc="excitatory synaptic gain"),
        ParamSpec("B", 22.0, "mV", (0.0, 100.0), per_region=True, doc="inhibitory synaptic gain"),
        ParamSpec("a", 100.0, "1/s", (1.0, 1000.0), per_region=True, doc="excitatory rate constant"),
        ParamSpec("b", 50.0, "1/s", (1.0, 1000.0), per_region=True, doc="inhibitory rate constant"),
        ParamSpec("C", 135.0, "1", (1.0, 1000.0), per_region=True, doc="connectivity constant"),
        ParamSpec("e0", 2.5, "1/s", (0.1, 50.0), doc="half the maximal firing rate"),
        ParamSpec("v0", 6.0, "mV", (-50.0, 50.0), doc="firing threshold"),
        ParamSpec("r", 0.56, "1/mV", (0.01, 10.0), doc="sigmoid steepness"),
        ParamSpec("p", 220.0, "1/s", (0.0, 2000.0), per_region=True, doc="mean external input"),
        ParamSpec("G", 0.0, "1", (0.0, 1e3), doc="global coupling strength"),
        ParamSpec(
            "sigma",
            2.0,
            "1/sqrt(s)",
            (0.0, 1e4),
            doc="input noise (pulses/s per sqrt(s); 2 ~ Jansen & Rit's 120-320 uniform at 1 kHz)",
        ),
    )
    state_names: ClassVar[tuple[str, ...]] = ("y0", "y1", "y2", "y3", "y4", "y5")
    coupled: ClassVar[tuple[int, ...]] = (1, 2)

    def _rate(self, v, p):
        return 2 * p["e0"][:, None] / (1 + np.exp(p["r"][:, None] * (p["v0"][:, None] - v)))

    def coupling_variable(self, state, p):
        return self._rate(state[..., 1] - state[..., 2], p)[..., None]

    def observe(self, state):
        return state[..., 1] - state[..., 2]

    def initial_state(self, batch, n_regions, rng):
        return np.zeros((batch, n_regions, 6)) + 0.01 * rng.standard_normal((batch, n_regions, 6))

    def noise_scale(self, p, batch, n_regions):
        scale = np.zeros((batch, n_regions, 6))
        scale[..., 4] = p["A"] * p["a"] * p["sigma"][:, None]
        return scale

    def drift(self, state, coupling, p):
        y0, y1, y2, y3, y4, y5 = np.moveaxis(state, -1, 0)
        A, B, a, b, C = p["A"], p["B"], p["a"], p["b"], p["C"]
        net = p["G"][:, None] * coupling[..., 0]  # incoming firing rates add to the input (as in TVB)
        return np.stack(
            [
                y3,
                y4,
                y5,
                A * a * self._rate(y1 - y2, p) - 2 * a * y3 - a * a * y0,
                A * a * (p["p"] + 0.8 * C * self._rate(C * y0, p) + net) - 2 * a * y4 - a * a * y1,
                B * b * 0.25 * C * self._rate(0.25 * C * y0, p) - 2 * b * y5 - b * b * y2,
            ],
            axis=-1,
        )

    def scalar_kernels(self):
        return _drift1, _send1, _observe1
