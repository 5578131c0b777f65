"""FeatureSet: tidy table + arrays, save/load, concatenation; the features pipeline step."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neurotwin.datasets import SAMPLE_TRUTH
from neurotwin.errors import ConfigError, DataError
from neurotwin.features import FeatureArray, FeatureSet, compute_features, concat, read_featureset
from neurotwin.pipeline.config import load_config


def test_save_load_round_trip(tmp_path):
    from neurotwin.datasets import make_resting_eeg

    fs = compute_features(make_resting_eeg(duration=30, random_state=0), subject="07", session="2")
    back = read_featureset(fs.save(tmp_path / "sub-07_ses-2_features.tsv"))
    assert back.table.equals(fs.table) or np.allclose(
        back.table["value"], fs.table["value"], rtol=1e-9, equal_nan=True
    )
    assert list(back.table["status"]) == list(fs.table["status"])
    np.testing.assert_allclose(back.arrays["psd"].values, fs.arrays["psd"].values, rtol=1e-12)
    assert back.arrays["psd"].coords["channel"] == fs.arrays["psd"].coords["channel"]
    assert back.provenance["features"]["iaf"]["search"] == [7.0, 14.0]


def test_concat_keys_arrays_by_subject_and_session():
    arr = FeatureArray(np.zeros(2), ("channel",), {"channel": ["A", "B"]})
    a = FeatureSet.from_rows([{"feature": "x", "value": 1.0}], subject="01", session="1", arrays={"m": arr})
    b = FeatureSet.from_rows([{"feature": "x", "value": 2.0}], subject="01", session="2", arrays={"m": arr})
    both = concat([a, b])
    assert sorted(both.arrays) == ["01/1/m", "01/2/m"] and len(both) == 2
    with pytest.raises(DataError):
        concat([])


def test_bad_arrays_and_lookups_are_errors():
    with pytest.raises(DataError, match="dims"):
        FeatureArray(np.zeros((2, 2)), ("channel",))
    with pytest.raises(DataError, match="coords"):
        FeatureArray(np.zeros(2), ("channel",), {"channel": ["A"]})
    with pytest.raises(DataError, match="no feature"):
        FeatureSet.from_rows([{"feature": "x", "value": 1.0}]).get("y")


@pytest.mark.parametrize(
    "steps, match",
    [
        (
            '[[steps]]\nstep = "epochs"\n\n[[steps]]\nstep = "features"\nfeatures = ["iaff"]\n',
            "Did you mean 'iaf'",
        ),  # an unknown feature
        (
            '[[steps]]\nstep = "bandpass"\nsave = true\n\n[[steps]]\nstep = "resample"\nsfreq = 100.0\n',
            "same file name",
        ),  # two outputs with one name
    ],
)
def test_pipeline_file_errors(tmp_path, steps, match):
    bad = tmp_path / "p.toml"
    bad.write_text('[pipeline]\nname = "p"\n\n' + steps)
    with pytest.raises(ConfigError, match=match):
        load_config(bad)


def test_pipeline_writes_features_and_recovers_the_sample_alpha_slowing(sample_derivatives):
    out = sample_derivatives  # the README's main job on the sample study (run once per test session)
    iafs = []
    for ses in ("01", "02", "03"):
        folder = out / f"sub-02/ses-{ses}/eeg"
        assert (folder / f"sub-02_ses-{ses}_task-rest_desc-preproc_epo.fif").is_file()  # saved step
        fs = read_featureset(folder / f"sub-02_ses-{ses}_task-rest_desc-preproc_features.tsv")
        assert set(fs.table["subject"]) == {"02"} and set(fs.table["session"]) == {ses}
        iafs.append(fs.get("iaf", location="global"))
    truth = [SAMPLE_TRUTH[("02", ses)]["alpha_freq"] for ses in ("01", "02", "03")]
    np.testing.assert_allclose(iafs, truth, atol=0.25)
    # the group level stacks them into one long table
    table = pd.read_csv(
        out / "group" / "resting_eeg_desc-preproc_features.tsv",
        sep="\t",
        dtype={"subject": str, "session": str},
    )
    iaf = table.query("feature == 'iaf' and location == 'global' and subject == '02'").set_index("session")[
        "value"
    ]
    np.testing.assert_allclose(iaf[["01", "02", "03"]], iafs)


def test_interpolated_channels_are_not_tested_for_change(sample_derivatives):
    """The sample's bad channel (T7 for sub-01) is interpolated in every session: its features keep
    that in their provenance (from the step log), and the twin's change table does not test it."""
    from neurotwin.datasets import SAMPLE_TRUTH
    from neurotwin.twin import TwinStore

    out = sample_derivatives
    bad = SAMPLE_TRUTH[("01", "01")]["bad_channel"]
    fs = read_featureset(out / "sub-01/ses-02/eeg/sub-01_ses-02_task-rest_desc-preproc_features.tsv")
    assert fs.provenance["interpolated"] == [bad]
    assert np.isfinite(fs.table.query("location == @bad")["se"]).any()  # the table keeps its SE...
    changes = TwinStore(out / "twins" / "twins.sqlite", create=False).load("01").changes()
    tested = set(changes["location"])
    assert bad not in tested and {"O1", "O2"} <= tested  # ...change detection does not use it


def test_a_tagged_recording_joins_another_of_its_session_and_is_read_back():
    from neurotwin.features import FeatureArray, FeatureSet, concat
    from neurotwin.twin.longitudinal import session_values

    def one(chans, level, n):
        psd = FeatureArray(
            np.full((len(chans), 2), level), ("channel", "freq"), {"channel": chans, "freq": [9, 10]}
        )
        rows = [{"feature": "iaf", "location": loc, "value": level, "se": 0.1} for loc in [*chans, "mean"]]
        return FeatureSet.from_rows(
            rows, subject="01", session="01", arrays={"psd": psd}, provenance={"psd": {"n_averages": n}}
        )

    eeg, meg = one(["Oz"], 10.0, 30), one(["MEG 0111"], 9.0, 60)
    joined = concat([eeg, meg.tagged("meg")])
    assert len(joined.arrays) == 2 and joined.provenance["psd"] == {"n_averages": 30}
    view = joined.view("meg")
    assert list(view.arrays["01/01/psd"].coords["channel"]) == ["MEG 0111"]
    assert view.provenance["psd"] == {"n_averages": 60}
    assert sorted(view.table["location"]) == ["MEG 0111", "mean"]
    # each recording's channel mean is its own value (the MEG's is not compared with the EEG's)
    keys = [(f, loc) for f, loc, *_ in session_values(joined)]
    assert ("iaf", "mean") in keys and ("iaf", "meg:mean") in keys
    assert joined.view("eeg") is joined  # nothing tagged eeg: the features as they are
