"""Cheap integrity checks run before a file reaches its reader.

MNE reads a truncated EDF with only a warning (inferring the record count
from the file size) and a text-mode (CRLF) damaged EDF fails with a bare
``Exception``. These checks parse the headers ourselves, compare the size
the header promises with the size on disk, and raise a
:class:`~neurotwin.errors.DataError` that names the file and the cause.
"""

from __future__ import annotations

import configparser
from pathlib import Path

from ..errors import DataError, MissingFileError

_EDF_FIXED = 256
_EDF_PER_SIGNAL = 256


def check_nonempty(path: Path) -> None:
    """Refuse a zero-byte file."""
    if path.is_file() and path.stat().st_size == 0:
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
    labels = [
        _field(sig, 16 * i, 16 * (i + 1), f"label {i + 1}", path) for i in range(n_sig)
    ]
    off = n_sig * (16 + 80 + 8 + 8 + 8 + 8 + 8 + 80)
    n_samps = [
        _number(sig, off + 8 * i, off + 8 * (i + 1), f"samples of {labels[i]!r}", path)
        for i in range(n_sig)
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
    ci = parser["Common Infos"] if parser.has_section("Common Infos") else {}
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
    if n_ch <= 0:
        raise DataError(f"{path}: NumberOfChannels is {n_ch}.")
    fmt = "INT_16"
    if parser.has_section("Binary Infos"):
        fmt = parser["Binary Infos"].get("BinaryFormat", "INT_16").strip()
    width = _BV_FORMATS.get(fmt)
    size = data_path.stat().st_size
    if size == 0:
        raise DataError(f"{path}: its data file {data_name!r} is empty.")
    if width and size % (n_ch * width):
        raise DataError(
            f"{path}: its data file {data_name!r} has {size} bytes, not a whole number of "
            f"samples of {n_ch} channels x {width} bytes ({fmt}): it is truncated or damaged."
        )


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

