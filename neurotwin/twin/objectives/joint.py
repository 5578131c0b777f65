"""One twin across modalities: a sensor spectrum (EEG or MEG) and BOLD FC in one likelihood.

The joint objective sums its parts' negative log-likelihoods — the sensor
spectrum's (:mod:`.eeg_psd`, :mod:`.meg_psd`) and BOLD FC's
(:mod:`.bold_fc`) — over one parameter vector: the spectrum's parameters,
then BOLD's (named ``bold_...``), then one **offset** per shared quantity,
then BOLD's connection modifiers (MAP only). A session may carry any of the
modalities (the first one all of them); a part without features adds
nothing, so its parameters keep their prior — the previous state's.

**What is shared, and why through an offset.** Both models are Hopf
networks on the same connectome, but at different time scales: the
spectrum's regions oscillate at alpha frequencies with a damping of
several 1/s, BOLD's at 0.01-0.1 Hz with a damping of ~0.05 1/s. Their
damping and coupling cannot be the same numbers; what a network's state
can share across time scales are dimensionless quantities, declared here:

* ``coupling``: ``log G − log|a|`` — the coupling relative to the damping
  (how close the network is to instability); BOLD's ``|a|`` is the
  geometric mean over regions;
* ``damping`` (per region, when both parts have the same regions): each
  region's log-damping minus the mean over regions — which regions are the
  more damped.

For a shared quantity ``q`` the joint likelihood holds the factor
``q_bold = q_spectrum + c ± share_sd``: the two modalities' values differ
by the person's own offset ``c`` (fitted, prior sd :attr:`offset_sd`, no
drift between sessions: the twin's process noise skips it) and, from one
session to the next, by no more than ``share_sd``. The offset exists
because the data refute a hard link: on real recordings the spectrum's
coupling ``G/|a|`` was 0.002-0.003 (three eegmat people and TVB's template)
and BOLD's 0.6-0.8 (two HCP people, their own connectomes); fixing the EEG
twin's at 0.01 already cost it 4-7 nats, at 0.7 1,230 nats (a profile
likelihood; no person in ``../shared/data`` has both). So a second
modality informs the shared quantities through their **changes**: once the
offset is learnt, a BOLD session that sees the coupling rise moves the
spectrum's coupling as well, and the reverse.

Examples
--------
>>> from neurotwin.twin.objectives import OBJECTIVES
>>> OBJECTIVES["eeg+bold"].parts, OBJECTIVES["eeg+bold"].qualities
(('eeg', 'bold'), {'r_log_psd': 0.8, 'fc_r': 0.4})
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import ClassVar

import numpy as np

from ...errors import ConfigError, DataError
from ..inference import Prior, numeric_hessian
from .base import OBJECTIVES, Objective, describe, optional_array, register_objective
from .bold_fc import BoldObjective
from .eeg_psd import SpectrumObjective
from .meg_psd import MegSpectrumObjective
from .parts import build_parts, part_record, sub_prior
from .sensors import EegMegObjective

__all__ = ["JointObjective"]

#: the array that says a session has features of a part
_MARKER = {"eeg": "psd", "meg": "psd", "bold": "fc_pearson"}


def _present(features, modality: str) -> bool:
    if hasattr(OBJECTIVES[modality], "parts_in"):  # EEG+MEG: either kind of sensors
        return bool(OBJECTIVES[modality].parts_in(features))
    if optional_array(features, _MARKER[modality]) is None:
        return False
    if modality == "bold":
        return True
    # a spectrum part needs channels of its kind (the EEG of an EEG+MEG recording is the eeg part's)
    psd = optional_array(features, "psd")
    try:
        return bool(OBJECTIVES[modality]._channels(features, list(psd.coords["channel"])))
    except DataError:
        return False


class JointObjective(Objective):
    """The sum of a sensor spectrum's and BOLD FC's negative log-likelihoods, with shared quantities.

    Built by :meth:`build` from one session's features (the FeatureSets of
    both modalities, :func:`neurotwin.features.concat`) and the patient's
    connectome (its regions must be the FC's; the spectrum part sees them
    through its head model). ``theta`` is the spectrum part's parameters,
    BOLD's prior parameters (``bold_a[r]``, ``bold_G``, ``bold_sigma[r]``),
    the offsets (``offset_coupling``, ``offset_damping[r]``), then BOLD's
    connection modifiers.

    Examples
    --------
    >>> from neurotwin.twin import Twin
    >>> twin = Twin("01", modality="eeg+bold")
    >>> twin.fit(None)
    Traceback (most recent call last):
    ...
    neurotwin.errors.DataError: a twin is fitted to a FeatureSet, not NoneType.
    """

    parts: ClassVar[tuple[str, ...]] = ("eeg", "bold")
    template = None  # BOLD needs the patient's connectome
    #: sd (log) by which a shared quantity may differ between the modalities, beyond their offset, in
    #: one session: 0.1, about 10 % (a round choice, not fitted to our data)
    share_sd = 0.1
    #: prior sd (log) of the offsets: the modalities' values of a quantity are not comparable a priori
    #: (e^5: 150x for the coupling, e^2 for a region's relative damping; round, weakly informative)
    offset_sd: ClassVar[dict] = {"coupling": 5.0, "damping": 2.0}

    def __init__(self, spectrum, bold, *, present: tuple[str, ...]):
        self.spectrum, self.bold = spectrum, bold
        self.present = tuple(present)
        self.p_s = len(spectrum.prior.names)
        self.p_b = len(bold.prior.names)
        self.n_extra = int(bold.n_extra)
        # the connections' prior sd: the BOLD part's (a population prior loosens it)
        self.edge_sd = getattr(bold, "edge_sd", BoldObjective.edge_sd)
        regions_s = list(getattr(spectrum, "regions", None) or spectrum.summary.get("regions") or [])
        regions_b = list(bold.summary["regions"])
        names_s = list(spectrum.prior.names)
        names_b = list(bold.prior.names)
        n = len(regions_b)
        # each shared quantity: a row over the spectrum's parameters minus one over BOLD's
        rows_s, rows_b, names, sds = [], [], [], []
        u_s, u_b = np.zeros(self.p_s), np.zeros(self.p_b)
        u_s[names_s.index("G")], u_s[names_s.index("a")] = 1.0, -1.0
        u_b[names_b.index("G")] = 1.0
        u_b[[names_b.index(f"a[{r}]") for r in regions_b]] = -1.0 / n
        rows_s.append(u_s), rows_b.append(u_b), names.append("offset_coupling")
        sds.append(self.offset_sd["coupling"])
        offsets_s = [f"a_offset[{r}]" for r in regions_b]
        self.regional = regions_s == regions_b and all(x in names_s for x in offsets_s)
        if self.regional:
            idx_s = [names_s.index(x) for x in offsets_s]
            idx_b = [names_b.index(f"a[{r}]") for r in regions_b]
            for k, r in enumerate(regions_b):
                u_s, u_b = np.zeros(self.p_s), np.zeros(self.p_b)
                u_s[idx_s] = -1.0 / n
                u_s[idx_s[k]] += 1.0
                u_b[idx_b] = -1.0 / n
                u_b[idx_b[k]] += 1.0
                rows_s.append(u_s), rows_b.append(u_b), names.append(f"offset_damping[{r}]")
                sds.append(self.offset_sd["damping"])
        k = len(names)
        self.p = self.p_s + self.p_b + k
        self.n_params = self.p + self.n_extra
        # D θ = q_bold - q_spectrum - c: the shared factors' residuals (over the prior parameters)
        self.share = np.zeros((k, self.p))
        self.share[:, : self.p_s] = -np.array(rows_s)
        self.share[:, self.p_s : self.p_s + self.p_b] = np.array(rows_b)
        self.share[:, self.p_s + self.p_b :] = -np.eye(k)
        ps, pb = spectrum.prior, bold.prior
        all_names = names_s + [f"bold_{x}" for x in names_b] + names
        labels, units = describe(all_names, self.parameters)
        self.prior = Prior(
            all_names,
            list(ps.transforms) + list(pb.transforms) + ["identity"] * k,
            np.concatenate([ps.mean, pb.mean, np.zeros(k)]),
            np.concatenate([ps.sd, pb.sd, sds]),
            labels=labels,
            units=units,
        )
        bounds_s = list(getattr(spectrum, "bounds", [(None, None)] * self.p_s))[: self.p_s]
        self.bounds = bounds_s + [(None, None)] * (self.p_b + k)
        self.shared = ["coupling"] + (["damping"] if self.regional else [])

    # ------------------------------------------------------------------ parameters
    def _split(self, theta):
        theta = np.asarray(theta, float)
        th_s = theta[: self.p_s]
        th_b = np.concatenate([theta[self.p_s : self.p_s + self.p_b], theta[self.p :]])
        return th_s, th_b

    def shared_values(self, theta) -> dict[str, np.ndarray]:
        """The shared quantities in each modality at ``theta``: ``{"coupling": (q_spectrum, q_bold)}``
        (and ``"damping"``, per region)."""
        theta = np.asarray(theta, float)[: self.p]
        q_s = -self.share[:, : self.p_s] @ theta[: self.p_s]
        q_b = self.share[:, self.p_s : self.p_s + self.p_b] @ theta[self.p_s : self.p_s + self.p_b]
        out = {"coupling": (float(q_s[0]), float(q_b[0]))}
        if self.regional:
            out["damping"] = (q_s[1:], q_b[1:])
        return out

    @classmethod
    def drift_scale(cls, names) -> np.ndarray:
        """Per parameter, the share of the twin's process noise it gets (0: the offsets are the person's)."""
        return np.array([0.0 if str(n).startswith("offset_") else 1.0 for n in names])

    # ------------------------------------------------------------------ likelihood
    def __call__(self, theta):
        theta = np.asarray(theta, float)
        th_s, th_b = self._split(theta)
        grad = np.zeros(self.n_params)
        nll = 0.0
        if self.parts[0] in self.present:
            value, g = self.spectrum(th_s)
            nll += value
            grad[: self.p_s] = g
        if "bold" in self.present:
            value, g = self.bold(th_b)
            nll += value
            grad[self.p_s : self.p_s + self.p_b] = g[: self.p_b]
            grad[self.p :] = g[self.p_b :]
        if not np.isfinite(nll):
            return np.inf, np.zeros(self.n_params)
        value, g = self._share_term(theta)
        nll += value
        grad[: self.p] += g
        if not (np.isfinite(nll) and np.isfinite(grad).all()):
            return np.inf, np.zeros(self.n_params)
        return float(nll), grad

    def _share_term(self, theta) -> tuple[float, np.ndarray]:
        """The shared factors' negative log-density and its gradient over the prior parameters."""
        with np.errstate(over="ignore", invalid="ignore"):
            resid = self.share @ np.asarray(theta, float)[: self.p] / self.share_sd
            return 0.5 * float(resid @ resid), self.share.T @ resid / self.share_sd

    def fisher(self, theta) -> np.ndarray:
        """The information of the prior parameters: the spectrum's Fisher information, BOLD's Hessian
        (differences of its exact gradient, connection modifiers held), and the shared factors'."""
        th_s, th_b = self._split(theta)
        h = self.share.T @ self.share / self.share_sd**2
        if self.parts[0] in self.present:
            h[: self.p_s, : self.p_s] += self.spectrum.fisher(th_s)
        if "bold" in self.present:
            hb = numeric_hessian(self.bold, th_b, self.p_b)
            w, v = np.linalg.eigh(hb)  # an information is positive semi-definite: a stop short of the
            hb = (v * np.clip(w, 0.0, None)) @ v.T  # optimum (the tolerance) leaves negative curvature
            sl = slice(self.p_s, self.p_s + self.p_b)
            h[sl, sl] += hb
        return h

    def block_scores(self, theta) -> np.ndarray | None:
        """The spectrum's blocks' scores, zero for the other parameters (None without blocks)."""
        if self.parts[0] not in self.present:
            return None
        scores = self.spectrum.block_scores(self._split(theta)[0])
        if scores is None:
            return None
        out = np.zeros((len(scores), self.p))
        out[:, : self.p_s] = scores
        return out

    @property
    def reweight(self):
        """The spectrum part's re-weighting pass (None when the session has no spectrum)."""
        if self.parts[0] not in self.present:
            return None
        return lambda theta: self.spectrum.reweight(self._split(theta)[0])

    @property
    def tolerance(self) -> float:
        """The spectrum's tolerance (nats) when the session has one, else BOLD's.

        BOLD's is stricter (0.02) but costs the spectrum's network hundreds more evaluations; a first
        fit reaches it in BOLD's own stage (:meth:`_fit_bold`), an update starts at the last optimum.
        """
        part = self.spectrum if self.parts[0] in self.present else self.bold
        return getattr(part, "tolerance", 0.1)

    @property
    def maxiter(self) -> int:
        """The present parts' largest iteration limit."""
        return max(getattr(part, "maxiter", 500) for _, part in self._parts_present())

    def starts(self, prior: Prior, first: bool = True) -> list[np.ndarray]:
        """The spectrum part's starts (its data's alpha peak, ...) with BOLD at its prior mean; at a first
        fit the offsets start where the shared factors are met."""
        mean = np.asarray(prior.mean, float)
        if self.parts[0] not in self.present:
            return [mean.copy()]
        sub = sub_prior(prior, np.arange(self.p_s))
        out = []
        for start in self.spectrum.starts(sub, first=first):
            x = np.concatenate([mean, np.zeros(self.n_extra)])  # (a first fit: the extras' prior mean)
            x[: self.p_s] = start
            if first and "bold" in self.present:
                x = self._fit_bold(x, prior)
            out.append(x if self.n_extra and first else x[: self.p])
        return out

    def _fit_bold(self, x, prior: Prior) -> np.ndarray:
        """``x`` with BOLD's parameters and the offsets fitted (MAP) for its fixed spectrum parameters.

        A first fit's start: the two parts are nearly separate problems (they meet only in the shared
        factors, which the offsets absorb), so BOLD's many cheap evaluations are spent here, where the
        spectrum's costly network is not recomputed, and the joint fit only polishes.
        """
        from ..inference import fit_map

        free = np.r_[self.p_s : self.p]
        x = np.array(x, float)

        def nll(z):
            th = x.copy()
            th[self.p_s :] = z
            _, th_b = self._split(th)
            value, g = self.bold(th_b)
            if not np.isfinite(value):
                return np.inf, np.zeros(len(z))
            share, g_share = self._share_term(th)
            grad = np.concatenate([g[: self.p_b], np.zeros(self.p - self.p_s - self.p_b), g[self.p_b :]])
            grad[: self.p - self.p_s] += g_share[self.p_s :]
            return value + share, grad

        post, _ = fit_map(
            nll,
            sub_prior(prior, free),
            n_extra=self.n_extra,
            extra_sd=self.edge_sd,
            x0=[x[self.p_s :]],
            restarts=0,
            hessian=False,
            tol=getattr(self.bold, "tolerance", None),
            maxiter=getattr(self.bold, "maxiter", 500),
        )
        x[self.p_s : self.p] = post.mean
        x[self.p :] = post.extra.get("theta_extra", np.zeros(0))
        return x

    # ------------------------------------------------------------------ the objective protocol
    @classmethod
    def build(cls, features, connectome, twin) -> JointObjective:
        """The objective of a session's features: each part from its own, the rest from the first state."""
        first = twin.states_[0] if twin.states_ else None
        present = tuple(m for m in cls.parts if _present(features, m))
        if first is None and len(present) < len(cls.parts):
            missing = [m for m in cls.parts if m not in present]
            raise DataError(
                f"the first session of the {cls.modality} twin needs features of every modality; these "
                f"have none of {missing} (a 'psd' array for EEG/MEG, the 'bold_dynamics' feature for "
                f"BOLD; join FeatureSets with neurotwin.features.concat)."
            )
        if not present:
            raise DataError(
                f"these features have none of the {cls.modality} twin's modalities ({list(cls.parts)})."
            )
        built = build_parts({m: OBJECTIVES[m] for m in cls.parts}, present, features, connectome, twin)
        obj = cls(built[cls.parts[0]], built["bold"], present=present)
        parts = {m: part_record(built[m]) for m in cls.parts}
        top = parts[cls.parts[0]]
        obj.summary = {
            **{k: v for k, v in top.items() if k not in ("prior", "n_extra")},
            "modalities": obj.modalities,
            "shared": list(obj.shared),
            "parts": parts,
        }
        return obj

    @property
    def modalities(self) -> list[str]:
        """The modalities the session has (an EEG+MEG part's present ones each)."""
        return [x for m, part in self._parts_present() for x in getattr(part, "present", (m,))]

    def _parts_present(self):
        return [(m, self.spectrum if m == self.parts[0] else self.bold) for m in self.present]

    def _theta_of(self, modality: str, theta):
        th_s, th_b = self._split(theta)
        return th_b if modality == "bold" else th_s

    def predict(self, theta) -> dict:
        """The modelled features of each modality the session has: ``{modality: FeatureArray}``."""
        return self._by_modality(lambda m, part: part.predict(self._theta_of(m, theta)))

    def observed(self) -> dict:
        """The session's features as each part sees them: ``{modality: FeatureArray}``."""
        return self._by_modality(lambda m, part: part.observed())

    def _by_modality(self, get) -> dict:
        """``{modality: get(m, part)}`` over the present parts, an EEG+MEG part's two flattened in."""
        out = {}
        for m, part in self._parts_present():
            value = get(m, part)
            out.update(value if isinstance(value, dict) else {m: value})
        return out

    def score(self, theta) -> dict:
        """Each present part's ``loglik`` and ``r`` (``eeg_r``, ``bold_r``, ...), and over all: the
        log-likelihood per modelled value, and ``r`` of the first present part."""
        out, total, count = {}, 0.0, 0
        for m, part in self._parts_present():
            s = part.score(self._theta_of(m, theta))
            n = len(part.labels) * (len(part.labels) - 1) // 2 if m == "bold" else part.n_values
            out[f"{m}_loglik"], out[f"{m}_r"] = s["loglik"], s["r"]
            total, count = total + s["loglik"] * n, count + n
        out["loglik"] = total / count
        out["r"] = out[f"{self.present[0]}_r"]
        return out

    def diagnostics(self, theta, posterior, prior) -> dict:
        """Each present part's diagnostics (its fit quality among them) and the shared quantities."""
        diag = {"warnings": [], "modalities": self.modalities}
        for m, part in self._parts_present():
            if m == "bold":
                sl = np.r_[self.p_s : self.p_s + self.p_b]
                sub_post = SimpleNamespace(sd=np.asarray(posterior.sd)[sl])
                sub_prior = SimpleNamespace(sd=np.asarray(prior.sd)[sl])
            else:
                sub_post, sub_prior = posterior, prior  # the spectrum's parameters come first
            more = part.diagnostics(self._theta_of(m, theta), sub_post, sub_prior)
            diag["warnings"] += [f"{m}: {w}" for w in more.pop("warnings", [])]
            more.pop("modalities", None)
            diag.update(more)
        q = self.shared_values(theta)
        diag["coupling"] = {"spectrum": q["coupling"][0], "bold": q["coupling"][1]}
        return diag

    @classmethod
    def network(cls, state, connectome) -> tuple:
        """The spectrum part's fitted network (what-if runs at its time scale)."""
        return OBJECTIVES[cls.parts[0]].network(state, connectome)

    # sensors, for Twin.simulate
    def sensor_csd(self, theta, freqs):
        """The spectrum part's sensor cross-spectrum (a session without it has no sensors)."""
        if self.parts[0] not in self.present:
            raise ConfigError("this session has no sensor features to simulate; pass one that has.")
        return self.spectrum.sensor_csd(self._split(theta)[0], freqs)

    def sensor_info(self, sfreq: float):
        """The spectrum part's channels as an ``mne.Info``."""
        return self.spectrum.sensor_info(sfreq)

    @property
    def si_factor(self):
        return getattr(self.spectrum, "si_factor", None)


