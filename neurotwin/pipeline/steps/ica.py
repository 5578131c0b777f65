"""ICA artifact removal with automatic EOG/ECG component detection (MNE).

MNE's :class:`mne.preprocessing.ICA` does the decomposition (Picard by
default, seeded through ``random_state``) and the detection
(``find_bads_eog``: correlation with EOG channels, or with frontal
channels as proxies when no EOG was recorded; ``find_bads_ecg``:
cross-trial phase statistics on ECG events, from an ECG channel or, for
MEG, a synthetic one). Written by hand: only :class:`_Tanh`, Picard's own
density computed without its wasted work (the same numbers, faster).
"""

from __future__ import annotations

import warnings
from typing import Literal

import mne
import numpy as np
from pydantic import Field

from ..._logging import logger
from ...errors import DataError
from ._base import Step

_EOG_PROXIES = ("Fp1", "Fp2", "AF7", "AF8", "Fpz")


class _Tanh:
    """Picard's ``tanh`` density (log-cosh), evaluated in place: the same numbers, about 20 % less fit time.

    Most of an extended-Picard fit is spent evaluating this density: its
    log-likelihood at every line-search step (2-3 a iteration) and its
    score once an iteration, for every sample of every component.
    python-picard 0.8's own ``Tanh.log_lik`` (without numexpr) computes
    ``exp(-2|y|)`` twice, discarding the first, and allocates a new array
    for each operation. This class does the same operations in the same
    order once, in place, so the unmixing matrix is bit-identical
    (``tests/pipeline/test_ica_epochs.py`` checks it on a real recording);
    fits of the 32-channel simulated study and of the resting recordings
    in ``../shared/data`` took 18-20 % less CPU (``alpha`` is 1 here, so
    its products are exact). numexpr, picard's other path, was 2.5x
    *slower* on one core in the same measurement.
    """

    def log_lik(self, y: np.ndarray) -> np.ndarray:
        a = np.abs(y)
        out = np.multiply(a, -2.0)
        np.exp(out, out=out)
        np.log1p(out, out=out)
        out += a
        return out

    def score_and_der(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        score = np.tanh(y)
        der = np.multiply(score, score)
        np.subtract(1.0, der, out=der)
        return score, der


class ICA(Step):
    """Fit ICA on a 1 Hz high-passed copy and remove EOG/ECG components.

    Parameters
    ----------
    n_components : float | int
        Variance fraction (< 1) or number of components.
    method : str
        ``"picard"`` (default; python-picard), ``"fastica"`` or ``"infomax"``.
    random_state : int
        Seed of the decomposition: the same data give the same components.
    eog : "auto" | list of str | None
        EOG channels; ``"auto"``: EOG-typed channels, else Fp1/Fp2-like
        frontal channels as proxies; None: no EOG detection.
    ecg : "auto" | str | None
        ECG channel; ``"auto"``: an ECG-typed channel, or a synthetic one for
        MEG; nothing for EEG without an ECG channel.
    eog_threshold : float
        Absolute correlation of a component with an EOG channel above which
        it is removed. (A correlation, not MNE's default z-score: with few
        components a z-score of 3 cannot be reached at all.)
    ecg_threshold : float | "auto"
        CTPS threshold for ECG components.
    decim : int
        Use every ``decim``-th sample to fit (speed).
    max_fit_duration : float
        Fit on at most this many seconds' worth of samples (taken evenly
        across the whole recording by a larger ``decim``), so the cost of
        the fit stops growing with the length of the recording; the
        unmixing is applied to all of it.
    max_exclude : int
        At most this many components are removed (strongest first).
    min_duration : float
        Shorter recordings (seconds) are refused: too few samples for a
        stable decomposition and for finding heartbeats.

    Examples
    --------
    >>> from neurotwin.datasets import make_resting_eeg
    >>> from neurotwin.pipeline.steps import ICA
    >>> raw = make_resting_eeg(duration=60, blink_rate=0.5, random_state=0).filter(1, 40, verbose="error")
    >>> log = {}
    >>> raw = ICA(n_components=10, random_state=0).apply(raw, log)
    >>> len(log["excluded"]) >= 1
    True
    """

    step: Literal["ica"] = "ica"
    n_components: float | int = Field(0.99, gt=0)
    method: Literal["picard", "fastica", "infomax"] = "picard"
    random_state: int = 97
    eog: Literal["auto"] | list[str] | None = "auto"
    ecg: Literal["auto"] | str | None = "auto"
    eog_threshold: float = Field(0.5, gt=0, lt=1)
    ecg_threshold: float | Literal["auto"] = "auto"
    decim: int = Field(3, ge=1)
    max_fit_duration: float = Field(300.0, gt=0)
    max_iter: int = Field(500, ge=10)
    max_exclude: int = Field(4, ge=0)
    min_duration: float = Field(20.0, ge=0)

    def _eog_channels(self, raw) -> list[str]:
        if self.eog is None:
            return []
        if self.eog != "auto":
            missing = [c for c in self.eog if c not in raw.ch_names]
            if missing:
                raise DataError(f"ica: EOG channel(s) {missing} are not in this recording.")
            return list(self.eog)
        eog = [raw.ch_names[i] for i in mne.pick_types(raw.info, eog=True, exclude="bads")]
        return eog or [c for c in _EOG_PROXIES if c in raw.ch_names and c not in raw.info["bads"]][:2]

    def apply(self, raw, log=None):
        picks = mne.pick_types(raw.info, eeg=True, meg=True, exclude="bads")
        if len(picks) < 3:
            raise DataError(f"ica: needs at least 3 good EEG/MEG channels; found {len(picks)}.")
        duration = raw.times[-1] if raw.n_times else 0.0
        if duration < self.min_duration:
            raise DataError(
                f"ica: the recording is {duration:.1f} s long, shorter than min_duration="
                f"{self.min_duration} s; remove the ica step for such short recordings."
            )
        n_comp = self.n_components
        if isinstance(n_comp, float) and n_comp >= 1:
            n_comp = int(n_comp)
        if isinstance(n_comp, int):
            n_comp = min(n_comp, len(picks) - 1)
        fit_raw = raw if raw.info["highpass"] >= 1.0 else raw.copy().filter(1.0, None, verbose="error")
        fit_params = {"extended": True} if self.method == "infomax" else None
        if self.method == "picard":
            fit_params = {"ortho": False, "extended": True, "fun": _Tanh(), "check_fun": False}
        ica = mne.preprocessing.ICA(
            n_components=n_comp,
            method=self.method,
            random_state=self.random_state,
            max_iter=self.max_iter,
            fit_params=fit_params,
            verbose="error",
        )
        decim = max(self.decim, int(np.ceil(raw.n_times / (self.max_fit_duration * raw.info["sfreq"]))))
        with warnings.catch_warnings():  # picard warns for any density object but its own tanh's name
            warnings.filterwarnings("ignore", message="Using a different density", category=UserWarning)
            ica.fit(fit_raw, picks=picks, decim=decim, reject_by_annotation=True, verbose="error")
        found: dict[str, list[int]] = {}
        scores: dict[str, list[float]] = {}
        eog = self._eog_channels(raw)
        if eog:
            idx, sc = ica.find_bads_eog(
                fit_raw, ch_name=eog, threshold=self.eog_threshold, measure="correlation", verbose="error"
            )
            found["eog"] = [int(i) for i in idx]
            scores["eog"] = np.max(np.abs(np.atleast_2d(sc)), axis=0).round(4).tolist()
        ecg = self.ecg
        has_ecg = len(mne.pick_types(raw.info, ecg=True)) > 0
        has_meg = len(mne.pick_types(raw.info, meg=True)) > 0
        if ecg == "auto":
            ecg = None if (has_ecg or has_meg) else False
        if ecg is not False:
            idx, sc = ica.find_bads_ecg(fit_raw, ch_name=ecg, threshold=self.ecg_threshold, verbose="error")
            found["ecg"] = [int(i) for i in idx]
            scores["ecg"] = np.abs(np.asarray(sc)).round(4).tolist()
        else:
            logger.info("ica: no ECG channel (EEG); ECG detection skipped.")
        exclude: list[int] = []
        for kind in ("eog", "ecg"):
            for i in found.get(kind, []):
                if i not in exclude and len(exclude) < self.max_exclude:
                    exclude.append(i)
        ica.exclude = exclude
        ica.apply(raw, verbose="error")
        logger.info("ica: %d components, removed %s", ica.n_components_, exclude or "none")
        if log is not None:
            log.update(
                n_components=int(ica.n_components_),
                excluded=exclude,
                found=found,
                scores=scores,
                eog_channels=eog,
                method=self.method,
                random_state=self.random_state,
                decim=decim,
            )
            if exclude:
                log["qc"] = _removed_components(ica, fit_raw, exclude)
        return raw


#: what the report shows of each removed component: its map, and this many seconds of its time course
#: at no more than this rate (the JSON sidecar stays a few kB)
QC_SECONDS, QC_SFREQ = 10.0, 50.0


def _removed_components(ica, raw, exclude: list[int]) -> dict:
    """The removed components' scalp maps and a time-course excerpt (z-scored), for the report's QC.

    Examples
    --------
    >>> from neurotwin.pipeline.steps.ica import QC_SECONDS
    >>> QC_SECONDS
    10.0
    """
    maps = ica.get_components()
    sfreq = raw.info["sfreq"]
    step = max(1, int(np.ceil(sfreq / QC_SFREQ)))
    start = max(0, raw.n_times // 2 - int(QC_SECONDS * sfreq / 2))  # from the middle of the recording
    stop = min(raw.n_times, start + int(QC_SECONDS * sfreq))
    src = ica.get_sources(raw, start=start, stop=stop).get_data()[exclude][:, ::step]
    src = (src - src.mean(axis=1, keepdims=True)) / np.maximum(src.std(axis=1, keepdims=True), 1e-30)
    return {
        "channels": list(ica.ch_names),
        "sfreq": sfreq / step,
        "maps": {str(i): np.round(maps[:, i] / np.abs(maps[:, i]).max(), 3).tolist() for i in exclude},
        "sources": {str(i): np.round(row, 2).tolist() for i, row in zip(exclude, src)},
    }
