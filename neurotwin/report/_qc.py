"""A clinician's quality control of one recording, drawn by MNE's own figure code.

What ``mne.Report`` shows of a recording, and a reader checks before trusting
anything derived from it: a raw-trace excerpt with the bad channels in red
(MNE's browser, matplotlib backend), every channel's PSD up to Nyquist with
the bad channels apart and the notch frequencies marked (``Spectrum.plot``),
the drop log of the epochs (``Epochs.plot_drop_log``), and each ICA
component that was removed: its scalp map (``plot_topomap``) and a
time-course excerpt, from what the ICA step logged.

Dense traces are raster figures: PNG at a fixed size and resolution,
reduced to an adaptive 64-colour palette (about 5x smaller, byte-
reproducible: no metadata, no dithering), so that three sessions stay well
under 2 MB.
"""

from __future__ import annotations

import base64
import io
import warnings

import numpy as np

from ._figures import RED, _fig, style

__all__ = ["drop_log", "ica_components", "raw_psd", "raw_qc"]

DPI = 64
#: the trace excerpt shows at most this many channels (all bad ones among them)
MAX_TRACES = 40


def png_uri(fig) -> str:
    """A figure as a palette PNG data URI (closes the figure)."""
    from PIL import Image

    buf = io.BytesIO()
    with style():
        fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    image = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    small = image.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    small.save(out, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def raw_psd(raw, fmax: float, picks, n_fft: int, **kwargs):
    """``raw.compute_psd`` (Welch) for the report's figures, whatever the recording's length.

    ``n_fft`` is cut to the recording's length, and a good span between
    BAD_ annotations shorter than it is taken whole (SciPy's Welch does so
    and warns; for a picture that is what we want).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="nperseg = ", category=UserWarning)
        return raw.compute_psd(
            fmax=fmax, picks=picks, n_fft=min(int(n_fft), raw.n_times), verbose="error", **kwargs
        )


def raw_qc(raw, bads: list[str], notch: list[float], seconds: float = 10.0) -> dict:
    """``{"traces", "psd"}`` figures of a raw recording, bad channels marked.

    Parameters
    ----------
    raw : mne.io.Raw
        The recording as read (before preprocessing), data loaded.
    bads : list of str
        The channels the pipeline found bad.
    notch : list of float
        The frequencies the notch removed (marked on the PSD).
    seconds : float
        Length of the trace excerpt (from the middle of the recording).
    """
    import mne

    with mne.utils.use_log_level("error"):  # MNE's plotting chatter is not the report's
        return _raw_qc(raw, bads, notch, seconds)


def _raw_qc(raw, bads, notch, seconds) -> dict:
    import mne

    raw = raw.copy()
    raw.info["bads"] = [b for b in bads if b in raw.ch_names]
    picks = mne.pick_types(raw.info, eeg=True, meg=True, eog=True, ecg=True, exclude=())
    if len(picks) > MAX_TRACES:  # (a 306-channel MEG): every bad channel, and others evenly spaced
        bad = [p for p in picks if raw.ch_names[p] in raw.info["bads"]][:MAX_TRACES]
        rest = [p for p in picks if p not in bad]
        step = len(rest) / (MAX_TRACES - len(bad))
        picks = np.sort(np.array(bad + [rest[int(i * step)] for i in range(MAX_TRACES - len(bad))], int))
    duration = min(seconds, raw.times[-1])
    start = max(0.0, raw.times[-1] / 2 - duration / 2)
    with mne.viz.use_browser_backend("matplotlib"), style():
        traces = raw.plot(
            start=start,
            duration=duration,
            n_channels=len(picks),
            order=picks,
            show=False,
            show_scrollbars=False,
            bad_color=RED,
            title="raw traces",
        )
        traces.set_size_inches(9.0, max(3.0, 0.22 * len(picks)))
    out = {"traces": png_uri(traces)}
    data = mne.pick_types(raw.info, eeg=True, meg=True, exclude=())
    if len(data):
        spectrum = raw_psd(raw, raw.info["sfreq"] / 2, data, 2048, exclude=())  # MNE's default n_fft
        with style():
            fig = spectrum.plot(exclude=(), amplitude=False, show=False, spatial_colors=False)
            for ax in fig.axes:  # one panel per channel type
                for f in notch:
                    ax.axvline(f, color=RED, ls="--", lw=0.8)
            fig.suptitle(
                f"every channel up to Nyquist (bad: {', '.join(raw.info['bads']) or 'none'}, "
                f"dotted); notch at {', '.join(f'{f:g}' for f in notch) or 'none'} (dashed)",
                fontsize=8,
            )
            fig.set_size_inches(9.0, max(3.0, 2.2 * len(fig.axes)))
        out["psd"] = png_uri(fig)
    return out


def drop_log(epochs) -> str:
    """The epochs' drop log (why each dropped epoch was dropped, by channel) as a figure."""
    with style():
        fig = epochs.plot_drop_log(show=False, subject=None)
        fig.set_size_inches(6.0, 2.6)
        return png_uri(fig)


def ica_components(qc: dict, info) -> str | None:
    """The removed ICA components: scalp map and time-course excerpt, one row each (None without maps).

    ``qc`` is what the ICA step logged (``log["qc"]``: channels, maps, z-scored sources and their rate);
    ``info`` places the channels (the recording's).
    """
    import mne

    names = [c for c in qc.get("channels", []) if c in info["ch_names"]]
    comps = sorted(qc.get("maps", {}), key=int)
    if not comps or len(names) < 4:
        return None
    sub = mne.pick_info(info, [info["ch_names"].index(c) for c in names])
    keep = [qc["channels"].index(c) for c in names]
    with style():
        fig, _ = _fig(8.0, 1.9 * len(comps))
        fig.clear()
        grid = fig.add_gridspec(len(comps), 2, width_ratios=[1, 4])
        for row, comp in enumerate(comps):
            ax_map = fig.add_subplot(grid[row, 0])
            mne.viz.plot_topomap(
                np.asarray(qc["maps"][comp])[keep],
                sub,
                axes=ax_map,
                show=False,
                contours=0,
                sensors=True,
                cmap="RdBu_r",
            )
            ax_map.set_title(f"ICA{int(comp):03d}", fontsize=8)
            ax_ts = fig.add_subplot(grid[row, 1])
            src = np.asarray(qc["sources"].get(comp, []), float)
            ax_ts.plot(np.arange(len(src)) / qc["sfreq"], src, color="k", lw=0.6)
            ax_ts.set(xlabel="s (excerpt)" if row == len(comps) - 1 else "", ylabel="z")
        return png_uri(fig)
