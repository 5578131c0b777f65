"""Pipeline definitions: strict validation with file, line and suggestion."""

from __future__ import annotations

from pathlib import Path

import pytest

from neurotwin.cli import main
from neurotwin.errors import ConfigError, MissingFileError
from neurotwin.pipeline import STEPS, load_config

PIPELINES = sorted((Path(__file__).resolve().parents[2] / "pipelines").glob("*.toml"))
DEFAULT = Path(__file__).resolve().parents[2] / "pipelines" / "resting_eeg.toml"


@pytest.mark.parametrize("fname", PIPELINES, ids=lambda p: p.name)
def test_shipped_pipelines_are_valid(fname):
    cfg = load_config(fname)
    assert all(s.step in STEPS for s in cfg.steps)


def _broken(tmp_path, old, new):
    text = DEFAULT.read_text()
    assert old in text
    path = tmp_path / "broken.toml"
    path.write_text(text.replace(old, new))
    return path, text.replace(old, new).splitlines()


@pytest.mark.parametrize("old,new,expect", [
    ("h_freq = 45.0", "hfreq = 45.0", "unknown key 'hfreq'.*Did you mean 'h_freq'"),
    ('step = "resample"', 'step = "resampel"', "unknown step 'resampel'.*Did you mean 'resample'"),
    ('modality = "eeg"', 'modalty = "eeg"', "unknown key 'modalty'.*Did you mean 'modality'"),
    ("n_harmonics = 3", "n_harmonics = 30", "n_harmonics.*less than or equal to 10"),
    ("l_freq = 1.0", "l_freq = 50.0", "l_freq \\(50.0\\) must be below h_freq"),
    ("sfreq = 250.0", 'sfreq = "fast"', "sfreq.*valid number"),
])
def test_errors_name_file_line_and_fix(tmp_path, old, new, expect):
    path, lines = _broken(tmp_path, old, new)
    with pytest.raises(ConfigError, match=expect) as info:
        load_config(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}:")
    line = int(msg.split(":")[1])
    key = new.split("=")[0].strip()
    if key != "l_freq":  # a cross-field error points at its step
        assert key in lines[line - 1]


def test_all_problems_reported_at_once(tmp_path):
    text = DEFAULT.read_text().replace("h_freq = 45.0", "hfreq = 45.0").replace("tmin = 0.0", "tmn = 0.0")
    (tmp_path / "two.toml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "two.toml")
    assert "hfreq" in str(info.value) and "tmn" in str(info.value)


def test_syntax_error_and_missing(tmp_path):
    (tmp_path / "bad.toml").write_text("[pipeline\nname = 'x'\n")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML.*line 1"):
        load_config(tmp_path / "bad.toml")
    with pytest.raises(MissingFileError):
        load_config(tmp_path / "none.toml")


def test_cli_check(tmp_path, capsys):
    assert main(["pipeline", "check", str(DEFAULT)]) == 0
    assert "valid eeg pipeline 'resting_eeg'" in capsys.readouterr().out
    path, _ = _broken(tmp_path, "h_freq = 45.0", "hfreq = 45.0")
    assert main(["pipeline", "check", str(path)]) == 2
    assert "Did you mean 'h_freq'" in capsys.readouterr().err
