"""Synthetic resting MEG: a helmet of sensors and a recording drawn from the twin's own MEG model.

No package we depend on ships an MEG sensor layout (MNE ships helmet
surfaces and coil definitions, not a system's channel positions), so
:func:`make_meg_sensors` lays out one: sensor sites spread evenly (a
Fibonacci lattice) over a helmet-sized spherical cap in the device frame,
each with a magnetometer and two orthogonal planar gradiometers, with
Neuromag's coil types (``3024`` and ``3012``) so MNE's forward model
knows them. :func:`make_resting_meg` draws a recording from the MEG twin's
model of a connectome (:class:`~neurotwin.twin.objectives.MegSpectrumObjective`:
a Hopf network, dipoles at the region centres along the connectome's
orientations, a sphere head, each sensor type's aperiodic background and
beta rhythm) as a Gaussian process with the model's sensor
cross-spectrum. It is a simulation for the sample study, not a validation:
the same model fits it.

Examples
--------
>>> from neurotwin.datasets.meg import make_meg_sensors
>>> info = make_meg_sensors(8)
>>> sorted(set(info.get_channel_types())), len(info.ch_names)
(['grad', 'mag'], 24)
"""

from __future__ import annotations

import mne
import numpy as np

from ..errors import ConfigError, DataError
from ..features.sensors import meg_info

__all__ = ["make_meg_sensors", "make_resting_meg", "HEAD_SPHERE"]

#: the simulated head: a sphere (x, y, z, radius; head frame, m), 4 cm above the head frame's origin
HEAD_SPHERE = (0.0, 0.0, 0.04, 0.09)
#: the helmet: a cap of this radius (m) around the device origin, which sits at the head sphere's centre
_HELMET_RADIUS = 0.12
#: each sensor type's typical amplitude spectral density: magnetometers 10 fT/√Hz, planar
#: gradiometers 3 fT/cm/√Hz (resting MEG's order of magnitude in 2-40 Hz)
_LEVEL = {"mag": 10e-15, "grad": 3e-13}


def make_meg_sensors(n_sites: int = 24, sfreq: float = 128.0) -> mne.Info:
    """An :class:`mne.Info` of ``n_sites`` sensor sites on a helmet (one magnetometer and two planar
    gradiometers each), its device-to-head transform and head points on :data:`HEAD_SPHERE`.

    Parameters
    ----------
    n_sites : int
        Sensor sites, spread over the helmet from 20° below its equator to the top.
    sfreq : float
        The sampling rate the Info records.

    Returns
    -------
    info : mne.Info
        Channels ``MEG 0011``, ``MEG 0012``, ``MEG 0013``, ... (magnetometer, then its two
        gradiometers, as Neuromag names them).
    """
    from mne.io.constants import FIFF

    if n_sites < 4:
        raise ConfigError(f"an MEG helmet needs at least 4 sensor sites, got {n_sites}.")
    k = np.arange(n_sites) + 0.5
    z = 1.0 - (1.0 + np.sin(np.radians(20.0))) * k / n_sites  # from the top to 20° below the equator
    phi = np.pi * (1 + 5**0.5) * k
    r = np.sqrt(1 - z**2)
    ez = np.column_stack([r * np.cos(phi), r * np.sin(phi), z])  # outward normal (device frame)
    ex = np.cross([0.0, 0.0, 1.0], ez)
    ex[np.linalg.norm(ex, axis=1) < 1e-9] = (1.0, 0.0, 0.0)
    ex /= np.linalg.norm(ex, axis=1, keepdims=True)
    ey = np.cross(ez, ex)
    rows, names = [], []
    for i in range(n_sites):
        pos = _HELMET_RADIUS * ez[i]
        for j, (coil, a, b) in enumerate(
            (
                (FIFF.FIFFV_COIL_VV_MAG_T3, ex[i], ey[i]),
                (FIFF.FIFFV_COIL_VV_PLANAR_T1, ex[i], ey[i]),  # gradient along ex
                (FIFF.FIFFV_COIL_VV_PLANAR_T1, ey[i], -ex[i]),  # gradient along ey
            )
        ):
            rows.append(np.r_[pos, a, b, ez[i], coil])
            names.append(f"MEG {i + 1:03d}{j + 1}")
    dev_head = np.eye(4)
    dev_head[:3, 3] = HEAD_SPHERE[:3]  # the device origin at the head sphere's centre
    return meg_info(np.array(rows), names, dev_head, sfreq=sfreq, sphere=HEAD_SPHERE)


def make_resting_meg(
    connectome,
    *,
    duration: float = 30.0,
    sfreq: float = 128.0,
    alpha_freq: float = 10.0,
    n_sites: int = 24,
    line_freq: float | None = 50.0,
    random_state=None,
) -> mne.io.RawArray:
    """A resting MEG recording drawn from the MEG twin's model of ``connectome``.

    Parameters
    ----------
    connectome : Connectome
        With centres, tract lengths and region orientations
        (``make_connectome(..., orientations=True)``): radial dipoles would
        be invisible to MEG.
    duration, sfreq : float
        Seconds and sampling rate (Hz).
    alpha_freq : float
        The network's alpha frequency (Hz); every other parameter is the
        MEG twin's prior mean.
    n_sites : int
        Sensor sites of :func:`make_meg_sensors` (three channels each).
    line_freq : float | None
        Recorded as the mains frequency (no mains is added).
    random_state : int | numpy.random.Generator | None
        Seed.

    Returns
    -------
    raw : mne.io.RawArray
        Magnetometers in T, gradiometers in T/m.

    Examples
    --------
    >>> from neurotwin.datasets import make_connectome
    >>> from neurotwin.datasets.meg import make_resting_meg
    >>> raw = make_resting_meg(make_connectome(10, orientations=True), duration=4.0, random_state=0)
    >>> raw.get_data().shape
    (72, 512)
    """
    from ..model import sphere_leadfield
    from ..model.connectome import normalize_weights
    from ..model.synthesis import gaussian_from_csd
    from ..twin.objectives import MegSpectrumObjective

    if connectome.orientations is None:
        raise DataError(
            "MEG sees no radial dipoles: the connectome needs its regions' orientations "
            "(make_connectome(..., orientations=True))."
        )
    con = normalize_weights(connectome, "max")
    info = make_meg_sensors(n_sites, sfreq)
    gain = sphere_leadfield(info, con.centres, con.labels, con.orientations, sphere=HEAD_SPHERE).gain
    scale = np.array([_LEVEL[t] for t in info.get_channel_types()])
    freqs = np.arange(1.0, 45.01, 0.5)
    flat = np.ones((len(scale), len(freqs)))  # the prior's levels: each type at its typical amplitude
    obj = MegSpectrumObjective(
        con.weights, con.tract_lengths, gain / scale[:, None], freqs, flat, 60, channels=info.ch_names
    )
    obj.channel_scale = scale
    theta = np.array(obj.prior.mean, float)
    theta[obj.prior.names.index("f")] = float(alpha_freq)
    grid = np.linspace(0.0, sfreq / 2, int(np.ceil(sfreq / 2 / 0.25)) + 1)
    csd = obj.sensor_csd(theta, grid[1:])
    csd = np.concatenate([csd[:1], csd])
    data = gaussian_from_csd(csd, grid, int(round(duration * sfreq)), sfreq, random_state=random_state)
    raw = mne.io.RawArray(data, info, verbose="error")
    if line_freq is not None:
        with raw.info._unlock():
            raw.info["line_freq"] = float(line_freq)
    return raw
