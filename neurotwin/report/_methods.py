"""Provenance and a generated methods paragraph with citations (as fMRIPrep's boilerplate)."""

from __future__ import annotations

import importlib.metadata
import re

import numpy as np

#: the sentence of a step that logs nothing specific (MRI and BOLD steps); ``{...}`` are its parameters
STEP_TEXT = {
    "reorient": "Images were reoriented to the canonical (RAS) orientation [nibabel].",
    "regional_volumes": "Regional volumes were measured from the label images [nibabel].",
    "parcellate": "BOLD time series were averaged within the regions of the subject's segmentation "
    "[nilearn].",
    "regress_confounds": "Confound signals were regressed out [nilearn].",
}
REFERENCES = {
    "mne": "Gramfort A, et al. MEG and EEG data analysis with MNE-Python. Front Neurosci 7:267 (2013).",
    "prep": "Bigdely-Shamlo N, et al. The PREP pipeline: standardized preprocessing for large-scale EEG "
    "analysis. Front Neuroinform 9:16 (2015).",
    "picard": "Ablin P, Cardoso J-F, Gramfort A. Faster independent component analysis by preconditioning "
    "with Hessian approximations. IEEE Trans Signal Process 66:4040 (2018).",
    "autoreject": "Jas M, et al. Autoreject: automated artifact rejection for MEG and EEG data. "
    "NeuroImage 159:417 (2017).",
    "specparam": "Donoghue T, et al. Parameterizing neural power spectra into periodic and aperiodic "
    "components. Nat Neurosci 23:1655 (2020).",
    "scipy": "Virtanen P, et al. SciPy 1.0: fundamental algorithms for scientific computing in Python. "
    "Nat Methods 17:261 (2020).",
    "nibabel": "Brett M, et al. nibabel. Zenodo, doi:10.5281/zenodo.591597.",
    "nilearn": "Abraham A, et al. Machine learning for neuroimaging with scikit-learn. "
    "Front Neuroinform 8:14 (2014).",
    "mnebids": "Appelhoff S, et al. MNE-BIDS: organizing electrophysiological data into the BIDS format "
    "and facilitating their analysis. J Open Source Softw 4:1896 (2019).",
    "deco2017": "Deco G, et al. The dynamics of resting fluctuations in the brain: metastability and its "
    "dynamical cortical core. Sci Rep 7:3095 (2017).",
    "tvb": "Sanz Leon P, et al. The Virtual Brain: a simulator of primate brain network dynamics. "
    "Front Neuroinform 7:10 (2013).",
    "whittle": "Whittle P. The analysis of multiple stationary time series. J R Stat Soc B 15:125 (1953).",
    "huber1967": "Huber PJ. The behavior of maximum likelihood estimates under nonstandard conditions. "
    "Proc Fifth Berkeley Symp Math Stat Probab 1:221 (1967).",
    "mejia2018": "Mejia AF, et al. Improved estimation of subject-level functional connectivity using "
    "full and partial correlation with empirical Bayes shrinkage. NeuroImage 172:478 (2018).",
    "bb2014": "Benjamini Y, Bogomolov M. Selective inference on multiple families of hypotheses. "
    "J R Stat Soc B 76:297 (2014).",
}
PACKAGES = (
    "neurotwin",
    "mne",
    "mne-bids",
    "numpy",
    "scipy",
    "matplotlib",
    "specparam",
    "python-picard",
    "autoreject",
    "nibabel",
    "nilearn",
    "scikit-learn",
    "numba",
    "jinja2",
)


def versions() -> list[tuple[str, str]]:
    """Installed versions of the packages the results depend on."""
    out = []
    for name in PACKAGES:
        try:
            out.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            out.append((name, "not installed"))
    return out


def _fmt(value):
    if isinstance(value, float):
        return f"{value:g}"
    return "-" if value is None else str(value)


