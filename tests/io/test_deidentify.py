"""A name, ID and birth date planted in an EDF header must not survive."""

from __future__ import annotations

import datetime as dt
import logging
import pickle

import edfio
import mne
import pandas as pd
import pytest

from neurotwin.cli import main
from neurotwin.io import deidentify_raw, read_raw, scrub_participants
from tests.conftest import write_edf

PLANTED = [b"Jane", b"Marie", b"Doe", b"MRN0012345", b"1961", b"12-APR", b"HOSP777", b"Smith", b"SN998"]


@pytest.fixture
def planted_edf(tmp_path):
    fname = tmp_path / "recording.edf"
    write_edf(
        fname,
        n_channels=4,
        seconds=10,
        patient=edfio.Patient(
            code="MRN0012345", sex="F", birthdate=dt.date(1961, 4, 12), name="Jane_Marie_Doe"
        ),
        annotations=[(1.0, "Jane Doe eyes closed"), (2.0, "MRN0012345 ok"), (3.0, "eyes open")],
    )
    edf = edfio.read_edf(fname)
    edf.recording = edfio.Recording(
        startdate=dt.date(2024, 3, 5),
        hospital_administration_code="HOSP777",
        investigator_technician_code="Dr_Smith",
        equipment_code="SN998",
    )
    edf.write(fname)
    assert all(token in fname.read_bytes() for token in (b"Jane", b"1961", b"MRN0012345"))
    return fname


def _dated_raw(year: int, month: int = 1, day: int = 1) -> mne.io.RawArray:
    raw = mne.io.RawArray([[0.0, 1.0] * 50], mne.create_info(["Cz"], 100.0, "eeg"), verbose="error")
    return raw.set_meas_date(dt.datetime(year, month, day, tzinfo=dt.UTC))


def _leaks(blob: bytes) -> list[bytes]:
    return [t for t in PLANTED if t.lower() in blob.lower()]


def test_planted_identity_gone_everywhere(planted_edf, tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG, logger="neurotwin")
    raw = read_raw(planted_edf, verbose="debug")
    assert raw.info["subject_info"] == {"sex": 2}
    assert raw.info["meas_date"].year <= 2014  # shifted 10-20 years back
    assert list(raw.annotations.description) == [
        "redacted",
        "redacted",  # free text: not kept
        "eyes open",
    ]
    assert _leaks(pickle.dumps(raw)) == []
    out = tmp_path / "deid_raw.fif"
    raw.save(out, verbose="error")
    assert _leaks(out.read_bytes()) == []
    exported = tmp_path / "deid.edf"
    mne.export.export_raw(exported, raw.copy().pick("eeg"), fmt="edf", verbose="error")
    assert _leaks(exported.read_bytes()) == []
    assert main(["-vv", "info", str(planted_edf)]) == 0
    printed = capsys.readouterr()
    assert _leaks((printed.out + printed.err + caplog.text).encode()) == []


def test_sessions_of_one_person_keep_their_spacing(tmp_path):
    shifts = [
        deidentify_raw(_dated_raw(2023, 1, day), subject="07", secret="k").info["meas_date"]
        for day in (1, 31)
    ]
    assert (shifts[1] - shifts[0]).days == 30
    other = deidentify_raw(_dated_raw(2023), subject="07", secret="another key")
    assert other.info["meas_date"] != shifts[0]  # the shift depends on the private key


def test_key_file_created_private(tmp_path, monkeypatch):
    monkeypatch.delenv("NEUROTWIN_DEID_KEY")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    deidentify_raw(_dated_raw(2023), subject="01")
    key = tmp_path / "neurotwin" / "deid.key"
    assert key.is_file() and oct(key.stat().st_mode & 0o777) == "0o600"
    assert len(key.read_text()) == 64


def test_deidentify_false_keeps_header(planted_edf):
    raw = read_raw(planted_edf, deidentify=False)
    assert raw.info["subject_info"]["last_name"] == "Doe"


def test_old_recording_loses_its_date():
    assert deidentify_raw(_dated_raw(1975), subject="x", secret="k").info["meas_date"] is None


def test_scrub_participants():
    df = pd.DataFrame(
        {
            "participant_id": ["sub-01"],
            "age": [40],
            "sex": ["F"],
            "PatientName": ["J"],
            "date_of_birth": ["1961"],
            "MRN": ["1"],
            "group": ["control"],
        }
    )
    assert list(scrub_participants(df).columns) == ["participant_id", "age", "sex", "group"]


@pytest.mark.parametrize(
    "text,kept",
    [
        ("BAD_blink", True),
        ("EDGE boundary", True),
        ("Stimulus/S  1", True),
        ("Response/R128", True),
        ("Eyes Closed", True),
        ("T1", True),
        ("Photic 10 Hz", True),
        ("New Segment/", True),
        ("Comment/call Hilda Voss", False),
        ("02.01.1950", False),
        ("1950-01-02", False),
        ("2/1/50", False),
        ("MRN-778899", False),
        ("transferred from Elsewhere General Hospital", False),
        ("BAD Hilda", False),
    ],
)
def test_annotation_allowlist(text, kept):
    from neurotwin.io import annotation_kept

    assert annotation_kept(text) is kept
    assert annotation_kept(text, extra=(text,))  # a study's own label is kept as it is
