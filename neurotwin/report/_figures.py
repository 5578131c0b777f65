"""Report figures: matplotlib, rendered to byte-reproducible SVG data URIs.

Figures are ``matplotlib.figure.Figure`` objects made without pyplot, so
building a report never selects or changes the user's backend.

Reproducible: the Agg/SVG backends with a fixed ``svg.hashsalt`` (element
ids), no date in the metadata, fixed sizes and fonts; the same data give
the same bytes, run after run.
"""

from __future__ import annotations

import base64
import io

import numpy as np

RC = {
    "svg.hashsalt": "neurotwin",
    "svg.fonttype": "path",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "image.interpolation": "nearest",
}
BLUE, ORANGE, GREY, RED = "#1f5fa8", "#d9771e", "#888888", "#c0392b"


def style():
    """The reports' matplotlib settings, as a context (matplotlib is imported here, when a figure is
    drawn: a rerun whose reports are up to date never pays its import)."""
    import matplotlib as mpl

    return mpl.rc_context(RC)


def Figure(**kwargs):  # (matplotlib's name; imported when first used)
    """A ``matplotlib.figure.Figure`` (without pyplot)."""
    from matplotlib.figure import Figure as _Figure

    return _Figure(**kwargs)


def to_uri(fig) -> str:
    """The figure as an SVG data URI (closes the figure)."""
    buf = io.BytesIO()
    with style():
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _fig(w=6.0, h=3.0):
    with style():
        fig = Figure(figsize=(w, h))
        return fig, fig.subplots()


def psd_before_after(freqs_before, before, freqs_after, after) -> str:
    """Mean PSD over channels before and after preprocessing (log scale)."""
    with style():
        fig, ax = _fig()
        if before is not None:
            ax.semilogy(freqs_before, before, color=GREY, lw=1, label="raw")
        ax.semilogy(freqs_after, after, color=BLUE, lw=1.5, label="preprocessed")
        ax.set(xlabel="frequency (Hz)", ylabel="PSD (µV²/Hz)", xlim=(0, min(60, freqs_after[-1])))
        ax.legend(frameon=False)
        return to_uri(fig)


def topomaps(maps: list[tuple]) -> str:
    """One topomap per ``(title, values, channel names, unit[, smallest span])``, standard 10-05 positions.

    The colour scale covers the values, and at least ``smallest span`` around their middle.
    """
    import mne

    from ..io.channels import standard_montage

    with style():
        fig = Figure(figsize=(2.4 * len(maps), 2.6))
        axes = fig.subplots(1, len(maps))
        axes = np.atleast_1d(axes)
        montage = standard_montage()
        for ax, (title, values, names, unit, *span) in zip(axes, maps):
            keep = [i for i, n in enumerate(names) if n in montage.ch_names and np.isfinite(values[i])]
            if len(keep) < 4:  # no standard positions (e.g. numbered channels): no map
                ax.set_axis_off()
                ax.set_title(f"{title}\n(no standard positions)", fontsize=8)
                continue
            info = mne.create_info([names[i] for i in keep], 100.0, "eeg")
            info.set_montage(montage, verbose="error")
            shown = np.asarray(values, float)[keep]
            lo, hi = float(np.nanmin(shown)), float(np.nanmax(shown))
            if span and hi - lo < span[0]:
                mid = (lo + hi) / 2
                lo, hi = mid - span[0] / 2, mid + span[0] / 2
            im, _ = mne.viz.plot_topomap(
                shown, info, axes=ax, show=False, contours=4, cmap="viridis", sensors=True, vlim=(lo, hi)
            )
            ax.set_title(f"{title}\n({unit})", fontsize=8)
            fig.colorbar(im, ax=ax, shrink=0.6)
        return to_uri(fig)


def matrix(values: np.ndarray, title: str) -> str:
    """A connectivity matrix."""
    with style():
        fig, ax = _fig(3.4, 3.0)
        im = ax.imshow(values, cmap="RdBu_r", vmin=-np.nanmax(np.abs(values)), vmax=np.nanmax(np.abs(values)))
        ax.set_title(title, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, shrink=0.8)
        return to_uri(fig)


def model_vs_data(freqs, observed, model, label: str) -> str:
    """Observed and model PSD (mean over channels)."""
    with style():
        fig, ax = _fig(4.0, 2.8)
        ax.semilogy(freqs, observed, color=GREY, lw=1.2, label="observed")
        ax.semilogy(freqs, model, color=ORANGE, lw=1.5, label="twin")
        ax.set(xlabel="frequency (Hz)", ylabel="PSD", title=label)
        ax.legend(frameon=False)
        return to_uri(fig)