def _rec(k: int, n: int) -> str:
    """``k`` of ``n`` recordings, in words."""
    if k == n:
        return {1: "the recording", 2: "both recordings"}.get(n, f"all {n} recordings")
    return f"{k} of {n} recording{'s' if n > 1 else ''}"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _were(k: int) -> str:
    return "was" if k == 1 else "were"


def _range(values) -> str:
    values = sorted(values)
    if not values:
        return "none"
    if values[0] == values[-1]:
        return f"{values[0]:g}"
    mid = float(np.median(values))
    return f"median {mid:g}, range {values[0]:g}-{values[-1]:g}"


def _crop(entries: list[dict], n: int) -> str | None:
    done = [e for e in entries if not e["log"].get("unchanged")]
    if not done:
        return None  # nothing was cut: nothing to say
    spans = sorted({f"{e['log']['kept'][0]:g}-{e['log']['kept'][1]:g} s" for e in done if "kept" in e["log"]})
    where = f" (kept {', '.join(spans[:3])}{', ...' if len(spans) > 3 else ''})" if spans else ""
    return f"{_cap(_rec(len(done), n))} {_were(len(done))} cropped{where}."


def _resample(entries, n):
    done = [e for e in entries if not e["log"].get("unchanged")]
    target = _fmt(float(entries[0]["params"].get("sfreq", 0))) if entries else "?"
    if not done:
        return f"No recording was resampled (all were at or below {target} Hz)."
    froms = sorted({float(e["log"]["sfreq_from"]) for e in done if "sfreq_from" in e["log"]})
    origin = f" from {'/'.join(f'{f:g}' for f in froms)} Hz" if froms else ""
    rest = "; the others were already at or below it" if len(done) < n else ""
    return (
        f"{_cap(_rec(len(done), n))} {_were(len(done))} resampled{origin} to {target} Hz "
        f"({done[0]['params'].get('method', 'polyphase')} resampling) [mne]{rest}."
    )


def _bandpass(entries, n):
    p = entries[0]["params"]
    lo, hi = p.get("l_freq"), p.get("h_freq")
    kind = (
        f"band-pass filter of {lo:g}-{hi:g} Hz"
        if lo is not None and hi is not None
        else f"high-pass filter at {lo:g} Hz"
        if lo is not None
        else f"low-pass filter at {hi:g} Hz"
    )
    return f"A zero-phase FIR {kind} was applied [mne]."


def _notch(entries, n):
    done = [e for e in entries if e["log"].get("line_freq") is not None and not e["log"].get("unchanged")]
    text = ""
    if done:
        mains = sorted({float(e["log"]["line_freq"]) for e in done})
        freqs = sorted({float(f) for e in done for f in e["log"].get("freqs", [])} - set(mains))
        harm = f" and its harmonics ({', '.join(f'{f:g}' for f in freqs)} Hz)" if freqs else ""
        text = (
            f"Mains interference at {'/'.join(f'{f:g}' for f in mains)} Hz{harm} was removed with "
            f"notch filters in {_rec(len(done), n)} [mne]"
        )
    missed = n - len(done)
    if missed:
        text += ("; " if text else "") + (
            f"no mains peak was found in {_rec(missed, n)}, which {_were(missed)} not notch-filtered"
        )
    return _cap(text) + "."


def _bads(entries, n):
    counts = [len(e["log"].get("bads", [])) for e in entries]
    hit = sum(c > 0 for c in counts)
    found = f"{_rec(hit, n)} had any ({_range(counts)} per recording)" if hit else "none was found"
    return (
        f"Bad channels were detected with the PREP criteria (deviation, correlation, high-frequency "
        f"noise) [prep]: {found}."
    )


def _interpolate(entries, n):
    done = [e for e in entries if e["log"].get("interpolated")]
    if not done:
        return None
    return f"They were interpolated with spherical splines in {_rec(len(done), n)} [mne]."


