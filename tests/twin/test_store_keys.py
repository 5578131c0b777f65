"""A study's key travels with its derivatives: the store reads by label elsewhere, or says the key differs."""

from __future__ import annotations

import os
import shutil

import pytest

from neurotwin._keys import deid_key, ensure_study_key, study_key_path
from neurotwin.errors import StoreError
from neurotwin.twin import Twin, TwinStore


@pytest.fixture()
def account(tmp_path, monkeypatch):
    """No NEUROTWIN_DEID_KEY; ``use(name)`` switches to another user's own key file."""
    monkeypatch.delenv("NEUROTWIN_DEID_KEY", raising=False)

    def use(name: str) -> None:
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / name))

    use("alice")
    return use


@pytest.fixture()
def study_out(account, make_session, small_connectome, tmp_path):
    out = tmp_path / "lab" / "derivatives"
    key = ensure_study_key(out)
    assert key == study_key_path(out) and oct(key.stat().st_mode & 0o777) == "0o600"
    store = TwinStore(out / "twins" / "twins.sqlite")
    store.save(Twin("02", connectome=small_connectome, restarts=0).fit(make_session(), session="01", at=0.0))
    return out


def test_another_account_reads_the_store_by_label(study_out, account, tmp_path):
    account("bob")  # another user: another own key, the same study key
    assert TwinStore(study_out / "twins" / "twins.sqlite").load("02").states_[0].session == "01"
    moved = tmp_path / "cluster" / "derivatives"
    shutil.copytree(study_out, moved)  # another machine: the key file goes with the derivatives
    assert TwinStore(moved / "twins" / "twins.sqlite", create=False).exists("02")


def test_a_store_without_its_key_says_the_key_differs_and_how_to_pass_it(
    study_out, account, tmp_path, monkeypatch
):
    alone = tmp_path / "elsewhere" / "twins.sqlite"
    alone.parent.mkdir()
    shutil.copy(study_out / "twins" / "twins.sqlite", alone)  # the store without the study's key file
    with pytest.raises(StoreError, match="written with another de-identification key") as err:
        TwinStore(alone, create=False)
    assert "your own key file" in str(err.value) and "NEUROTWIN_DEID_KEY" in str(err.value)
    monkeypatch.setenv("NEUROTWIN_DEID_KEY", "a wrong key")
    with pytest.raises(StoreError, match="the NEUROTWIN_DEID_KEY environment variable"):
        TwinStore(study_out / "twins" / "twins.sqlite", create=False)
    monkeypatch.setenv("NEUROTWIN_DEID_KEY", study_key_path(study_out).read_text().strip())
    assert TwinStore(alone, create=False).load("02").subject == "02"  # the right key, given by hand


def test_each_new_study_gets_its_own_key_and_an_old_one_keeps_the_users(account, tmp_path):
    first, second = ensure_study_key(tmp_path / "a"), ensure_study_key(tmp_path / "b")
    assert first.read_bytes() != second.read_bytes()
    assert deid_key(out_dir=tmp_path / "a") != deid_key()  # not the user's own key
    old = tmp_path / "old"
    old.mkdir()
    (old / "dataset_description.json").write_text("{}")  # derivatives made before study keys
    assert ensure_study_key(old).read_bytes().strip() == deid_key()  # their pseudonyms stay valid
    os.environ["NEUROTWIN_DEID_KEY"] = "given"
    try:
        assert ensure_study_key(tmp_path / "c") is None and not study_key_path(tmp_path / "c").exists()
    finally:
        del os.environ["NEUROTWIN_DEID_KEY"]
