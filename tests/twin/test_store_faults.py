"""The twin store under faults: racing first runs, damaged pages and tables, a full disk, empty files,
damaged states that must block only themselves, and store errors in a run."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from neurotwin.errors import StoreError
from neurotwin.twin import Twin, TwinState, TwinStore
from neurotwin.twin.inference import Posterior

from .test_store import KEY, _child


def _states_twin(n: int, subject: str = "07") -> Twin:
    twin = Twin(subject)
    for i in range(n):
        post = Posterior(["p0", "p1"], ["identity"] * 2, np.full(2, float(i)), np.eye(2))
        twin.states_.append(TwinState(i, f"{i + 1:02d}", float(30 * i), post))
    return twin


def test_first_runs_racing_on_a_fresh_store_all_succeed(tmp_path):
    path = tmp_path / "twins" / "twins.sqlite"
    code = """
        import sys, time
        from neurotwin.twin import TwinStore
        start = float(sys.argv[2])
        while time.time() < start:
            pass
        TwinStore(sys.argv[1]).subjects_count()
        print("ok", flush=True)
    """
    import time

    start = time.time() + 3.0
    children = [_child(code, path, start) for _ in range(6)]
    for child in children:
        out, err = child.communicate(timeout=120)
        assert out.strip() == "ok", err
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == 2
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert sorted(p.name for p in path.parent.iterdir() if not p.name.endswith(("-wal", "-shm"))) == [
        "twins.sqlite"
    ]  # no temporary file left


def test_a_full_disk_while_creating_leaves_no_store(tmp_path, monkeypatch):
    real = TwinStore._connect

    def full(self, path=None):
        con = real(self, path)
        con.execute("PRAGMA max_page_count = 1")  # SQLite then reports SQLITE_FULL, as a full disk does
        return con

    monkeypatch.setattr(TwinStore, "_connect", full)
    path = tmp_path / "twins.sqlite"
    with pytest.raises(StoreError, match=r"twins.sqlite.*(disk is )?full.*free space"):
        TwinStore(path, secret=KEY)
    assert list(tmp_path.iterdir()) == []  # nothing half-made, so the next run starts clean
    monkeypatch.undo()
    assert TwinStore(path, secret=KEY).subjects_count() == 0


def test_empty_and_missing_stores_are_never_replaced(tmp_path):
    empty = tmp_path / "twins.sqlite"
    empty.write_bytes(b"")
    with pytest.raises(StoreError, match=r"twins.sqlite: the twin store is empty \(0 bytes\)"):
        TwinStore(empty)
    assert empty.stat().st_size == 0
    with pytest.raises(StoreError, match="no twin store here"):
        TwinStore(tmp_path / "none.sqlite", create=False)
    assert not (tmp_path / "none.sqlite").exists()


def test_twin_show_on_damaged_stores_is_a_clear_error(tmp_path, capsys):
    from neurotwin.cli import main

    store_dir = tmp_path / "out" / "twins"
    store_dir.mkdir(parents=True)
    (store_dir / "twins.sqlite").write_bytes(b"")
    assert main(["twin", "show", str(tmp_path / "out"), "07"]) == 2
    assert "0 bytes" in capsys.readouterr().err
    assert (store_dir / "twins.sqlite").stat().st_size == 0


@pytest.mark.parametrize("damage", ["page bytes", "missing table", "missing column"])
def test_damaged_databases_give_store_errors(tmp_path, damage):
    path = tmp_path / "twins.sqlite"
    store = TwinStore(path, secret=KEY)
    store.save(_states_twin(3))
    if damage == "page bytes":
        with sqlite3.connect(path) as con:
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        data = bytearray(path.read_bytes())
        for i in range(4096 + 100, len(data), 97):  # every page after the first, header left intact
            data[i] ^= 0x5A
        path.write_bytes(bytes(data))
    else:
        with sqlite3.connect(path) as con:
            if damage == "missing table":
                con.execute("DROP TABLE states")
            else:
                con.execute("ALTER TABLE states DROP COLUMN sha256")
    with pytest.raises(StoreError, match=r"twins.sqlite: .*(damaged|restore)"):
        TwinStore(path, secret=KEY).load("07")


def test_a_damaged_state_blocks_only_itself(tmp_path):
    path = tmp_path / "twins.sqlite"
    store = TwinStore(path, secret=KEY)
    store.save(_states_twin(3))
    with sqlite3.connect(path) as con:
        con.execute("UPDATE states SET sha256 = 'x' WHERE idx = 1")
    with pytest.raises(StoreError, match=r"state 1 \(session 02\).*checksum"):
        store.load("07")  # a twin to be updated must be whole
    twin = store.load("07", damaged="skip")
    assert [s.session for s in twin.states_] == ["01", "03"]
    assert twin.damaged_[0]["index"] == 1 and "checksum" in twin.damaged_[0]["error"]


def test_a_store_error_in_a_run_fails_the_twins_not_the_run(sample_root, tmp_path):
    """The recordings' outputs stand; every twin is 'failed' with the store's reason (exit 3, not 2)."""
    import neurotwin.pipeline as ntp
    from neurotwin.io import discover_study
    from neurotwin.pipeline._twins import STORE_NAME, run_twins

    (tmp_path / STORE_NAME).parent.mkdir(parents=True)
    (tmp_path / STORE_NAME).write_bytes(b"")
    table = run_twins(ntp.load("resting_eeg").config, discover_study(sample_root), tmp_path, ["01", "02"])
    assert (table["status"] == "failed").all()
    assert table["error"].str.contains("0 bytes").all()
    assert (tmp_path / "logs" / "twins_resting_eeg.tsv").is_file()


def test_a_session_arriving_out_of_time_order_is_inserted_and_the_later_refitted(
    make_session, small_connectome, tmp_path
):
    from neurotwin.errors import DataError
    from neurotwin.twin import update_twin

    sessions = {
        ses: make_session(f=f, seed=i + 1, session=ses)
        for i, (ses, f) in enumerate((("01", 10.0), ("02", 9.6), ("03", 9.2)))
    }
    days = {"01": 0.0, "02": 30.0, "03": 60.0}

    def factory(subject):
        return Twin(subject, connectome=small_connectome, restarts=0)

    in_order = TwinStore(tmp_path / "a.sqlite", secret=KEY)
    for ses in ("01", "02", "03"):
        update_twin(in_order, "01", sessions[ses], at=days[ses], session=ses, twin_factory=factory)
    raced = TwinStore(tmp_path / "b.sqlite", secret=KEY)
    for ses in ("01", "03"):  # the updater of session 02 finished last
        update_twin(raced, "01", sessions[ses], at=days[ses], session=ses, twin_factory=factory)
    with pytest.raises(DataError, match="time order.*features_of"):
        update_twin(raced, "01", sessions["02"], at=30.0, session="02")
    assert raced.n_states("01") == 2
    twin = update_twin(raced, "01", sessions["02"], at=30.0, session="02", features_of=sessions.__getitem__)
    assert [s.session for s in twin.states_] == ["01", "02", "03"]
    assert [s.index for s in twin.states_] == [0, 1, 2]
    a, b = in_order.load("01").states_, raced.load("01").states_
    for x, y in zip(a, b):
        np.testing.assert_allclose(x.posterior.mean, y.posterior.mean, rtol=1e-6, atol=1e-8)