def _ica(entries, n):
    done = [e for e in entries if "excluded" in e["log"]]
    if not done:
        return None
    method = done[0]["log"].get("method") or done[0]["params"].get("method", "picard")
    seed = done[0]["log"].get("random_state", done[0]["params"].get("random_state"))
    removed = [len(e["log"]["excluded"]) for e in done]
    kinds = sorted({k for e in done for k, v in e["log"].get("found", {}).items() if v})
    cite = "[picard, mne]" if method == "picard" else "[mne]"
    return (
        f"Independent component analysis ({method}, seed {seed}) {cite} of {_rec(len(done), n)} "
        f"removed {_range(removed)} component(s) per recording, identified by their "
        f"correlation with {'/'.join(k.upper() for k in kinds) or 'EOG'} signals (EOG channels, or "
        f"frontal channels as a proxy)."
    )


def _rereference(entries, n):
    refs = sorted({str(e["log"].get("ref", e["params"].get("ref", "average"))) for e in entries})
    return f"Data were re-referenced to the {' / '.join(refs)} reference."


def _epochs(entries, n):
    logs = [e["log"] for e in entries if "n_total" in e["log"]]
    if not logs:
        return None
    length = logs[0].get("length", entries[0]["params"].get("length"))
    kept, total = sum(g.get("n_kept", 0) for g in logs), sum(g.get("n_total", 0) for g in logs)
    amp = sum(g.get("n_bad_amplitude", 0) for g in logs)
    ann = sum(g.get("n_bad_annotation", 0) for g in logs)
    auto = any(e["params"].get("reject_eeg") == "auto" for e in entries)
    limits = "amplitude limits" + (" learnt per recording by autoreject [autoreject]" if auto else "")
    return (
        f"Continuous data were cut into {_fmt(float(length))}-s epochs; {kept} of {total} epochs were "
        f"kept ({amp} exceeded the {limits}, {ann} overlapped bad segments)."
    )


def _features(entries, n):
    names = entries[0]["params"].get("features") or []
    spectral = {"psd", "band_power", "iaf", "aperiodic", "spectral_edge", "theta_beta"} & set(names)
    cite = " [scipy, specparam]" if {"aperiodic", "iaf"} & set(names) else " [scipy]"
    method = entries[0]["params"].get("psd_method", "welch")
    return (
        f"Features were computed per recording ({', '.join(names)}), spectra by "
        f"{'Welch' if method == 'welch' else 'multitaper'} estimation{cite if spectral else ''}."
    )


#: each step's sentence from what it logged in every recording (``None``: nothing worth saying)
SENTENCES = {
    "crop": _crop,
    "resample": _resample,
    "bandpass": _bandpass,
    "notch": _notch,
    "detect_bads": _bads,
    "interpolate": _interpolate,
    "ica": _ica,
    "rereference": _rereference,
    "epochs": _epochs,
    "features": _features,
}


