"""Provenance and a generated methods paragraph with citations (as fMRIPrep's boilerplate)."""

from __future__ import annotations

import importlib.metadata
import re

#: what each step did, in a sentence; ``{...}`` fields come from the step's parameters
STEP_TEXT = {
    "crop": "Recordings were cropped to {tmin}-{tmax} s.",
    "resample": "Data were resampled to {sfreq} Hz ({method} resampling) [mne].",
    "bandpass": "A zero-phase FIR band-pass filter of {l_freq}-{h_freq} Hz was applied [mne].",
    "notch": "Mains interference and {n_harmonics} harmonics were removed with notch filters "
    "(mains frequency {line_freq}) [mne].",
    "detect_bads": "Bad channels were detected with the PREP criteria (deviation, correlation, "
    "high-frequency noise) [prep]",
    "interpolate": "and interpolated with spherical splines [mne].",
    "ica": "Ocular (and cardiac) artefacts were removed by independent component analysis ({method}, "
    "seed {random_state}) [picard, mne], with components identified by correlation with EOG/ECG "
    "channels or frontal proxies.",
    "rereference": "Data were re-referenced to the {ref} reference.",
    "epochs": "Continuous data were cut into {length}-s epochs; epochs overlapping bad annotations or "
    "exceeding amplitude limits learnt by autoreject were dropped [autoreject].",
    "features": "Power spectra (Welch), band powers, individual alpha frequency and aperiodic (1/f) "
    "fits were computed [scipy, specparam].",
    "reorient": "Images were reoriented to the canonical (RAS) orientation [nibabel].",
    "regional_volumes": "Regional volumes were measured from the label images [nibabel].",
    "parcellate": "BOLD time series were averaged within the regions of the subject's segmentation "
    "[nilearn].",
    "regress_confounds": "Confound signals were regressed out [nilearn].",
}
TWIN_TEXT = (
    "Each patient's neurological twin is a network of Stuart-Landau (Hopf) oscillators coupled "
    "through a structural connectome with conduction delays [deco2017, tvb], observed through a "
    "spherical-head lead field; below the bifurcation its sensor cross-spectrum has a closed form. The "
    "twin was fitted to each session's power spectra by maximising the Whittle likelihood [whittle] "
    "(L-BFGS with restarts) with a Laplace approximation of the posterior, sessions in time order, "
    "each session's posterior (plus a random-walk drift) serving as the next session's prior. Changes "
    "were flagged when the posterior probability of a change larger than a clinically meaningful "
    "threshold exceeded 0.95, and features by the reliable-change index [jacobson1991]."
)
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
    "jacobson1991": "Jacobson NS, Truax P. Clinical significance: a statistical approach to defining "
    "meaningful change in psychotherapy research. J Consult Clin Psychol 59:12 (1991).",
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


def methods(steps: list[dict], twin: bool) -> tuple[str, list[tuple[str, str]]]:
    """The methods paragraph for a pipeline's steps, and its numbered references ``(key, text)``."""
    sentences = []
    for step in steps:
        template = STEP_TEXT.get(step["step"])
        if template is None:
            continue
        fields = {k: _fmt(v) for k, v in sorted(step.items())}
        try:
            sentences.append(template.format(**fields))
        except (KeyError, IndexError):
            sentences.append(template.split("{")[0].rstrip(" (") + ".")
    text = (
        " ".join(sentences)
        + " Data were organised and read with MNE-BIDS [mnebids]."
        + (" " + TWIN_TEXT if twin else "")
    )
    keys: list[str] = []

    def number(match):
        cited = [k.strip() for k in match.group(1).split(",")]
        for k in cited:
            if k not in keys:
                keys.append(k)
        return "[" + ", ".join(str(keys.index(k) + 1) for k in cited) + "]"

    text = re.sub(r"\[([a-z0-9, ]+)\]", number, text)
    return text, [(key, REFERENCES[key]) for key in keys]
