"""One session's fitted twin: parameters with their posterior, diagnostics and provenance (immutable)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .inference import Posterior

__all__ = ["TwinState"]


def _frozen(a) -> np.ndarray:
    a = np.array(a, dtype=float, copy=True)
    a.flags.writeable = False
    return a


@dataclass(frozen=True)
class TwinState:
    """The twin after one session (never changed once made).

    Attributes
    ----------
    index : int
        0 for the first session, then 1, 2, ...
    session : str
        Session label.
    at : float
        Days since the twin's first session (a date offset, never a date).
    posterior : Posterior
        Parameters (unconstrained scale, Laplace) and MAP-only extras.
    features : dict
        What was fitted: channels or regions, frequencies, summary feature values (for
        reliable-change indices), the data's digest.
    diagnostics : dict
        Fit quality (``r_log_psd``/``fc_r``, ``nll``, ``iaf_error``), convergence, evaluations,
        seconds, identifiability warnings.
    provenance : dict
        Package versions, model, connectome, prior/previous state, random seed.

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.twin import TwinState
    >>> from neurotwin.twin.inference import Posterior
    >>> post = Posterior(["f"], ["identity"], np.array([10.0]), np.array([[0.01]]))
    >>> s = TwinState(0, "01", 0.0, post)
    >>> s.params()["f"]
    10.0
    """

    index: int
    session: str
    at: float
    posterior: Posterior
    features: dict = field(default_factory=dict)
    diagnostics: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)

    def __post_init__(self):
        post = self.posterior
        extra = {k: _frozen(v) for k, v in post.extra.items()}
        object.__setattr__(self, "posterior", Posterior(list(post.names), list(post.transforms),
                                                        _frozen(post.mean), _frozen(post.cov), extra))

    def params(self) -> dict[str, float]:
        """Natural-scale parameter values (posterior medians) by name."""
        return {n: v[0] for n, v in self.posterior.interval().items()}

    def to_record(self) -> tuple[dict, dict[str, np.ndarray]]:
        """JSON-able fields and the arrays, for the store."""
        meta = {"index": self.index, "session": self.session, "at": self.at, "names": self.posterior.names,
                "transforms": self.posterior.transforms, "features": self.features,
                "diagnostics": self.diagnostics, "provenance": self.provenance}
        arrays = {"mean": np.asarray(self.posterior.mean), "cov": np.asarray(self.posterior.cov),
                  **{f"extra_{k}": np.asarray(v) for k, v in self.posterior.extra.items()}}
        return meta, arrays

    @classmethod
    def from_record(cls, meta: dict, arrays: dict[str, np.ndarray]) -> TwinState:
        """Inverse of :meth:`to_record`."""
        extra = {k[len("extra_"):]: v for k, v in arrays.items() if k.startswith("extra_")}
        post = Posterior(meta["names"], meta["transforms"], arrays["mean"], arrays["cov"], extra)
        return cls(int(meta["index"]), meta["session"], float(meta["at"]), post, meta.get("features", {}),
                   meta.get("diagnostics", {}), meta.get("provenance", {}))