def twin_text(info: dict) -> str:
    """The twin's paragraph from what its states record (modality, connectome, head, variability source).

    Examples
    --------
    >>> from neurotwin.report._methods import twin_text
    >>> "template connectome" in twin_text({"modality": "eeg", "connectome": "tvb76", "head": "tvb cortex"})
    True
    >>> pop = {"n_people": 6, "weight": 0.65, "edge_sd": 4.0}
    >>> "mean FC of 6 other people" in twin_text({"modality": "bold", "connectome": "own", "population": pop})
    True
    >>> old = {"n_people": 6, "weight": 0.65}  # fitted before the connections' prior was loosened
    >>> "loosened" in twin_text({"modality": "bold", "connectome": "own", "population": old})
    False
    """
    con = info.get("connectome", "")
    network = (
        "TVB's 76-region template connectome (not the patient's own)"
        if con.startswith("tvb")
        else "the patient's own structural connectome"
    )
    kinds = {
        "study": "the study's other subjects",
        "own": "the patient's own history",
        "default": "published test-retest studies",
    }
    sources = [v for k, v in kinds.items() if any(str(x).startswith(k) for x in info.get("sd_sources") or [])]
    variability = (
        f"the between-session variability estimated from {' and '.join(sources)}"
        if sources
        else "the between-session variability"
    )
    compare = (
        " Later sessions were compared with the first on the twin's parameters (each session's own "
        f"estimate) and on every channel's features, against the measured standard errors and {variability}; "
        "alerts control the false discovery rate at 5 % per session in two levels (families of measures, "
        "then within them) [bb2014]."
    )
    update = (
        " Sessions were fitted in time order, each session's posterior (plus a random-walk drift) "
        "serving as the next one's prior."
    )
    if info.get("n_states", 2) < 2:  # one session: nothing was updated or compared
        update, compare = " The twin has one session so far: nothing is compared or forecast yet.", ""
    pop = info.get("population") or {}
    # (a state fitted before the loosened prior records no edge_sd: its connections kept the connectome's)
    loosened = (
        f", and fitted with the connections' prior loosened to sd {pop['edge_sd']:g} (log scale)"
        if "edge_sd" in pop
        else ""
    )
    prior = (
        f" The first session's FC was shrunk towards the mean FC of {pop['n_people']} other people, each "
        f"weighted by its reliability (empirical Bayes, session weight {pop['weight']:.2f}) [mejia2018]"
        f"{loosened}."
        if pop.get("n_people")
        else ""
    )
    if info.get("modality") == "bold":
        return (
            f"Each patient's twin is a network of Stuart-Landau (Hopf) oscillators coupled through "
            f"{network} [deco2017, tvb], fitted to band-passed BOLD functional connectivity by "
            f"maximising a Wishart likelihood (L-BFGS) with a Laplace posterior." + prior + update + compare
        )
    head = head_sources(str(info.get("head", "")))
    heads = {
        "eeg": "a three-shell spherical head fitted to the electrodes",
        "meg": "a spherical head (MNE's MEG forward model of the recording's own coils)",
    }
    kinds = [m for m in str(info.get("modality", "eeg")).split("+") if m in heads] or ["eeg"]
    where = " and ".join(heads[m] + (f" for the {m.upper()}" if len(kinds) > 1 else "") for m in kinds)
    if info.get("anatomy"):
        head, where = anatomy_text(info["anatomy"]), "the patient's own head (MNE's forward model)"
    return (
        f"Each patient's twin is a network of Stuart-Landau (Hopf) oscillators, each region with its own "
        f"alpha frequency and damping, coupled through {network} with conduction delays [deco2017, tvb], "
        f"seen through a lead field of {head} in {where}, "
        f"plus each channel's gain, aperiodic background and beta rhythm; below the bifurcation its sensor "
        f"spectrum has a closed form. It was fitted to each session's power spectra by maximising the "
        f"Whittle likelihood [whittle] (L-BFGS), with a Fisher-information posterior widened by the "
        f"sandwich estimator over the recording's blocks [huber1967]." + prior + update + compare
    )


def head_sources(head: str) -> str:
    """What a state's ``head`` record says the sources are, in words.

    Examples
    --------
    >>> from neurotwin.report._methods import head_sources
    >>> head_sources("region centres (their orientations)")
    "dipoles at the region centres along the connectome's orientations"
    """
    if head.startswith("tvb cortex"):
        return f"dipoles normal to the template cortex ({head})"
    if "their orientations" in head:
        return "dipoles at the region centres along the connectome's orientations"
    return "radial dipoles at the region centres"


def own_anatomy(features: dict) -> dict | None:
    """The patient's own anatomy a twin state's lead field used (its spectrum part's), or None."""
    if features.get("anatomy"):
        return features["anatomy"]
    parts = features.get("parts") or {}
    return next((p["anatomy"] for p in parts.values() if isinstance(p, dict) and p.get("anatomy")), None)


def coregistration_text(anatomy: dict) -> str:
    """The transform's check against the recording, as a phrase (``not checked`` without head points)."""
    coreg = anatomy.get("coregistration") or {}
    return f"{coreg['measure']} {coreg['mm']:.1f} mm" if coreg.get("mm") is not None else "not checked"


