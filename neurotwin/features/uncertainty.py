"""Standard errors of feature values, measured from the recording itself (a delete-a-block jackknife).

A feature's precision depends on the recording: its length, how noisy it
is, how stationary the rhythm was. A fixed test-retest SD (as change
indices often use) is right for nobody. So every feature value carries the
standard error of the recording it came from: the recording's units (its
epochs, or a Raw's Welch segments) are cut into ``n_blocks`` contiguous
blocks, the feature is recomputed with each block left out, and

``se² = (K - 1) / K · Σ_k (θ_(k) - θ̄)²``

over the ``K`` leave-one-block-out values ``θ_(k)`` (Quenouille-Tukey
jackknife; the delete-a-block form of Künsch 1989 for dependent data).
Blocks, not single epochs, because neighbouring epochs of resting EEG are
correlated (alpha bursts, slow drifts in vigilance): a jackknife over
single epochs would take them for independent and give too small an SE.
The default of 10 blocks (18 s each in a 3-min recording) is the usual
batch-means compromise between block length and the SE's own precision
(its relative sd is about ``1/√(2(K-1))`` = 24 %; tests of change use a
t distribution with ``K - 1`` degrees of freedom for it).

Features read from the PSD alone (band power, IAF, aperiodic fits,
spectral edge, theta/beta) are recomputed on the leave-one-block-out PSD;
features that read the signal (connectivity, graph measures) on the
leave-one-block-out epochs (so they need epochs); features averaged over
epochs give their own (complexity). Values without an SE (a single
multitaper estimate of a Raw, a Raw with bad spans — MNE keeps no segments
across them; cut it into epochs — BOLD, MRI volumes) have ``se = NaN``.

This is written here rather than taken from a library because the
jackknife has to re-run neurotwin's own feature functions; the estimator
itself is the textbook one.
"""

from __future__ import annotations

import dataclasses

import mne
import numpy as np

__all__ = ["N_BLOCKS", "block_indices", "block_mean_se", "jackknife_se"]

#: default number of jackknife blocks
N_BLOCKS = 10


def block_indices(n_units: int, n_blocks: int = N_BLOCKS) -> list[np.ndarray] | None:
    """Contiguous blocks of ``n_units`` units (``None`` when fewer than 3 blocks can be made).

    Examples
    --------
    >>> from neurotwin.features.uncertainty import block_indices
    >>> [b.tolist() for b in block_indices(7, 3)]
    [[0, 1, 2], [3, 4], [5, 6]]
    """
    k = min(int(n_blocks), int(n_units))
    if k < 3:
        return None
    return np.array_split(np.arange(n_units), k)


def jackknife_se(replicates) -> np.ndarray:
    """Jackknife standard error from leave-one-out replicates ``(K, ...)`` (NaN-aware).

    A value needs at least ``K - 1`` finite replicates (one block may lose
    a fragile feature, such as a barely detected peak); otherwise its SE is
    NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.features.uncertainty import jackknife_se
    >>> x = np.random.default_rng(0).normal(size=400)
    >>> loo = np.array([np.delete(x, i).mean() for i in range(400)])
    >>> bool(np.isclose(jackknife_se(loo), x.std(ddof=1) / 20))
    True
    """
    reps = np.asarray(replicates, float)
    ok = np.isfinite(reps)
    n = ok.sum(axis=0)
    k = reps.shape[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(np.where(ok, reps, 0.0), axis=0) / n
        dev = np.where(ok, reps - mean, 0.0)
        var = (n - 1) / n * np.sum(dev**2, axis=0)
    return np.where(n >= max(k - 1, 2), np.sqrt(var), np.nan)


def block_mean_se(values, n_blocks: int = N_BLOCKS) -> np.ndarray:
    """SE of the mean over units ``values (n_units, ...)`` by the delete-a-block jackknife.

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.features.uncertainty import block_mean_se
    >>> se = block_mean_se(np.random.default_rng(1).normal(size=(1000, 2)))
    >>> bool(np.all((se > 0.02) & (se < 0.05)))  # 1/sqrt(1000) = 0.032
    True
    """
    values = np.asarray(values, float)
    blocks = block_indices(len(values), n_blocks)
    if blocks is None:
        return np.full(values.shape[1:], np.nan)
    total, n = np.nansum(values, axis=0), np.isfinite(values).sum(axis=0)
    reps = []
    for b in blocks:
        part = values[b]
        with np.errstate(invalid="ignore", divide="ignore"):
            reps.append((total - np.nansum(part, axis=0)) / (n - np.isfinite(part).sum(axis=0)))
    return jackknife_se(np.array(reps))


def _key(row: dict) -> tuple:
    return row["feature"], row.get("location", "global"), row.get("band", "")


def replicate_contexts(ctx, n_blocks: int, need_signal: bool):
    """Leave-one-block-out contexts of ``ctx``: ``(contexts, units)`` (``([], None)`` if not possible).

    Each shares the data's settings; its PSD is the mean of the other
    blocks' units, and (with ``need_signal`` and epochs) its data are the
    other blocks' epochs.
    """
    from .context import Context

    if not ctx.is_mne:
        return [], None
    spec = ctx.spectrum()
    if spec.segments is None:
        return [], None
    units = "epochs" if isinstance(ctx.data, mne.BaseEpochs) else "segments"
    blocks = block_indices(len(spec.segments), n_blocks)
    if blocks is None:
        return [], None
    total = spec.segments.sum(axis=0)
    out = []
    for b in blocks:
        keep = np.setdiff1d(np.arange(len(spec.segments)), b)
        power = (total - spec.segments[b].sum(axis=0)) / len(keep)
        loo = dataclasses.replace(spec, power=power, segments=None)
        data = ctx.data[keep] if need_signal and units == "epochs" else ctx.data
        out.append(
            Context(
                data, psd_method=ctx.psd_method, n_per_seg=ctx.n_per_seg, fmax=ctx.fmax, cache={"psd": loo}
            )
        )
    return out, units


def attach_se(ctx, specs, checked: dict, rows_by_spec: dict, n_blocks: int = N_BLOCKS) -> None:
    """Give every row an ``se`` (in place): the jackknife over the recording's blocks, or the feature's own.

    ``specs`` are the computed features' :class:`FeatureSpec` s, whose
    ``se`` attribute says how (``"spectrum"``, ``"epochs"``, ``"own"`` or
    ``None``); ``rows_by_spec`` maps each spec's name to the rows it made.
    """
    jack = [s for s in specs if s.se in ("spectrum", "epochs")]
    need_signal = any(s.se == "epochs" for s in jack)
    contexts, units = replicate_contexts(ctx, n_blocks, need_signal) if jack and n_blocks else ([], None)
    if units != "epochs":
        jack = [s for s in jack if s.se == "spectrum"]
    for spec in specs:
        rows = rows_by_spec.get(spec.name, [])
        if spec not in jack or not contexts:
            for r in rows:
                r.setdefault("se", np.nan)
            continue
        reps: dict[tuple, list] = {}
        for sub in contexts:
            out = spec.func(sub, **checked[spec.name])
            for r in out[0] if isinstance(out, tuple) else out:
                reps.setdefault(_key(r), []).append(r["value"] if r.get("status", "ok") == "ok" else np.nan)
        for r in rows:
            vals = reps.get(_key(r))
            ok = r.get("status", "ok") == "ok" and vals is not None and len(vals) == len(contexts)
            r["se"] = float(jackknife_se(np.array(vals, float))) if ok else np.nan
