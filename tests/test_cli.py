"""The ``neurotwin`` command line."""

from __future__ import annotations

import subprocess
import sys

from neurotwin.cli import main


def test_info_study(sample_root, capsys):
    assert main(["info", str(sample_root)]) == 0
    out = capsys.readouterr().out
    assert "3 subjects" in out and "02" in out and "eeg" in out and "anat" in out


def test_info_files(shared_data, capsys):
    assert main(["info", str(shared_data / "physionet-eegmat/Subject00_1.edf")]) == 0
    assert main(["info", str(shared_data / "mne-testing-data/subjects/sample/mri/aseg.mgz")]) == 0
    assert main(["info", str(shared_data / "tvb-data-3.0.0/tvb_data/connectivity/connectivity_76.zip")]) == 0
    out = capsys.readouterr().out
    assert "ecg" in out and "labels" in out and "76 regions" in out


def test_error_is_one_line_no_traceback(tmp_path):
    bad = tmp_path / "broken.edf"
    bad.write_bytes(b"0       " + b"x" * 100)
    proc = subprocess.run(
        [sys.executable, "-m", "neurotwin.cli", "info", str(bad)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "broken.edf" in proc.stderr and "Traceback" not in proc.stderr


def test_missing_path_and_unknown_type(tmp_path, capsys):
    assert main(["info", str(tmp_path / "nothere")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    (tmp_path / "notes.md").write_text("x")
    assert main(["info", str(tmp_path / "notes.md")]) == 2
    err = capsys.readouterr().err
    assert "no reader for files ending in '.md'" in err and "Did you mean" not in err


def test_the_cli_and_the_package_import_nothing_heavy_until_used():
    """``neurotwin --version`` answers without loading MNE, NumPy's stack or the model (lazy imports)."""
    import subprocess
    import sys

    code = (
        "import sys, neurotwin, neurotwin.cli; "
        "print(sorted(m for m in ('mne', 'numpy', 'pandas', 'scipy', 'numba') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    code = "import neurotwin as nt; print(nt.Twin.__name__, nt.discover_study.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["Twin", "discover_study"]
