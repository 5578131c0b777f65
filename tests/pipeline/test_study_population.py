"""``[twin] population = "study"``: a new BOLD twin's population prior from the other subjects."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from neurotwin.features.bold import bold_featureset
from neurotwin.io import Connectome
from neurotwin.pipeline import _twins
from neurotwin.pipeline.config import TwinSettings
from neurotwin.twin import PopulationPrior

N = 6
LABELS = [f"r{i}" for i in range(N)]


def _fc(rng):
    x = rng.standard_normal((200, N)) @ rng.uniform(-0.5, 1, (N, N))
    return np.corrcoef(x.T)


@pytest.fixture
def outputs(tmp_path, monkeypatch):
    """Five subjects' BOLD features (two sessions each; sub-05's of other regions), a study of six."""
    rng = np.random.default_rng(0)
    files = {}
    for k in range(1, 6):
        labels = LABELS if k < 5 else [f"x{i}" for i in range(N)]
        files[f"0{k}"] = {}
        for ses in ("1", "2"):
            summary = {"fc": _fc(rng), "t_eff": 80.0, "peak_freqs": np.full(N, 0.05)}
            fs = bold_featureset(summary, labels, subject=f"0{k}", session=ses)
            files[f"0{k}"][ses] = fs.save(tmp_path / f"sub-0{k}_ses-{ses}_features.tsv")

    def features(out, subject, config):
        if subject == "06":
            raise _twins._Skip("no outputs")  # a subject whose recordings failed
        return {"bold": files[subject]}, []

    monkeypatch.setattr(_twins, "_features", features)
    study = SimpleNamespace(subjects=lambda: ["01", "02", "03", "04", "05", "06"])
    config = SimpleNamespace(twin=TwinSettings(modality="bold", population="study"))
    return config, study, files


def test_each_subject_gets_the_others_population(outputs, tmp_path):
    config, study, files = outputs
    pops = _twins.study_populations(config, study, tmp_path, ["01", "05", "06"])
    assert pops["01"]["n_people"] == 3 and pops["01"]["n_sessions"] == 6  # 02-04 (05 has other regions)
    expect = PopulationPrior.from_features(
        {s: [_twins.read_featureset(p) for p in files[s].values()] for s in ("02", "03", "04")}
    )
    np.testing.assert_allclose(pops["01"]["fc_mean"], np.round(expect.fc_mean, 6))
    assert pops["01"]["between"] == pytest.approx(expect.between)
    assert pops["05"] is None and pops["06"] is None  # nobody shares 05's regions; 06 has no features


def test_too_few_people_or_the_default_give_no_prior(outputs, tmp_path):
    config, _, _ = outputs
    few = SimpleNamespace(subjects=lambda: ["01", "02", "03"])
    assert _twins.study_populations(config, few, tmp_path, ["01"]) == {"01": None}  # 2 others
    default = SimpleNamespace(twin=TwinSettings(modality="bold"))
    assert default.twin.population == "none"
    assert _twins.study_populations(default, few, tmp_path, ["01"]) == {}


def test_only_a_bold_part_takes_the_prior(outputs, tmp_path):
    config, study, _ = outputs
    pop = _twins.study_populations(config, study, tmp_path, ["01"])["01"]
    con = Connectome(np.ones((N, N)) - np.eye(N), labels=LABELS)
    assert _twins._new_twin(config.twin, "bold", con, "01", pop).population == pop
    assert _twins._new_twin(config.twin, "eeg", None, "01", pop).population is None
