"""Names, dates, MRNs, hospitals and free text planted in every field that can carry them, in every
format of a study, must reach no output: cache, derivatives, store, reports, logs."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import logging
import zipfile
from pathlib import Path

import edfio
import mne
import numpy as np
import pandas as pd
import pytest

from neurotwin.cli import main
from neurotwin.datasets import make_connectome, make_resting_eeg
from neurotwin.datasets.synthetic import write_tvb_zip

from .test_real_sessions import PIPELINE

#: what is planted, and must not come out (case-insensitive)
PLANTED = [
    "Hilda",
    "Voss",
    "Elsewhere General",
    "MRN-778899",
    "778899",
    "02.01.1950",
    "1950-01-02",
    "Brunhilde",
    "Oakfield",
    "Dr Keller",
    "2021-06-15",
    "15.06.21",
    "AB1 2CD",
    "HV/JK",
]
FREE_TEXT = [
    "transferred from Elsewhere General Hospital",
    "call Hilda Voss",
    "DOB 02.01.1950",
    "MRN-778899 Brunhilde Oakfield",
    "seen by Dr Keller",
]
DAY = dt.datetime(2021, 6, 15, 9, 0, tzinfo=dt.UTC)


def _signal(seed: int) -> mne.io.RawArray:
    return make_resting_eeg(duration=30.0, sfreq=128.0, line_freq=None, blink_rate=0.0, random_state=seed)


def _edf(path: Path, seed: int) -> None:
    raw = _signal(seed).pick("eeg")
    signals = [
        edfio.EdfSignal(
            x * 1e6, sampling_frequency=128.0, label=name, physical_dimension="uV", physical_range=(-500, 500)
        )
        for name, x in zip(raw.ch_names, raw.get_data())
    ]
    patient = edfio.Patient(
        code="MRN-778899", sex="F", birthdate=dt.date(1950, 1, 2), name="Hilda_Voss", additional=["Oakfield"]
    )
    recording = edfio.Recording(
        startdate=DAY.date(),
        hospital_administration_code="Elsewhere",
        investigator_technician_code="Dr_Keller",
        equipment_code="HV/JK",
    )
    edf = edfio.Edf(signals, patient=patient, recording=recording, starttime=DAY.time().replace(tzinfo=None))
    edf.set_annotations(
        [edfio.EdfAnnotation(2.0 + 3 * i, None, text) for i, text in enumerate(FREE_TEXT)]
        + [edfio.EdfAnnotation(20.0, 1.0, "BAD_muscle")]
    )
    edf.write(path)


def _brainvision(vhdr: Path, seed: int) -> None:
    raw = _signal(seed).pick("eeg")
    data = np.round(raw.get_data() * 1e7).astype("<i2")  # 0.1 uV
    stem = vhdr.stem
    vhdr.with_suffix(".eeg").write_bytes(data.T.tobytes())
    channels = "\n".join(f"Ch{i + 1}={n},,0.1,uV" for i, n in enumerate(raw.ch_names))
    vhdr.write_text(
        "Brain Vision Data Exchange Header File Version 1.0\n; recorded at Elsewhere General Hospital\n\n"
        f"[Common Infos]\nCodepage=UTF-8\nDataFile={stem}.eeg\nMarkerFile={stem}.vmrk\nDataFormat=BINARY\n"
        f"DataOrientation=MULTIPLEXED\nNumberOfChannels={len(raw.ch_names)}\nSamplingInterval=7812.5\n\n"
        f"[Binary Infos]\nBinaryFormat=INT_16\n\n[Channel Infos]\n{channels}\n\n"
        "[Comment]\nPatient: Hilda Voss, DOB 02.01.1950, MRN-778899, Oakfield AB1 2CD\n"
    )
    stamp = DAY.strftime("%Y%m%d%H%M%S") + "000000"
    markers = (
        [f"Mk1=New Segment,,1,1,0,{stamp}"]
        + [f"Mk{i + 2}=Comment,{text},{256 * (i + 1)},1,0" for i, text in enumerate(FREE_TEXT)]
        + [f"Mk{len(FREE_TEXT) + 2}=Stimulus,S  1,3000,1,0"]
    )
    vhdr.with_suffix(".vmrk").write_text(
        "Brain Vision Data Exchange Marker File, Version 1.0\n; Hilda Voss\n\n[Common Infos]\n"
        f"Codepage=UTF-8\nDataFile={stem}.eeg\n\n[Marker Infos]\n" + "\n".join(markers) + "\n"
    )


def _fif(path: Path, seed: int) -> None:
    raw = _signal(seed)
    raw.set_meas_date(DAY)
    with raw.info._unlock():
        raw.info["subject_info"] = {
            "first_name": "Hilda",
            "last_name": "Voss",
            "his_id": "MRN-778899",
            "birthday": dt.date(1950, 1, 2),
            "sex": 2,
        }
        raw.info["experimenter"] = "Dr Keller"
        raw.info["description"] = "Elsewhere General Hospital, ward of Brunhilde Oakfield"
        raw.info["proj_name"] = "Oakfield"
    raw.set_annotations(
        mne.Annotations([2.0, 5.0, 8.0], [0.0, 0.0, 1.0], ["call Hilda Voss", "DOB 02.01.1950", "BAD_blink"])
    )
    raw.save(path, verbose="error")


def _study(root: Path) -> Path:
    writers = {"01": ("edf", _edf), "02": ("vhdr", _brainvision), "03": ("fif", _fif)}
    for k, (sub, (ext, write)) in enumerate(writers.items()):
        for ses in ("01", "02"):
            folder = root / f"sub-{sub}" / f"ses-{ses}" / "eeg"
            folder.mkdir(parents=True)
            name = f"sub-{sub}_ses-{ses}_task-rest_eeg.{ext}"
            write(folder / name, 10 * k + int(ses))
            pd.DataFrame(
                {
                    "filename": [f"eeg/{name}"],
                    "acq_time": [(DAY + dt.timedelta(days=30 * (int(ses) - 1))).isoformat()],
                }
            ).to_csv(folder.parent / f"sub-{sub}_ses-{ses}_scans.tsv", sep="\t", index=False)
        con_dir = root / "derivatives" / "connectomes" / f"sub-{sub}"
        con_dir.mkdir(parents=True)
        write_tvb_zip(make_connectome(12, random_state=k), con_dir / f"sub-{sub}_connectome.zip")
    pd.DataFrame(
        {
            "participant_id": ["sub-01", "sub-02", "sub-03"],
            "age": [71, 70, 72],
            "sex": ["F", "F", "F"],
            "name": ["Hilda Voss"] * 3,
            "birthdate": ["1950-01-02"] * 3,
            "dateofbirth": ["02.01.1950"] * 3,
            "patientname": ["Brunhilde Oakfield"] * 3,
            "medical_record_number": ["MRN-778899"] * 3,
            "patient_id": ["778899"] * 3,
            "initials": ["HV/JK"] * 3,
            "postcode": ["AB1 2CD"] * 3,
            "referring_hospital": ["Elsewhere General"] * 3,
            "notes": ["seen by Dr Keller"] * 3,
        }
    ).to_csv(root / "participants.tsv", sep="\t", index=False)
    (root / "dataset_description.json").write_text(
        json.dumps({"Name": "Elsewhere General Hospital cohort of Dr Keller", "BIDSVersion": "1.10.0"})
    )
    return root


def _texts(path: Path):
    """The bytes of a file, and of what it packs (zip/npz members, gzip)."""
    data = path.read_bytes()
    yield data
    if data[:2] == b"\x1f\x8b":
        yield gzip.decompress(data)
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for name in zf.namelist():
                yield zf.read(name)


def _leaks(root: Path, extra_text: str = "") -> list[str]:
    found = []
    files = [p for p in root.rglob("*") if p.is_file()]
    assert len(files) > 20
    for path in files:
        for blob in _texts(path):
            low = blob.lower()
            found += [f"{path.relative_to(root)}: {t}" for t in PLANTED if t.lower().encode() in low]
    found += [f"log: {t}" for t in PLANTED if t.lower() in extra_text.lower()]
    return sorted(set(found))


@pytest.mark.slow
def test_planted_identities_reach_no_output(tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG, logger="neurotwin")
    root = _study(tmp_path / "study")
    raw_text = b"".join(b for p in root.rglob("*") if p.is_file() for b in _texts(p)).lower()
    assert all(t.lower().encode() in raw_text for t in PLANTED if t not in ("15.06.21",))  # planted
    cfg = tmp_path / "privacy.toml"
    cfg.write_text(PIPELINE)
    out = tmp_path / "out"
    code = main(["run", str(root), str(out), "participant", "--pipeline", str(cfg), "--progress", "off"])
    assert code == 0
    assert main(["run", str(root), str(out), "group", "--pipeline", str(cfg)]) == 0
    assert main(["info", str(root)]) == 0
    assert main(["twin", "show", str(out), "01"]) == 0
    printed = capsys.readouterr()
    assert (out / ".neurotwin" / "work").is_dir()
    subjects = {p.name for p in out.glob("sub-*") if p.is_dir()}
    assert {p.stem for p in out.glob("sub-*.html")} == subjects and (out / "group" / "report.html").is_file()
    assert _leaks(out, printed.out + printed.err + caplog.text) == []
    # what is kept: the artefact mark and the event code, the people's age and sex
    epochs = mne.read_epochs(next(out.rglob("sub-03_ses-01*_epo.fif")), verbose="error")
    assert {"BAD_blink", "redacted"} <= set(epochs.annotations.description)
    assert "age" in printed.out and "sex" in printed.out
