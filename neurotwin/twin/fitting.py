"""One session's fit of a twin: MAP, posterior spread from the data's blocks, the session's own
estimate, diagnostics and provenance, and the flags a reader needs (poor fit, implausible values)."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from .. import __version__
from .._logging import logger
from ..errors import DataError
from ..features.mri import volume_summary
from .inference import PLAUSIBLE_Z, Posterior, Prior, fit_map, own_evidence, plausible_range, sandwich
from .longitudinal import session_values
from .state import TwinState

__all__ = ["fit_state", "implausible"]


def implausible(post: Posterior, template: Prior) -> dict[str, str]:
    """The parameters whose estimate left the range their (physiological) template prior gives them."""
    mean, sd = np.asarray(template.mean, float), np.asarray(template.sd, float)
    out = {}
    for i in np.flatnonzero(np.abs(np.asarray(post.mean) - mean) > PLAUSIBLE_Z * sd):
        name = post.names[i]
        lo, hi = plausible_range(mean[i], sd[i], post.transforms[i])
        unit = post.label(name)[1]
        unit = f" {unit}" if unit not in ("", "1", "data units", "log") else ""
        out[name] = f"outside the prior's 99 % range ({lo:.3g} to {hi:.3g}{unit})"
    return out


def fit_state(
    twin, obj, summary: dict, features, session, at, prior: Prior | None, extra_mean, restarts: int
) -> TwinState:
    """Fit a session's objective under ``prior`` into the twin's next state (``Twin.fit``, ``update``).

    Parameters
    ----------
    twin : Twin
        Its settings (seed, followed parameters) and the states so far.
    obj : Objective
        The session's objective (``Twin._objective``) and ``summary`` its features' summary.
    features : FeatureSet
        The session's features (for the values change detection compares).
    session : str
    at : float
        Days since the first session.
    prior : Prior | None
        The previous posterior plus drift; None: the objective's template prior (a first fit).
    extra_mean : ndarray | None
        Prior mean of the MAP-only extras (the previous state's).
    restarts : int
        Extra optimiser starts drawn from the prior.

    Returns
    -------
    state : TwinState
        With ``diagnostics["poor_fit"]`` and ``diagnostics["implausible"]`` set.

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.features.bold import bold_featureset
    >>> from neurotwin.io import Connectome
    >>> from neurotwin.twin import Twin
    >>> from neurotwin.twin.fitting import fit_state
    >>> w = np.array([[0, 1.0, 0.5], [1.0, 0, 0.2], [0.5, 0.2, 0]])
    >>> fc = np.array([[1, 0.3, 0.2], [0.3, 1, 0.1], [0.2, 0.1, 1]])
    >>> fs = bold_featureset({"fc": fc, "t_eff": 200.0, "peak_freqs": [0.04, 0.05, 0.06]}, list("ABC"))
    >>> twin = Twin("01", modality="bold", connectome=Connectome(w, labels=list("ABC")))
    >>> obj, summary = twin._objective(fs)
    >>> state = fit_state(twin, obj, summary, fs, "01", 0.0, None, None, 0)
    >>> state.index, sorted(state.diagnostics)[:3]
    (0, ['at_bound', 'converged', 'fc_r'])
    """
    summary = {
        **summary,
        "values": session_values(features),
        "n_blocks": (features.provenance or {}).get("se", {}).get("n_blocks"),
    }
    kept = volume_summary(features)
    if kept is not None:  # the session's regional volumes, kept with its state (not fitted)
        summary["volumes"] = kept
    if prior is None:
        prior = obj.prior
    elif list(prior.names) != list(obj.prior.names):
        raise DataError("these features give other parameters than the twin's (different regions?).")
    t0 = time.perf_counter()
    n_extra = getattr(obj, "n_extra", 0)
    starts = obj.starts(prior, first=prior is obj.prior) if hasattr(obj, "starts") else None
    tol = getattr(obj, "tolerance", None)
    maxiter = getattr(obj, "maxiter", 500)
    reweight = getattr(obj, "reweight", None) is not None
    # what both passes share: the extras' prior, the seed, the stopping rule
    common = {
        "n_extra": n_extra,
        "extra_sd": getattr(obj, "edge_sd", 1.0),
        "extra_mean": extra_mean,
        "random_state": twin.random_state,
        "tol": tol,
        "maxiter": maxiter,
    }
    post, info = fit_map(obj, prior, x0=starts, restarts=restarts, hessian=not reweight, **common)
    if reweight:
        # weigh frequencies by the fitted model's channel redundancy, then refine and take the posterior
        best = np.concatenate([post.mean, post.extra.get("theta_extra", np.zeros(0))])
        obj.reweight(best)
        evals = info["n_evals"]
        post, info = fit_map(obj, prior, x0=[best], restarts=0, **common)
        info["n_evals"] += evals
    theta = np.concatenate([post.mean, post.extra.get("theta_extra", np.zeros(0))])
    scores = obj.block_scores(theta) if hasattr(obj, "block_scores") else None
    spread = {"posterior": "laplace"}
    laplace, factor = post.cov, None
    if scores is not None and len(scores) >= 3:
        cov, factor = sandwich(post.cov, scores)
        post = replace(post, cov=cov)
        spread = {
            "posterior": f"laplace widened by the sandwich over {len(scores)} blocks",
            "sd_inflation": {n: round(float(x), 3) for n, x in zip(post.names, factor) if "[" not in n},
        }
    # the session's own estimate of the followed parameters (an update's posterior also holds the
    # earlier sessions): what change detection compares
    if prior is obj.prior:  # a first session: its posterior is its own evidence
        own_mean, own_sd = (
            np.asarray(post.mean),
            np.sqrt(np.diag(laplace)) * (1.0 if factor is None else factor),
        )
    else:
        grad = np.asarray(obj(theta)[1], float)[: len(post.mean)]
        own_mean, own_sd = own_evidence(post.mean, laplace, prior, obj.prior, factor, grad=grad)
    template_sd, template_mean = np.asarray(obj.prior.sd, float), np.asarray(obj.prior.mean, float)
    # own estimate (mean, sd) and the template prior's (sd, mean), unconstrained
    summary["own"] = {
        n: [float(own_mean[i]), float(own_sd[i]), float(template_sd[i]), float(template_mean[i])]
        for i, n in enumerate(post.names)
        if n in twin.thresholds
    }
    diag = {
        "nll": info["nll"],
        "converged": info["converged"],
        "n_evals": info["n_evals"],
        "warnings": info["warnings"],
        "at_bound": info.get("at_bound", []),
        "seconds": round(time.perf_counter() - t0, 2),
        **spread,
    }
    more = obj.diagnostics(theta, post, prior)
    diag["warnings"] = [*diag["warnings"], *more.pop("warnings", [])]
    diag.update(more)
    prov = {
        "neurotwin": __version__,
        "model": "hopf",
        "modality": twin.modality,
        "objective": type(obj).__name__,
        "connectome": getattr(twin.connectome, "name", "") or "subject",
        "prior": "template" if not twin.states_ else f"state {twin.states_[-1].index}",
        "process_noise": twin.process_noise,
        "random_state": twin.random_state,
        "features": {k: v for k, v in (features.provenance or {}).items() if k in ("neurotwin", "psd")},
    }
    diag["implausible"] = implausible(post, obj.prior)
    if not info["converged"]:
        logger.warning(
            "twin %s, session %s: the fit stopped before it converged (%s); its parameters may be off",
            twin.subject,
            session,
            info.get("message", "iteration limit"),
        )
    for w in diag["warnings"]:  # kept in diagnostics["warnings"]; a study run sums them up in one line
        logger.info("twin %s, session %s: %s", twin.subject, session, w)
    # every fit quality the objective declares (a joint twin: each modality's), the main one always
    qualities = obj.qualities or {obj.quality: obj.poor_fit}
    poor = []
    keys = [k for k in qualities if k in diag] or [obj.quality]  # (a joint twin: the modalities present)
    for key in keys:
        threshold = qualities.get(key, obj.poor_fit)
        quality = diag.get(key, np.nan)
        if not np.isfinite(quality) or quality < threshold:
            poor.append(f"{key} = {quality:.2f}, below {threshold:g}")
    diag["poor_fit"] = bool(poor)
    if poor:
        text = (
            f"poor fit: {'; '.join(poor)}; the model does not reproduce this recording, so its "
            f"parameters should not be read as the patient's"
        )
        diag["warnings"] = [text, *diag["warnings"]]
        logger.warning("twin %s, session %s: %s", twin.subject, session, text)
    return TwinState(len(twin.states_), str(session), float(at), post, summary, diag, prov)
