"""Cheap integrity checks run before a file reaches its reader.

MNE reads a truncated EDF with only a warning (inferring the record count
from the file size) and a text-mode (CRLF) damaged EDF fails with a bare
``Exception``. These checks parse the headers ourselves, compare the size
the header promises with the size on disk, and raise a
:class:`~neurotwin.errors.DataError` that names the file and the cause.
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import numpy as np

from ..errors import DataError, MissingFileError

_EDF_FIXED = 256
_EDF_PER_SIGNAL = 256


#: Sampling rates (Hz) a real EEG/MEG/iEEG recording can have. Below 1 Hz
#: no EEG rhythm is sampled; above 100 kHz no clinical or research amplifier
#: records (microelectrode systems reach 40 kHz). A rate outside is a
#: damaged header (an EDF record duration that lies, a 1e9-Hz FIF).
SFREQ_RANGE = (1.0, 100_000.0)


def check_sfreq(sfreq: float, path: Path, where: str = "") -> None:
    """Refuse a sampling rate outside :data:`SFREQ_RANGE`.

    Parameters
    ----------
    sfreq : float
        The rate the header implies, in Hz.
    path : Path
        The file, named in the error.
    where : str
        Where the rate comes from (e.g. ``"the record duration"``).

    Raises
    ------
    DataError
        If ``sfreq`` is not finite or lies outside the range.
    """
    low, high = SFREQ_RANGE
    if not np.isfinite(sfreq) or not low <= sfreq <= high:
        source = f" (from {where})" if where else ""
        raise DataError(
            f"{path}: the sampling rate is {sfreq:.6g} Hz{source}; a real recording has "
            f"{low:g}-{high:g} Hz. The header is damaged; re-export the recording."
        )


def check_readable(path: Path) -> None:
    """Refuse a file that cannot be opened (permissions, I/O error).

    Raises
    ------
    DataError
        Naming the file and the operating system's reason.
    """
    try:
        with open(path, "rb") as fid:
            fid.read(1)
    except PermissionError:
        raise DataError(
            f"{path}: permission denied; this user may not read the file. "
            "Ask its owner to grant read access (chmod/chown)."
        ) from None
    except OSError as err:
        raise DataError(f"{path}: the file cannot be opened ({err.strerror or err}).") from None


def check_nonempty(path: Path) -> None:
    """Refuse an unreadable or zero-byte file."""
    if path.is_file():
        check_readable(path)
        if path.stat().st_size == 0:
            raise DataError(f"{path}: the file is empty (0 bytes). Copy it again from its source.")


def _field(header: bytes, start: int, stop: int, what: str, path: Path) -> str:
    raw = header[start:stop]
    try:
        return raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise DataError(
            f"{path}: the header field '{what}' (bytes {start}-{stop}) is not "
            "ASCII text: the header is damaged. Re-export the recording."
        ) from None


def _number(header: bytes, start: int, stop: int, what: str, path: Path, kind=int):
    text = _field(header, start, stop, what, path)
    try:
        return kind(text)
    except ValueError:
        raise DataError(
            f"{path}: the header field '{what}' should be a number but reads "
            f"{text!r}: the header is damaged. Re-export the recording."
        ) from None


def check_edf(path: Path) -> None:
    """Check an EDF/EDF+/BDF file's header against its size.

    Raises
    ------
    DataError
        On a short or non-EDF header, unparsable fields, a sampling rate
        <= 0, or a data section whose size does not match the header
        (truncation, or CRLF text-mode damage, which is named as such).
    """
    check_nonempty(path)
    size = path.stat().st_size
    is_bdf = path.suffix.lower() == ".bdf"
    with open(path, "rb") as fid:
        head = fid.read(_EDF_FIXED)
        if len(head) < _EDF_FIXED:
            raise DataError(
                f"{path}: only {len(head)} bytes; an EDF/BDF header needs at "
                f"least {_EDF_FIXED}. The file is truncated."
            )
        version = head[:8]
        if is_bdf:
            ok = version == b"\xffBIOSEMI"
        else:
            ok = version.rstrip(b" ") == b"0"
        if not ok:
            kind = "BDF" if is_bdf else "EDF"
            raise DataError(
                f"{path}: does not start with the {kind} version field "
                f"(found {version!r}); it is not an {kind} file or its header is "
                "damaged. Check the file type and extension."
            )
        n_bytes = _number(head, 184, 192, "header bytes", path)
        n_records = _number(head, 236, 244, "number of records", path)
        duration = _number(head, 244, 252, "record duration", path, float)
        n_sig = _number(head, 252, 256, "number of signals", path)
        if n_sig <= 0:
            raise DataError(f"{path}: the header declares {n_sig} signals; nothing to read.")
        if n_bytes != _EDF_FIXED * (n_sig + 1):
            raise DataError(
                f"{path}: the header declares {n_bytes} header bytes but "
                f"{n_sig} signals need {_EDF_FIXED * (n_sig + 1)}: the header is damaged."
            )
        sig = fid.read(_EDF_PER_SIGNAL * n_sig)
    if len(sig) < _EDF_PER_SIGNAL * n_sig:
        raise DataError(f"{path}: the signal headers are cut short: the file is truncated.")
    labels = [_field(sig, 16 * i, 16 * (i + 1), f"label {i + 1}", path) for i in range(n_sig)]
    off = n_sig * (16 + 80 + 8 + 8 + 8 + 8 + 8 + 80)
    n_samps = [
        _number(sig, off + 8 * i, off + 8 * (i + 1), f"samples of {labels[i]!r}", path) for i in range(n_sig)
    ]
    signal_idx = [i for i, lab in enumerate(labels) if "annotations" not in lab.lower()]
    if signal_idx:
        if duration <= 0:
            raise DataError(
                f"{path}: the record duration is {duration} s, so the sampling "
                "rate would be <= 0. The header is damaged; re-export the recording."
            )
        bad = [labels[i] for i in signal_idx if n_samps[i] <= 0]
        if bad:
            raise DataError(
                f"{path}: signal(s) {bad} have {min(n_samps[i] for i in signal_idx)} samples "
                "per record (sampling rate <= 0). The header is damaged."
            )
        check_sfreq(
            max(n_samps[i] for i in signal_idx) / duration,
            path,
            f"{max(n_samps[i] for i in signal_idx)} samples per {duration:g}-s record",
        )
        _check_edf_ranges(sig, n_sig, labels, signal_idx, path)
    width = 3 if is_bdf else 2
    record = sum(n_samps) * width
    data = size - n_bytes
    if n_records == -1 or n_records == 0:
        if record == 0 or data % record:
            raise DataError(
                f"{path}: the data section ({data} bytes) is not a whole number of "
                f"{record}-byte records: the file is truncated or damaged."
            )
        return
    if n_records < 0:
        raise DataError(f"{path}: the header declares {n_records} data records.")
    expected = n_records * record
    if data == expected:
        return
    with open(path, "rb") as fid:
        n_crlf = fid.read().count(b"\r\n")
    if data > expected and n_crlf and abs((data - expected) - n_crlf) <= max(2, n_crlf // 50):
        raise DataError(
            f"{path}: {data - expected} bytes more than the header describes, "
            f"and {n_crlf} CR-LF pairs: the file was damaged by a text-mode "
            "(line-ending) conversion. Transfer it again in binary mode."
        )
    cause = "truncated (incomplete copy or recording)" if data < expected else "longer than its header says"
    raise DataError(
        f"{path}: the header describes {n_records} records of {record} bytes "
        f"({expected} data bytes) but the file holds {data}: it is {cause}. "
        "Copy or export it again."
    )


def _check_edf_ranges(sig: bytes, n_sig: int, labels: list[str], signal_idx: list[int], path: Path) -> None:
    """Refuse signals whose physical or digital range is empty (no gain)."""
    base = n_sig * (16 + 80 + 8)  # label, transducer, physical dimension

    def column(k: int, what: str) -> list[float]:
        off = base + k * 8 * n_sig
        return [
            _number(sig, off + 8 * i, off + 8 * (i + 1), f"{what} of {labels[i]!r}", path, float)
            for i in range(n_sig)
        ]

    pmin, pmax = column(0, "physical minimum"), column(1, "physical maximum")
    dmin, dmax = column(2, "digital minimum"), column(3, "digital maximum")
    for i in signal_idx:
        for kind, lo, hi in (("physical", pmin[i], pmax[i]), ("digital", dmin[i], dmax[i])):
            if lo == hi:
                raise DataError(
                    f"{path}: signal {labels[i]!r} has {kind} minimum = maximum ({lo:g}), so its "
                    "values cannot be scaled (the EDF gain would be 0 or infinite). The header "
                    "is damaged; re-export the recording."
                )


_BV_FORMATS = {"INT_16": 2, "UINT_16": 2, "INT_32": 4, "IEEE_FLOAT_32": 4}


def check_brainvision(path: Path) -> None:
    """Check a BrainVision header and the size of its binary data file."""
    check_nonempty(path)
    text = path.read_bytes().decode("latin-1")
    first = text.splitlines()[0].replace(" ", "").lower()
    # v1: "Brain Vision Data Exchange Header File ..."; v2: "BrainVision Data ..."
    if "brainvisiondataexchangeheaderfile" not in first:
        raise DataError(
            f"{path}: the first line is not a BrainVision header line; the file "
            "is not a BrainVision .vhdr or is damaged."
        )
    body = text.split("[Comment]")[0]
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(body[body.index("[") :])
    except (configparser.Error, ValueError) as err:
        raise DataError(f"{path}: the header cannot be parsed ({err}).") from None
    # section names are case-sensitive in configparser; NeurOne exports
    # write "[Common infos]", which MNE's reader accepts too
    section = next((name for name in parser.sections() if name.lower() == "common infos"), None)
    ci = parser[section] if section else {}
    data_name = ci.get("DataFile") if ci else None
    if not data_name:
        raise DataError(f"{path}: the header names no DataFile.")
    data_name = data_name.strip()
    if "$b" in data_name:
        raise DataError(
            f"{path}: DataFile={data_name} uses the '$b' base-name placeholder, which "
            f"MNE's reader does not resolve. Edit the header to DataFile="
            f"{data_name.replace('$b', path.stem)} (and MarkerFile likewise)."
        )
    data_path = path.parent / data_name
    if not data_path.is_file():
        raise MissingFileError(
            f"{path}: its data file {data_name!r} is missing next to it. "
            "BrainVision recordings need .vhdr, .vmrk and .eeg together."
        )
    try:
        n_ch = int(ci.get("NumberOfChannels", "0"))
        interval = float(ci.get("SamplingInterval", "0"))
    except ValueError as err:
        raise DataError(f"{path}: unreadable channel count or sampling interval ({err}).") from None
    if interval <= 0:
        raise DataError(f"{path}: SamplingInterval is {interval} (sampling rate <= 0).")
    check_sfreq(1e6 / interval, path, f"SamplingInterval={interval:g} us")
    if n_ch <= 0:
        raise DataError(f"{path}: NumberOfChannels is {n_ch}.")
    fmt = "INT_16"
    if parser.has_section("Binary Infos"):
        fmt = parser["Binary Infos"].get("BinaryFormat", "INT_16").strip()
    width = _BV_FORMATS.get(fmt)
    check_readable(data_path)
    size = data_path.stat().st_size
    if size == 0:
        raise DataError(f"{path}: its data file {data_name!r} is empty.")
    if width and size % (n_ch * width):
        raise DataError(
            f"{path}: its data file {data_name!r} has {size} bytes, not a whole number of "
            f"samples of {n_ch} channels x {width} bytes ({fmt}): it is truncated or damaged."
        )
    marker = (ci.get("MarkerFile") or "").strip()
    if marker and (path.parent / marker).is_file():
        n_samples = size // (n_ch * width) if width else None
        _check_markers(path, path.parent / marker, n_samples)


_MARKER = re.compile(r"^Mk\d+=[^,\r\n]*,[^,\r\n]*,\s*(-?\d+)", re.MULTILINE)


def _check_markers(path: Path, marker: Path, n_samples: int | None) -> None:
    """Refuse an empty, foreign or truncated marker file.

    A marker placed after the last sample means the data file lost its
    end (a whole number of samples can still be left, which the size
    check cannot see).
    """
    check_readable(marker)
    text = marker.read_bytes().decode("latin-1")
    first = text.splitlines()[0].replace(" ", "").lower() if text.strip() else ""
    if "brainvisiondataexchangemarkerfile" not in first:
        raise DataError(
            f"{path}: its marker file {marker.name!r} is "
            f"{'empty' if not text.strip() else 'not a BrainVision marker file'}; the events "
            "would be lost. Copy the .vmrk again from the recording."
        )
    if n_samples:
        positions = [int(m) for m in _MARKER.findall(text)]
        if positions and max(positions) > n_samples + 1:
            raise DataError(
                f"{path}: its marker file places a marker at sample {max(positions)}, but the "
                f"data file holds {n_samples} samples: the data file is truncated. Copy it again."
            )


def check_gzip(path: Path, max_bytes: float) -> None:
    """Decompress a gzip file to its end without keeping it, to verify its CRC.

    A damaged deflate stream can decompress to wrong bytes without any
    error until the trailer is checked, and readers stop early (nibabel
    reads just the voxels), so the damage would be read as data. Stops
    once ``max_bytes`` are exceeded (a decompression bomb).

    Raises
    ------
    DataError
        On a corrupt or truncated stream, or more than ``max_bytes``.
    """
    import gzip
    import zlib

    total = 0
    try:
        with gzip.open(path, "rb") as fid:
            while chunk := fid.read(1 << 22):
                total += len(chunk)
                if total > max_bytes:
                    raise DataError(
                        f"{path}: decompresses to more than {max_bytes / 2**30:.3g} GiB; refused "
                        "(a damaged or hostile file). If the volume is real, pass a larger max_gib."
                    )
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(
            f"{path}: the compressed data are damaged or truncated ({err}). The file was "
            "cut short or altered (e.g. a text-mode transfer); copy it again in binary mode."
        ) from None


def check_eeglab_data(path: Path, n_channels: int, n_times: int) -> None:
    """Check an EEGLAB ``.fdt`` (float32) data file's size once the header is read."""
    mat = path.read_bytes()[:128]
    if mat[:6] != b"MATLAB" and b"HDF" not in mat[:8]:
        raise DataError(f"{path}: not a MATLAB file; an EEGLAB .set must be one.")
    fdts = [p for p in (path.with_suffix(".fdt"), path.with_suffix(".FDT")) if p.is_file()]
    if not fdts:
        return  # data embedded in the .set: MNE checks the array shape
    expected = n_channels * n_times * 4
    size = fdts[0].stat().st_size
    if size != expected:
        raise DataError(
            f"{path}: its data file {fdts[0].name!r} has {size} bytes, but the header "
            f"describes {n_channels} channels x {n_times} samples of float32 ({expected} "
            "bytes): the data file is truncated or damaged."
        )