def _joint(spectrum: type) -> type:
    name = spectrum.modality
    joint_parameters = {
        **spectrum.parameters,
        **{f"bold_{k}": (f"BOLD {v[0]}", v[1]) for k, v in BoldObjective.parameters.items()},
        "offset_coupling": ("coupling offset, BOLD minus " + name.upper(), "log"),
        "offset_damping": ("relative damping offset, BOLD minus " + name.upper(), "log"),
    }
    cls = type(
        f"{''.join(x.capitalize() for x in name.split('+'))}BoldObjective",
        (JointObjective,),
        {
            "__doc__": f"The joint {name.upper()} + BOLD objective (:class:`JointObjective`).",
            "__module__": __name__,
            "modality": f"{name}+bold",
            "parts": (name, "bold"),
            "quality": spectrum.quality,
            "poor_fit": spectrum.poor_fit,
            "qualities": {**spectrum.qualities, BoldObjective.quality: BoldObjective.poor_fit},
            "quality_parts": {**spectrum.quality_parts, BoldObjective.quality: "bold"},
            "parameters": joint_parameters,
            "change_thresholds": {
                **spectrum.change_thresholds,
                **{f"bold_{k}": v for k, v in BoldObjective.change_thresholds.items()},
            },
        },
    )
    return register_objective(cls)


EegBoldObjective = _joint(SpectrumObjective)
MegBoldObjective = _joint(MegSpectrumObjective)
EegMegBoldObjective = _joint(EegMegObjective)
