"""The sensor geometry a twin needs to see the brain through a recording's sensors.

A lead field needs to know where each sensor is and what it measures:
an EEG electrode's position on the head, and an MEG coil's position,
orientation and type (MNE's coil definitions) with the device-to-head
transform and a sphere fitted to the head. These are stored next to the
PSD (:func:`neurotwin.features.spectral.psd`) as FeatureArrays, so a twin
can be fitted, or refitted, from the feature files alone, without the
recording. Nothing here identifies a person: no names or dates, and no
head-shape points, only the sphere fitted to them.

Examples
--------
>>> import mne
>>> from neurotwin.features.sensors import MEG_FIELDS
>>> MEG_FIELDS[-1]
'coil_type'
"""

from __future__ import annotations

import mne
import numpy as np

from .featureset import FeatureArray

__all__ = ["DEFAULT_SPHERE", "MEG_FIELDS", "head_sphere", "meg_info", "meg_types", "sensor_arrays"]

#: the columns of ``meg_sensors``: MNE's 12 ``loc`` values (position, then the coil's three axes, device
#: frame, m) and the coil type
MEG_FIELDS = [f"loc{i}" for i in range(12)] + ["coil_type"]
#: origin (head frame, m) and radius of the head sphere when the recording has too few head points to
#: fit one: MNE's default MEG sphere origin (``make_sphere_model``'s) and an adult head's radius
DEFAULT_SPHERE = (0.0, 0.0, 0.04, 0.09)
#: head points needed to fit a sphere (more than its 4 unknowns)
MIN_HEAD_POINTS = 8


def head_sphere(info: mne.Info) -> tuple[tuple[float, float, float, float], bool]:
    """Origin (head frame, m) and radius of a sphere fitted to the head points, and whether it was fitted.

    Uses MNE's :func:`mne.bem.fit_sphere_to_headshape` on the digitised
    head points (extra points, else EEG electrodes); with fewer than
    :data:`MIN_HEAD_POINTS`, :data:`DEFAULT_SPHERE`.

    Examples
    --------
    >>> import mne
    >>> from neurotwin.features.sensors import head_sphere
    >>> head_sphere(mne.create_info(["MEG 0111"], 1000.0, "mag"))
    ((0.0, 0.0, 0.04, 0.09), False)
    """
    dig = info.get("dig") or []
    kinds = (mne.io.constants.FIFF.FIFFV_POINT_EXTRA, mne.io.constants.FIFF.FIFFV_POINT_EEG)
    for kind in kinds:
        if sum(d["kind"] == kind for d in dig) >= MIN_HEAD_POINTS:
            label = "extra" if kind == kinds[0] else "eeg"
            radius, origin, _ = mne.bem.fit_sphere_to_headshape(
                info, dig_kinds=(label,), units="m", verbose="error"
            )
            return (*(float(x) for x in origin), float(radius)), True
    return DEFAULT_SPHERE, False


def sensor_arrays(info: mne.Info, ch_names: list[str]) -> dict[str, FeatureArray]:
    """The MEG sensor geometry of these channels, as FeatureArrays (empty without MEG channels).

    ``meg_sensors`` (channel x :data:`MEG_FIELDS`) for the magnetometers and
    gradiometers among ``ch_names``, ``dev_head_t`` (4 x 4; the identity when
    the recording has none) and, when the recording has enough head points,
    ``head_sphere`` (x, y, z, radius; m; :func:`head_sphere`).

    Examples
    --------
    >>> import mne
    >>> from neurotwin.features.sensors import sensor_arrays
    >>> sorted(sensor_arrays(mne.create_info(["Fz"], 250.0, "eeg"), ["Fz"]))
    []
    """
    types = info.get_channel_types(picks=list(ch_names))
    meg = [c for c, t in zip(ch_names, types) if t in ("mag", "grad")]
    if not meg:
        return {}
    chs = [info["chs"][info.ch_names.index(c)] for c in meg]
    geo = np.array([np.r_[np.asarray(ch["loc"], float), float(ch["coil_type"])] for ch in chs])
    trans = info.get("dev_head_t")
    t = np.asarray(trans["trans"], float) if trans is not None else np.eye(4)
    sphere, fitted = head_sphere(info)
    axis = ["0", "1", "2", "3"]
    out = {
        "meg_sensors": FeatureArray(geo, ("channel", "field"), {"channel": meg, "field": MEG_FIELDS}),
        "dev_head_t": FeatureArray(t, ("row", "col"), {"row": axis, "col": axis}),
    }
    if fitted:
        out["head_sphere"] = FeatureArray(
            np.asarray(sphere, float), ("field",), {"field": ["x", "y", "z", "radius"]}, unit="m"
        )
    return out


def meg_types(geometry) -> list[str]:
    """MNE's channel type of each row of a ``meg_sensors`` array, from its coil type.

    Planar gradiometers are ``grad``; every other MEG coil, axial
    gradiometers too, is ``mag`` (as MNE types them; the coil type itself is
    what the forward model uses).

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.features.sensors import meg_types
    >>> meg_types(np.array([[0.0] * 12 + [3012.0], [0.0] * 12 + [3022.0]]))  # Neuromag planar, magnetometer
    ['grad', 'mag']
    """
    from mne.io.constants import FIFF

    planar = {FIFF.FIFFV_COIL_VV_PLANAR_T1, FIFF.FIFFV_COIL_VV_PLANAR_T2, FIFF.FIFFV_COIL_VV_PLANAR_T3}
    return ["grad" if int(c) in planar else "mag" for c in np.asarray(geometry, float)[:, 12]]


def meg_info(geometry, names: list[str], dev_head_t, sfreq: float = 1000.0, sphere=None) -> mne.Info:
    """An :class:`mne.Info` of MEG channels rebuilt from a ``meg_sensors`` array (for the forward model).

    With ``sphere`` (x, y, z, radius; head frame, m), the Info also gets
    head points on its upper half (a ring every 30° of elevation), so a
    sphere fitted to them (:func:`head_sphere`) is that sphere again: what a
    recording simulated through these sensors needs to be fitted with the
    same head. They describe a sphere, not a person.

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.features.sensors import meg_info
    >>> geo = np.r_[0, 0, 0.12, 1, 0, 0, 0, 1, 0, 0, 0, 1, 3022.0][None]
    >>> meg_info(geo, ["MEG 0111"], np.eye(4)).get_channel_types()
    ['mag']
    """
    from mne.io.constants import FIFF

    geometry = np.asarray(geometry, float)
    coil = geometry[:, 12].astype(int)
    info = mne.create_info(list(names), float(sfreq), meg_types(geometry))
    with info._unlock():
        for ch, row, c in zip(info["chs"], geometry, coil):
            ch["loc"] = row[:12].copy()
            ch["coil_type"] = int(c)
            ch["coord_frame"] = FIFF.FIFFV_COORD_DEVICE
        info["dev_head_t"] = mne.transforms.Transform("meg", "head", np.asarray(dev_head_t, float))
    if sphere is not None:
        x, y, z, radius = (float(v) for v in sphere)
        points = [
            (np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el))
            for el in np.radians([0, 30, 60])
            for az in np.radians(np.arange(0, 360, 30))
        ] + [(0.0, 0.0, 1.0)]
        hsp = np.array([x, y, z]) + radius * np.array(points)
        montage = mne.channels.make_dig_montage(hsp=hsp, coord_frame="head")
        info.set_montage(montage, verbose="error")
    return info