def trajectory(
    traj, forecast_row, flagged_sessions: set, name: str, unit: str, value_label: str = "posterior median"
) -> str:
    """A value and its 90 % band across sessions (posterior median), flagged sessions in red, the forecast."""
    with style():
        fig, ax = _fig(4.2, 2.6)
        days = traj["at"].to_numpy(float)
        ax.fill_between(days, traj["low"], traj["high"], color=BLUE, alpha=0.2, lw=0, label="90 % interval")
        ax.plot(days, traj["value"], "o-", color=BLUE, ms=4, label=value_label)
        hit = traj["session"].isin(flagged_sessions).to_numpy()
        if hit.any():
            ax.plot(
                days[hit],
                traj["value"].to_numpy()[hit],
                "o",
                color=RED,
                ms=8,
                mfc="none",
                mew=2,
                label="change flagged",
            )
        if forecast_row is not None:
            ax.errorbar(
                [forecast_row["at"]],
                [forecast_row["value"]],
                yerr=[
                    [forecast_row["value"] - forecast_row["low"]],
                    [forecast_row["high"] - forecast_row["value"]],
                ],
                fmt="s",
                color=ORANGE,
                ms=4,
                capsize=3,
                label="forecast (90 %)",
            )
            ax.plot(
                [days[-1], forecast_row["at"]],
                [traj["value"].iloc[-1], forecast_row["value"]],
                ":",
                color=ORANGE,
            )
        ax.set(xlabel="days since the first session", ylabel=f"{name} ({unit})" if unit else name)
        ax.legend(frameon=False, fontsize=7)
        return to_uri(fig)


def _title(feat: str, unit: str) -> str:
    from ..twin.longitudinal import FEATURE_INFO

    label = FEATURE_INFO[feat][0] if feat in FEATURE_INFO else feat.replace("_", " ")
    return f"{label}\n({unit})" if unit not in ("", "1") else label


def _groups(table) -> list[tuple[str, object]]:
    """The (label, mask) of each session (and task, when there are several) of a feature table."""
    tasks = sorted(set(table["task"])) if "task" in table else [""]
    keys = sorted({(s, t if len(tasks) > 1 else "") for s, t in zip(table["session"], table.get("task", ""))})
    out = []
    for ses, task in keys:
        mask = table["session"] == ses
        if task:
            mask &= table["task"] == task
        out.append(((f"ses-{ses}" if ses else "no session") + (f"\n{task}" if task else ""), mask))
    return out


def distributions(table, features: list[tuple[str, str]]) -> str:
    """Strip plots of per-recording values, one panel a feature, one column a session (and task)."""
    groups = _groups(table)
    with style():
        fig = Figure(figsize=(max(2.6, 0.9 * len(groups) + 1.2) * len(features), 2.8))
        axes = fig.subplots(1, len(features))
        axes = np.atleast_1d(axes)
        for ax, (feat, unit) in zip(axes, features):
            for k, (_, mask) in enumerate(groups):
                vals = table[(table["feature"] == feat) & mask]["value"].to_numpy(float)
                vals = vals[np.isfinite(vals)]
                x = k + (np.linspace(-0.15, 0.15, len(vals)) if len(vals) > 1 else np.zeros(len(vals)))
                ax.plot(x, vals, "o", color=BLUE, alpha=0.7, ms=4)
                if len(vals):
                    ax.hlines(np.median(vals), k - 0.3, k + 0.3, color=ORANGE)
            ax.set(xlim=(-0.6, len(groups) - 0.4), xticks=range(len(groups)), title=_title(feat, unit))
            ax.set_xticklabels([g[0] for g in groups], fontsize=7)
        return to_uri(fig)


def covariates(table, features: list[tuple[str, str]], participants) -> str:
    """Each feature against age (one point a recording, coloured by sex), or by sex without ages."""
    merged = table.merge(participants, on="subject", how="inner")
    has_age = "age" in merged and merged["age"].notna().any()
    sexes = sorted(s for s in set(merged.get("sex", [])) if s)
    colours = dict(zip(sexes, [BLUE, ORANGE, GREY, RED]))
    with style():
        fig = Figure(figsize=(2.8 * len(features), 2.6))
        axes = np.atleast_1d(fig.subplots(1, len(features)))
        for ax, (feat, unit) in zip(axes, features):
            rows = merged[merged["feature"] == feat]
            for k, sex in enumerate(sexes or [""]):
                part = rows[rows["sex"] == sex] if sexes else rows
                x = part["age"].to_numpy(float) if has_age else np.full(len(part), float(k))
                ax.plot(
                    x,
                    part["value"].to_numpy(float),
                    "o",
                    ms=4,
                    alpha=0.7,
                    color=colours.get(sex, BLUE),
                    label=sex or None,
                )
            ax.set(xlabel="age (years)" if has_age else "sex", title=_title(feat, unit))
            if not has_age and sexes:
                ax.set_xticks(range(len(sexes)))
                ax.set_xticklabels(sexes)
        if sexes and has_age:
            axes[0].legend(frameon=False, fontsize=7, title="sex", title_fontsize=7, loc="best")
        return to_uri(fig)
