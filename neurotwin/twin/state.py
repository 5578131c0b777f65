"""One session's fitted twin: parameters with their posterior, diagnostics and provenance (immutable)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import ConfigError
from .inference import Posterior
from .objectives import OBJECTIVES, describe

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
        frozen = replace(
            post,
            names=list(post.names),
            transforms=list(post.transforms),
            mean=_frozen(post.mean),
            cov=_frozen(post.cov),
            extra=extra,
        )
        object.__setattr__(self, "posterior", frozen)

    def params(self) -> dict[str, float]:
        """Natural-scale parameter values (posterior medians) by name."""
        return {n: v[0] for n, v in self.posterior.interval().items()}

    def summary(self, level: float = 0.9, *, offsets: bool = False):
        """The posterior's table (:meth:`Posterior.summary`) with a ``note`` on implausible values.

        ``note`` says "at a bound of the model" when the fit stopped on the
        edge of the parameter's domain, or "outside the prior's 99 % range"
        when the estimate left the physiological range its prior declares
        (``diagnostics["implausible"]``, made by the fit); "" otherwise.

        Examples
        --------
        >>> import numpy as np
        >>> from neurotwin.twin import TwinState
        >>> from neurotwin.twin.inference import Posterior
        >>> post = Posterior(["f"], ["identity"], np.array([18.8]), np.array([[0.01]]),
        ...                  labels=["alpha frequency"], units=["Hz"])
        >>> note = {"f": "outside the prior's 99 % range"}
        >>> s = TwinState(0, "01", 0.0, post, diagnostics={"implausible": note})
        >>> s.summary()[["label", "median", "note"]].to_dict("records")
        [{'label': 'alpha frequency', 'median': 18.8, 'note': "outside the prior's 99 % range"}]
        """
        table = self.posterior.summary(level, offsets=offsets)
        notes = dict(self.diagnostics.get("implausible", {}))
        for name in self.diagnostics.get("at_bound", []):
            notes.setdefault(name, "at a bound of the model")
        table["note"] = [notes.get(n, "") for n in table["name"]]
        return table

    def __repr__(self) -> str:
        d = self.diagnostics
        quality = next((f", {k} {d[k]:.3f}" for k in ("r_log_psd", "fc_r") if k in d), "")
        flags = len(d.get("implausible", {})) + len(d.get("at_bound", []))
        return (
            f"<TwinState {self.index} | session {self.session}, day {self.at:g}, "
            f"{len(self.posterior.names)} parameters{quality}"
            f"{f', {flags} implausible' if flags else ''}>"
        )

    def to_record(self) -> tuple[dict, dict[str, np.ndarray]]:
        """JSON-able fields and the arrays, for the store."""
        meta = {
            "index": self.index,
            "session": self.session,
            "at": self.at,
            "names": self.posterior.names,
            "transforms": self.posterior.transforms,
            "labels": self.posterior.labels,
            "units": self.posterior.units,
            "features": self.features,
            "diagnostics": self.diagnostics,
            "provenance": self.provenance,
        }
        arrays = {
            "mean": np.asarray(self.posterior.mean),
            "cov": np.asarray(self.posterior.cov),
            **{f"extra_{k}": np.asarray(v) for k, v in self.posterior.extra.items()},
        }
        return meta, arrays

    @classmethod
    def from_record(cls, meta: dict, arrays: dict[str, np.ndarray]) -> TwinState:
        """Inverse of :meth:`to_record`."""
        extra = {k[len("extra_") :]: v for k, v in arrays.items() if k.startswith("extra_")}
        labels, units = meta.get("labels"), meta.get("units")
        modality = (meta.get("provenance") or {}).get("modality")
        if labels is None and modality in OBJECTIVES:  # a state stored before parameters had names
            try:
                labels, units = describe(meta["names"], OBJECTIVES[modality].parameters)
            except ConfigError:  # names of an older objective: shown by their code names
                labels, units = None, None
        post = Posterior(
            meta["names"], meta["transforms"], arrays["mean"], arrays["cov"], extra, labels, units
        )
        return cls(
            int(meta["index"]),
            meta["session"],
            float(meta["at"]),
            post,
            meta.get("features", {}),
            meta.get("diagnostics", {}),
            meta.get("provenance", {}),
        )