def anatomy_text(anatomy: dict) -> str:
    """What of a head was the patient's own, and how well the recording sat on it.

    Examples
    --------
    >>> from neurotwin.report._methods import anatomy_text
    >>> text = anatomy_text({"head_model": "BEM (1 layer)", "cortex": "tvb cortex in x's inner skull",
    ...                      "coregistration": {"measure": "median electrode-to-scalp distance", "mm": 3.0}})
    >>> text.split("; ")[1]
    'sensors placed by the head-to-MRI transform (median electrode-to-scalp distance 3.0 mm)'
    """
    check = coregistration_text(anatomy)
    model = anatomy.get("head_model", "")
    model = f"in its {model} from the MRI" if model.startswith("BEM") else f"in a {model}"
    sources = anatomy.get("cortex", "the cortex")
    sources = sources if sources.startswith("radial dipoles") else f"dipoles normal to {sources}"
    return f"{sources}, {model}; sensors placed by the head-to-MRI transform ({check})"


def methods(
    records: list[list[dict]],
    *,
    steps: list[dict] | None = None,
    twin: dict | None = None,
    n_failed: int = 0,
    bids: bool = True,
) -> tuple[str, list[tuple[str, str]]]:
    """The methods paragraph from what each step logged in each recording, and its references.

    Parameters
    ----------
    records : list of list of dict
        Per recording, its sidecar's ``Steps`` (``step``, ``params``, ``log``).
    steps : list of dict | None
        The pipeline's steps (``step`` and parameters), for steps no recording logged.
    twin : dict | None
        What the twin's states record (:func:`twin_text`); None: no twin paragraph.
    n_failed : int
        Recordings that failed (said, not described).
    bids : bool
        Whether the recordings were read from a BIDS dataset (through MNE-BIDS).

    Returns
    -------
    text : str
    references : list of (key, text)

    Examples
    --------
    >>> from neurotwin.report._methods import methods
    >>> log = {"line_freq": None, "unchanged": True}
    >>> rec = [{"step": "notch", "params": {"line_freq": "auto"}, "log": log}]
    >>> methods([rec], bids=False)[0]
    'One recording was processed. No mains peak was found in the recording, which was not notch-filtered.'
    """
    n = len(records)
    order: list[str] = []
    by_step: dict[str, list[dict]] = {}
    for rec in records:
        for e in rec:
            if e["step"] not in by_step:
                order.append(e["step"])
            by_step.setdefault(e["step"], []).append({"params": e.get("params", {}), "log": e.get("log", {})})
    for step in steps or []:
        if step["step"] not in by_step:
            order.append(step["step"])
    failed = f"; {n_failed} failed and are not described here" if n_failed else ""
    sentences = [f"{'One recording was' if n == 1 else f'{n} recordings were'} processed{failed}."]
    for name in order:
        entries = by_step.get(name)
        if not entries and name in SENTENCES:  # a step that writes no sidecar of its own (features)
            entries = [{"params": next(s for s in steps if s["step"] == name), "log": {}}]
        if entries and name in SENTENCES:
            text = SENTENCES[name](entries, n)
        else:
            params = entries[0]["params"] if entries else next(s for s in steps if s["step"] == name)
            template = STEP_TEXT.get(name)
            text = None if template is None else template.format(**{k: _fmt(v) for k, v in params.items()})
        if text:
            sentences.append(text)
    if bids:
        sentences.append("Data were read with MNE-BIDS [mnebids].")
    if twin:
        sentences.append(twin_text(twin))
    text = " ".join(sentences)
    keys: list[str] = []

    def number(match):
        cited = [k.strip() for k in match.group(1).split(",")]
        for k in cited:
            if k not in keys:
                keys.append(k)
        return "[" + ", ".join(str(keys.index(k) + 1) for k in cited) + "]"

    text = re.sub(r"\[([a-z0-9, ]+)\]", number, text)
    return text, [(key, REFERENCES[key]) for key in keys]
