"""The twin-objective contract (:func:`check_objective`)."""

from __future__ import annotations

import numpy as np

from ..features.featureset import FeatureArray
from ..io.connectome import Connectome
from ..twin.inference import TRANSFORMS
from ..twin.state import TwinState


def check_objective(cls: type, features, connectome: Connectome, *, n_check: int = 8) -> None:
    """Raise AssertionError unless a twin objective behaves as :class:`~neurotwin.twin.Twin` needs.

    Checks, on one session's ``features`` and a ``connectome`` that fits
    them: the objective builds through a twin of its modality; its prior
    declares each parameter once (unique names, known transforms, a domain
    bound for each); the likelihood is finite at the prior mean with a
    gradient equal to central differences (``n_check`` coordinates);
    :meth:`predict` and :meth:`observed` give the same labelled shape;
    :meth:`score` gives a finite log-likelihood and r; far outside the
    domain (each parameter, and all at once, moved by ±300 on the
    unconstrained scale, where a line search may step) it gives
    ``+inf`` or a finite value, with no floating-point warning; the diagnostics name
    the fit quality; the change thresholds name real parameters; and the
    fitted network of a state can be handed to what-if.

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.features.bold import bold_featureset
    >>> from neurotwin.io import Connectome
    >>> from neurotwin.testing import check_objective
    >>> from neurotwin.twin.objectives import BoldObjective
    >>> w = np.array([[0, 1.0, 0.5], [1.0, 0, 0.2], [0.5, 0.2, 0]])
    >>> fc = np.array([[1, 0.3, 0.2], [0.3, 1, 0.1], [0.2, 0.1, 1]])
    >>> fs = bold_featureset({"fc": fc, "t_eff": 200.0, "peak_freqs": [0.04, 0.05, 0.06]}, list("ABC"))
    >>> check_objective(BoldObjective, fs, Connectome(w, labels=list("ABC")))
    """
    from ..model.connectome import normalize_weights
    from ..twin import Twin

    name = cls.__name__
    twin = Twin("contract", modality=cls.modality, likelihood=cls.likelihood, connectome=connectome)
    obj = cls.build(features, normalize_weights(connectome, "max"), twin)
    assert isinstance(obj, cls), f"{name}.build returned {type(obj).__name__}"
    assert isinstance(obj.summary, dict) and obj.summary, f"{name}: no summary of the features"
    prior = obj.prior
    n_extra = getattr(obj, "n_extra", 0)
    p = len(prior.names)
    assert len(set(prior.names)) == p, f"{name}: duplicate parameter names"
    assert p + n_extra == obj.n_params, f"{name}: n_params {obj.n_params} != {p} + {n_extra} extras"
    assert set(prior.transforms) <= set(TRANSFORMS), f"{name}: unknown transforms"
    assert len(getattr(obj, "bounds", [(None, None)] * p)) >= p, f"{name}: a bound for each parameter"
    assert set(cls.change_thresholds) <= set(prior.names), f"{name}: change thresholds of unknown parameters"
    assert prior.labels is not None and prior.units is not None and len(prior.labels) == p, (
        f"{name}: the prior must name its parameters and their units (labels=, units=; see describe)"
    )
    assert {n.partition("[")[0] for n in prior.names} <= set(cls.parameters), (
        f"{name}: every parameter needs a human name and unit in {name}.parameters"
    )
    assert 0 <= cls.poor_fit < 1, f"{name}: poor_fit is a fit quality threshold in [0, 1)"
    theta = np.concatenate([np.asarray(prior.mean, float), np.zeros(n_extra)])
    if hasattr(obj, "start"):
        theta[:p] = obj.start
    nll, grad = obj(theta)
    assert np.isfinite(nll) and np.shape(grad) == (obj.n_params,), (
        f"{name}: no finite likelihood at the start"
    )
    import warnings

    rng = np.random.default_rng(0)
    # where a line search may step: every parameter, or one at a time, far out (e^±300), quietly
    steps = [np.full(obj.n_params, 300.0), np.full(obj.n_params, -300.0)]
    for k in range(min(obj.n_params, 40)):
        for sign in (1.0, -1.0):
            steps.append(np.zeros(obj.n_params))
            steps[-1][k] = sign * 300.0
    for far in steps:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            try:
                nll_far, grad_far = obj(theta + far)
            except RuntimeWarning as warning:
                raise AssertionError(f"{name}: a floating-point warning far out: {warning}") from None
        assert not np.isnan(nll_far) and (not np.isfinite(nll_far) or np.isfinite(grad_far).all()), (
            f"{name}: far from the start the likelihood must be finite with a finite gradient, or +inf"
        )
    for k in rng.choice(obj.n_params, size=min(n_check, obj.n_params), replace=False):
        h = 1e-6 * max(1.0, abs(theta[k]))
        up, down = theta.copy(), theta.copy()
        up[k] += h
        down[k] -= h
        numeric = (obj(up)[0] - obj(down)[0]) / (2 * h)
        assert abs(grad[k] - numeric) <= 1e-3 * max(1.0, abs(numeric)), (
            f"{name}: gradient of {(prior.names + ['extra'] * n_extra)[k]} is {grad[k]}, "
            f"numerically {numeric}"
        )
    pred, seen = obj.predict(theta), obj.observed()
    if isinstance(pred, dict):  # one per modality (a joint objective)
        assert isinstance(seen, dict) and set(pred) == set(seen) and pred, (
            f"{name}: predict() and observed() must give the same modalities"
        )
        pairs = [(pred[k], seen[k]) for k in pred]
    else:
        pairs = [(pred, seen)]
    for pred, seen in pairs:
        assert isinstance(pred, FeatureArray) and isinstance(seen, FeatureArray), (
            f"{name}: predict() and observed() must give FeatureArrays (or a dict of them by modality)"
        )
        assert pred.dims == seen.dims and pred.shape == seen.shape and pred.coords == seen.coords, (
            f"{name}: predict() and observed() differ in shape or labels"
        )
    score = obj.score(theta)
    assert {"loglik", "r"} <= set(score) and np.isfinite([score["loglik"], score["r"]]).all(), (
        f"{name}: score() needs finite loglik and r"
    )
    from ..twin.inference import Posterior

    post = Posterior(
        list(prior.names),
        list(prior.transforms),
        theta[:p],
        np.diag(np.asarray(prior.sd) ** 2),
        {"theta_extra": theta[p:]} if n_extra else {},
        prior.labels,
        prior.units,
    )
    diag = obj.diagnostics(theta, post, prior)
    assert cls.quality in diag, f"{name}: diagnostics lack the fit quality {cls.quality!r}"
    state = TwinState(0, "01", 0.0, post, obj.summary)
    con, params, kwargs = cls.network(state, normalize_weights(connectome, "max"))
    assert isinstance(con, Connectome) and isinstance(params, dict) and isinstance(kwargs, dict), (
        f"{name}.network must give (Connectome, params, kwargs)"
    )
