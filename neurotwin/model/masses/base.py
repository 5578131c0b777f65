"""The interface every neural-mass model shares."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..params import ParamSpec


class NeuralMass:
    """A local population model, written for a batch of K parameter sets.

    Subclasses declare ``name``, ``params`` (ParamSpecs), ``state_names``,
    ``coupled`` (indices of the state variables that couple to other
    regions and are observed) and implement :meth:`drift`.
    """

    name: ClassVar[str] = ""
    params: ClassVar[tuple[ParamSpec, ...]] = ()
    state_names: ClassVar[tuple[str, ...]] = ()
    coupled: ClassVar[tuple[int, ...]] = (0,)
    noise_param: ClassVar[str] = "sigma"

    @property
    def n_state(self) -> int:
        """Number of state variables per region."""
        return len(self.state_names)

    def initial_state(self, batch: int, n_regions: int, rng: np.random.Generator) -> np.ndarray:
        """A small random start, shape ``(K, N, d)``."""
        return 0.1 * rng.standard_normal((batch, n_regions, self.n_state))

    def coupling_variable(self, state: np.ndarray, p: dict[str, np.ndarray]) -> np.ndarray:
        """What a region sends to the others, ``(K, N, c)`` (default: the coupled states)."""
        return state[..., list(self.coupled)]

    def observe(self, state: np.ndarray) -> np.ndarray:
        """The region signal recorded in the output, ``(K, N)`` (default: first coupled state)."""
        return state[..., self.coupled[0]]

    def noise_scale(self, p: dict[str, np.ndarray], batch: int, n_regions: int) -> np.ndarray:
        """Noise amplitude per state variable, ``(K, N, d)`` (default: ``sigma`` on all)."""
        s = p[self.noise_param]
        s = s[:, None, None] if s.ndim == 1 else s[:, :, None]  # global or per-region amplitude
        return np.broadcast_to(s, (batch, n_regions, self.n_state))

    def drift(self, state: np.ndarray, coupling: np.ndarray, p: dict[str, np.ndarray]) -> np.ndarray:
        """Time derivative ``(K, N, d)`` given the state and the delayed network input ``(K, N, c)``."""
        raise NotImplementedError

    def scalar_kernels(self):
        """Plain functions of one unit for the compiled engine, or None (NumPy engine only).

        Returns ``(drift, send, observe)`` with ``drift(x, c, prm, out, j)``,
        ``send(x, prm, out, j)`` and ``observe(x, prm, j) -> float``, which
        compute column ``j`` (one region of one parameter set) of arrays laid
        out variable by unit: the states ``x`` ``(d, M)``, the network input
        ``c`` ``(c, M)``, the parameters ``prm`` ``(P + 1, M)`` in the order
        of :attr:`params` followed by the region's total input weight (the
        ``_strength``), and ``out``. The engine calls them in loops over
        ``j``, which the compiler vectorises when they are plain arithmetic.
        They must give the same numbers as :meth:`drift`,
        :meth:`coupling_variable` and :meth:`observe`; numba compiles them
        (``engine="numba"``).
        """
        return None
