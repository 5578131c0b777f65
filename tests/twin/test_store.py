"""The twin store: round trip, damage, schema, a kill -9 mid-write and two processes updating one twin."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from neurotwin.errors import DataError, StoreError
from neurotwin.twin import ConcurrentUpdate, Twin, TwinStore, update_twin

KEY = "test-key"


def _child(code: str, *args, env=None):
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NEUROTWIN_DEID_KEY": KEY, **(env or {})},
    )


@pytest.fixture()
def fitted(make_session, small_connectome, tmp_path):
    store = TwinStore(tmp_path / "twins.sqlite", secret=KEY)
    twin = Twin("01", connectome=small_connectome, restarts=0).fit(make_session(), session="01", at=0.0)
    store.save(twin)
    return store, twin


def test_round_trip_is_exact_and_pseudonymous(fitted, make_session):
    store, twin = fitted
    back = store.load("01")
    assert len(back.states_) == 1 and back.connectome.labels == twin.connectome.labels
    a, b = twin.states_[0], back.states_[0]
    np.testing.assert_array_equal(a.posterior.mean, b.posterior.mean)
    np.testing.assert_array_equal(a.posterior.cov, b.posterior.cov)
    assert a.features == b.features and a.diagnostics == b.diagnostics
    with sqlite3.connect(store.path) as con:
        ids = [r[0] for r in con.execute("SELECT id FROM twins")]
    assert ids == [store.twin_id("01")] and ids[0].startswith("tw-")  # an HMAC, not the label
    with pytest.raises(StoreError, match="written with another de-identification key"):
        TwinStore(store.path, secret="another key")  # not "no twin": the key is what differs
    back.update(make_session(session="02", seed=5), session="02", at=30.0)
    assert store.save(back, known=1) == 1 and store.n_states("01") == 2


def test_unknown_subject_damage_and_newer_schema_are_refused(fitted, tmp_path):
    store, _ = fitted
    with pytest.raises(DataError, match="no twin for subject 'nobody'"):
        store.load("nobody")
    with sqlite3.connect(store.path) as con:
        blob = bytearray(con.execute("SELECT arrays FROM states").fetchone()[0])
        blob[len(blob) // 2] ^= 0xFF  # one flipped byte in the middle of the arrays
        con.execute("UPDATE states SET arrays = ?", (bytes(blob),))
    with pytest.raises(StoreError, match="checksum"):
        store.load("01")
    newer = tmp_path / "newer.sqlite"
    with sqlite3.connect(newer) as con:
        con.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="newer"):
        TwinStore(newer, secret=KEY)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError, match="not a neurotwin store"):
        TwinStore(junk, secret=KEY)


def test_a_failed_update_leaves_the_store_unchanged(fitted, make_session):
    store, _ = fitted
    before = store.path.read_bytes()
    with pytest.raises(DataError, match="NaN"):
        update_twin(store, "01", make_session(session="02", nan=True), at=30.0, session="02")
    with pytest.raises(DataError, match="time order"):
        update_twin(store, "01", make_session(session="02"), at=-1.0, session="02")
    assert store.n_states("01") == 1
    assert store.load("01").states_[0].session == "01"
    assert len(before) > 0


def test_concurrent_saves_of_one_state_conflict(fitted, make_session):
    store, _ = fitted
    first, second = store.load("01"), store.load("01")
    first.update(make_session(session="02", seed=7), session="02", at=30.0)
    second.update(make_session(session="03", seed=8), session="03", at=60.0)
    store.save(first, known=1)
    with pytest.raises(ConcurrentUpdate):
        store.save(second, known=1)
    assert [s.session for s in store.load("01").states_] == ["01", "02"]


@pytest.mark.slow
def test_two_processes_updating_one_twin_lose_nothing(fitted, make_session, tmp_path):
    store, _ = fitted
    paths = {}
    for ses, seed in (("02", 11), ("03", 12)):
        paths[ses] = make_session(session=ses, seed=seed).save(tmp_path / f"ses-{ses}")
    flag = tmp_path / "go"
    code = """
        import sys, time, pathlib
        from neurotwin.features import read_featureset
        from neurotwin.twin import TwinStore, update_twin
        path, feats, session, at, role, flag = sys.argv[1:]
        store = TwinStore(path)  # the key comes from NEUROTWIN_DEID_KEY
        attempts = []
        if role == "held":
            load, save = TwinStore.load, TwinStore.save
            def loud_load(self, subject, **kwargs):
                twin = load(self, subject, **kwargs)
                print("loaded", len(twin.states_), flush=True)
                return twin
            def held_save(self, twin, known=None, **kwargs):
                attempts.append(known)
                while len(attempts) == 1 and not pathlib.Path(flag).exists():
                    time.sleep(0.05)  # hold the first save until the other process has saved
                return save(self, twin, known=known, **kwargs)
            TwinStore.load, TwinStore.save = loud_load, held_save
        twin = update_twin(store, "01", read_featureset(feats), at=float(at), session=session)
        print("done", [s.session for s in twin.states_], attempts, flush=True)
    """
    held = _child(code, store.path, paths["03"], "03", 60.0, "held", flag)
    assert held.stdout.readline().startswith("loaded 1")  # it has read the twin with one state
    other = _child(code, store.path, paths["02"], "02", 30.0, "plain", flag)
    out, err = other.communicate(timeout=120)
    assert other.returncode == 0, err
    flag.touch()
    out, err = held.communicate(timeout=120)
    assert held.returncode == 0, err
    assert "[1, 2]" in out  # first save refused (the twin had moved on), the retry on top of it succeeded
    assert [s.session for s in store.load("01").states_] == ["01", "02", "03"]


@pytest.mark.slow
def test_kill_9_mid_write_leaves_the_last_complete_state(tmp_path):
    path = tmp_path / "twins.sqlite"
    code = """
        import sys
        import numpy as np
        from neurotwin.twin import Twin, TwinState, TwinStore
        from neurotwin.twin.inference import Posterior
        store = TwinStore(sys.argv[1])
        twin = Twin("07")
        p = 300  # a few hundred kB a state: writes take a while
        for i in range(10_000):
            post = Posterior([f"p{j}" for j in range(p)], ["identity"] * p, np.full(p, float(i)),
                             np.eye(p) * (i + 1))
            twin.states_.append(TwinState(i, f"s{i}", float(i), post))
            store.save(twin)
            print(i, flush=True)
    """
    child = _child(code, path)
    done = []
    while len(done) < 8:
        line = child.stdout.readline()
        assert line, child.stderr.read()
        done.append(int(line))
    time.sleep(0.037)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    done += [int(x) for x in child.stdout.read().split()]  # what it reported before it died
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    twin = TwinStore(path, secret=KEY).load("07")
    n = len(twin.states_)
    assert done[-1] + 1 <= n <= done[-1] + 2  # everything reported saved is there, nothing half-written
    for i, s in enumerate(twin.states_):
        assert s.index == i and s.posterior.mean[0] == float(i) and s.posterior.cov[0, 0] == float(i + 1)


def test_the_study_estimate_is_given_at_load_and_never_stored_as_a_setting(fitted):
    """A loaded twin gets the other twins' between-session SDs for its change detection; saving it
    back (every state replaced) does not freeze that estimate into the twin's own settings."""
    store, _ = fitted
    sums = {"tw-other": {"f": [0.9, 0.1, 10, 5]}, store.twin_id("01"): {"f": [90.0, 0.1, 10, 5]}}
    store.set_study_variability("eeg", sums)
    back = store.load("01")
    assert back.variability is None  # its own setting
    assert back.study_variability_["sd"]["f"] == pytest.approx(np.sqrt(0.8 / 20))  # the others' only
    assert store.load("01", study=False).study_variability_ is None
    store.save(back, known=1, replace_from=0)
    assert store.load("01", study=False).variability is None
    store.set_study_variability("eeg", {"tw-other": {"f": [0.5, 0.1, 10, 5]}})  # the study moves on
    assert store.load("01").study_variability_["sd"]["f"] == pytest.approx(np.sqrt(0.4 / 20))
