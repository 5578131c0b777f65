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


@pytest.mark.parametrize(
    "old,new,expect",
    [
        ("h_freq = 45.0", "hfreq = 45.0", "unknown key 'hfreq'.*Did you mean 'h_freq'"),
        ('step = "resample"', 'step = "resampel"', "unknown step 'resampel'.*Did you mean 'resample'"),
        ('modality = "eeg"', 'modalty = "eeg"', "unknown key 'modalty'.*Did you mean 'modality'"),
        ("n_harmonics = 3", "n_harmonics = 30", "n_harmonics.*less than or equal to 10"),
        ("l_freq = 1.0", "l_freq = 50.0", "l_freq \\(50.0\\) must be below h_freq"),
        ("sfreq = 250.0", 'sfreq = "fast"', "sfreq.*valid number"),
        ("sfreq = 250.0", "sfreq = inf", "sfreq.*finite number"),
        ("sfreq = 250.0", "sfreq = nan", "sfreq.*finite number"),
        ("n_harmonics = 3", "n_harmonics = true", "n_harmonics.*true/false is not a number"),
        # feature parameters are checked on load (they used to fail only when the features were computed)
        (
            'step = "features"',
            'step = "features"\nfeature_params = { iaf = { search = 7 } }',
            "feature 'iaf': search = 7 must be a list",
        ),
        (
            'step = "features"',
            'step = "features"\nfeature_params = { iaf = { serach = [7, 14] } }',
            "feature 'iaf': unknown parameter.*Did you mean 'search'",
        ),
        (
            'step = "features"',
            'step = "features"\nfeature_params = { complexity = { measures = ["lziv"] } }',
            "feature_params names 'complexity', which is not in features",
        ),
    ],
)
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


def test_a_pipeline_file_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(DEFAULT.read_bytes().replace(b"# The default", b"# Die Vorgabe \xe4"))
    with pytest.raises(ConfigError, match="latin1.toml: not UTF-8 text"):
        load_config(path)


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


def test_an_output_path_that_is_a_file_is_refused(sample_root, tmp_path):
    import neurotwin.pipeline as ntp

    out = tmp_path / "out"
    out.write_text("not a folder")
    with pytest.raises(ConfigError, match="out: the output folder is an existing file"):
        ntp.load("resting_eeg").run(sample_root, out, progress="off")


def test_an_empty_or_undecodable_participants_table_is_a_problem_not_a_crash(sample_root, tmp_path):
    import shutil

    from neurotwin.io import discover_study

    root = tmp_path / "study"
    shutil.copytree(sample_root, root, ignore=shutil.ignore_patterns("*.edf", "*.nii.gz", "*.zip"))
    for content in (b"", b"participant_id\tage\nsub-01\t\xff\xfe\n"):
        (root / "participants.tsv").write_bytes(content)
        for sub in ("01", "02", "03"):  # stand-ins for the recordings, so that the study is found
            for f in sample_root.glob(f"sub-{sub}/ses-01/eeg/*_eeg.edf"):
                target = root / f.relative_to(sample_root)
                target.unlink(missing_ok=True)
                target.symlink_to(f)
        study = discover_study(root)
        assert [p for p, _ in study.problems] == ["participants.tsv"]
        assert study.participants.empty


@pytest.mark.parametrize(
    "name,params,expect",
    [
        ("graph", {"band": "high_gamma"}, "band 'high_gamma' is not one of .*'gamma'"),  # was a KeyError
        ("band_power", {"relative": "yes"}, "relative = 'yes' must be true or false"),  # was a TypeError
        ("complexity", {"measures": ["nonsense"]}, "measures 'nonsense' is not one of"),  # was a DataError
        ("psd", {"fmin": 2.0}, "unknown parameter.*valid: none"),
    ],
)
def test_feature_parameters_are_typed_and_checked(name, params, expect):
    from neurotwin.datasets import make_resting_eeg
    from neurotwin.features import compute_features

    raw = make_resting_eeg(duration=10, random_state=0)
    with pytest.raises(ConfigError, match=expect):
        compute_features(raw, [name], params={name: params})


def test_a_twin_table_typo_lists_the_twin_keys(tmp_path):
    twin = '[twin]\nmodality = "eeg"'
    path, lines = _broken(tmp_path, twin, twin + '\nconectome = "auto"')
    with pytest.raises(
        ConfigError,
        match=r"\[twin\]: unknown key 'conectome'; valid keys: \['modality'.*"
        r"Did you mean 'connectome'",
    ) as info:
        load_config(path)
    assert "conectome" in lines[int(str(info.value).split(":")[1]) - 1]


def test_steps_built_in_python_raise_config_errors():
    from neurotwin.pipeline.steps import ICA, Bandpass

    with pytest.raises(ConfigError, match="Bandpass: l_freq: Input should be a valid number"):
        Bandpass(l_freq="x")
    with pytest.raises(ConfigError, match="ICA: n_componets: Extra inputs are not permitted"):
        ICA(n_componets=3)


def test_a_csd_twin_needs_the_csd_feature_and_only_its_own_modality_takes_it(tmp_path):
    from neurotwin.pipeline._twins import _new_twin
    from neurotwin.pipeline.config import BUILTIN_DIR

    text = (BUILTIN_DIR / "resting_eeg.toml").read_text()
    path = tmp_path / "csd.toml"
    path.write_text(text.replace('[twin]\nmodality = "eeg"', '[twin]\nmodality = "eeg"\nlikelihood = "csd"'))
    with pytest.raises(
        ConfigError, match=r"csd.toml:\d+: step \d+: \[twin\] likelihood = 'csd' needs the features \['csd'\]"
    ):
        load_config(path)
    path.write_text(path.read_text().replace('features = ["psd",', 'features = ["psd", "csd",'))
    settings = load_config(path).twin
    assert settings.likelihood == "csd"
    assert _new_twin(settings, "eeg", None, "01").likelihood == "csd"
    assert _new_twin(settings, "eeg+bold", None, "01").likelihood is None  # a joint twin keeps its own
