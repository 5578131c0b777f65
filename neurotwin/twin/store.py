"""Durable twin storage: one SQLite database (WAL, one transaction per change), arrays as checksummed BLOBs.

Layout (schema version 2, ``PRAGMA user_version``)::

    twins(id, modality, config, connectome, connectome_sha256)
    states(twin_id, idx, session, at, meta, arrays, sha256)   -- primary key (twin_id, idx)
    study(key, value)                                         -- e.g. the study's between-session SDs

* **Pseudonymous**: a twin's id is an HMAC of the subject label with the
  study's private de-identification key (the key file next to the
  derivatives, ``OUT/.neurotwin/deid.key``, or ``NEUROTWIN_DEID_KEY``; see
  :mod:`neurotwin._keys`); labels are never stored. Meta holds day offsets,
  never dates. A store records a check value of its key (an HMAC of a
  constant, not the key): opened with another key, it says so and how to
  pass the right one, instead of finding no twins.
* **Append-only**: states are inserted, never updated; a state's index is
  part of the primary key, so two processes that both try to add state
  *k* cannot both succeed — the second gets :class:`ConcurrentUpdate`,
  reloads and refits on top of the first (:func:`update_twin` does this),
  so no state is lost. The one exception is a session that arrives out
  of time order: it is inserted in its place and the later states are
  refitted on top of it, replaced in the same single transaction
  (``save(..., replace_from=k)``), so the race between updaters never
  decides which session is the baseline.
* **Crash-safe**: every save is one ``BEGIN IMMEDIATE`` transaction in
  WAL mode with ``synchronous=FULL``: after a ``kill -9`` the database
  opens with the last complete save and nothing of the interrupted one.
  A new store is built in a temporary file and linked into place (never
  over another), so two first runs cannot race on its tables and a crash
  or a full disk while creating it leaves no half-made store; an empty
  (0-byte) or damaged file is therefore refused, never replaced.
  Arrays carry a SHA-256 that is checked on every read; a state that
  fails it can be left out (``load(..., damaged="skip")``) so that it
  blocks only itself.
* **Every SQLite error** becomes a :class:`~neurotwin.errors.StoreError`
  naming the file and what to do (free disk space, restore a backup,
  wait for another process).

Why SQLite by hand rather than an ORM: the standard library's ``sqlite3``
is all that is needed for two tables, and keeps the store readable with
any SQLite tool.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import inspect
import io
import json
import os
import re
import sqlite3
import uuid
from pathlib import Path

import numpy as np

from .._keys import deid_key, key_check, key_source, study_key_path
from ..errors import DataError, StoreError
from ..io.connectome import Connectome
from .state import TwinState

__all__ = ["ConcurrentUpdate", "SCHEMA_VERSION", "TwinStore", "update_twin"]

SCHEMA_VERSION = 2

_SCHEMA_V1 = """
CREATE TABLE twins (
    id TEXT PRIMARY KEY,
    modality TEXT NOT NULL,
    config TEXT NOT NULL,
    connectome BLOB,
    connectome_sha256 TEXT
);
CREATE TABLE states (
    twin_id TEXT NOT NULL REFERENCES twins(id),
    idx INTEGER NOT NULL,
    session TEXT NOT NULL,
    at REAL NOT NULL,
    meta TEXT NOT NULL,
    arrays BLOB NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (twin_id, idx)
);
"""

_SCHEMA_V2 = """
CREATE TABLE study (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

#: schema migrations: version -> SQL that brings version - 1 to it
MIGRATIONS = {1: _SCHEMA_V1, 2: _SCHEMA_V2}


def _sealed(value: str) -> str:
    """``value`` with a checksum of its own, so that a damaged check value is not taken for another key."""
    return f"{value}/{hashlib.sha256(value.encode()).hexdigest()[:8]}"


def _sealed_ok(sealed) -> bool:
    value, _, _ = str(sealed).partition("/")
    return bool(re.fullmatch(r"[0-9a-f]{16}", value)) and _sealed(value) == sealed


def _derivatives_of(path: Path) -> Path | None:
    """The derivatives folder whose key file applies to a store at ``path`` (``OUT/twins/twins.sqlite``
    or ``OUT/twins.sqlite``), if it has one."""
    for folder in (path.parent.parent, path.parent):
        if study_key_path(folder).is_file():
            return folder
    return None


class ConcurrentUpdate(StoreError):
    """Another process added a state to this twin since it was loaded."""


_DAMAGED = (
    "the store file is damaged: restore it from a backup, or move it away and run the participant "
    "level again to refit every twin (the derivatives are kept)"
)
_ADVICE = (
    ("full", "the disk is full: free space and run again (the store keeps its last complete save)"),
    ("malformed", _DAMAGED),
    ("not a database", "it is not a neurotwin store, or is damaged: pass another path, or restore a backup"),
    ("no such table", _DAMAGED),
    ("no such column", _DAMAGED),
    ("readonly", "the store cannot be written: check the folder's permissions"),
    ("locked", "another process holds the store: let it finish and run again"),
    ("busy", "another process holds the store: let it finish and run again"),
    ("unable to open", "the store's folder is missing or cannot be written: check the path and permissions"),
    ("disk i/o", "the disk reported an error: check it, then restore the store from a backup if needed"),
)


def _store_error(path: Path, err: BaseException) -> StoreError:
    """A StoreError naming the file, SQLite's reason and what to do."""
    text = str(err)
    advice = next((a for key, a in _ADVICE if key in text.lower()), _DAMAGED)
    return StoreError(f"{path}: the twin store could not be read or written ({text}); {advice}.")


def _rollback(con: sqlite3.Connection) -> None:
    """Roll back if a transaction is open; never mask the error that led here."""
    if con.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            con.execute("ROLLBACK")


def _pack(arrays: dict[str, np.ndarray]) -> tuple[bytes, str]:
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    blob = buf.getvalue()
    return blob, hashlib.sha256(blob).hexdigest()


def _unpack(blob: bytes, sha: str, what: str, path: Path) -> dict[str, np.ndarray]:
    if not isinstance(blob, bytes) or not isinstance(sha, str) or hashlib.sha256(blob).hexdigest() != sha:
        raise StoreError(
            f"{path}: the arrays of {what} fail their checksum (the store is damaged); "
            f"restore it from a backup or refit this twin."
        )
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


class TwinStore:
    """A folder's twin database (e.g. ``derivatives/neurotwin/twins.sqlite``).

    Parameters
    ----------
    path : path-like
        The database file (created with its folder when missing).
    secret : str | None
        The de-identification key (default: ``NEUROTWIN_DEID_KEY``, else the
        study's key file next to the store's derivatives folder, else the
        user's key file).
    create : bool
        Create the store when it is missing (else a :class:`StoreError`).

    Raises
    ------
    neurotwin.errors.StoreError
        If the file is not a twin store, is damaged, or was written with
        another de-identification key (the message says where the key in
        use came from and how to pass the study's).

    Examples
    --------
    >>> import tempfile, os
    >>> from neurotwin.twin import TwinStore
    >>> store = TwinStore(os.path.join(tempfile.mkdtemp(), "twins.sqlite"), secret="k")
    >>> store.subjects_count()
    0
    """

    def __init__(self, path: str | os.PathLike, *, secret: str | None = None, create: bool = True):
        self.path = Path(path)
        out = _derivatives_of(self.path)
        self._key = deid_key(secret, out_dir=out)
        self._key_source = key_source(secret, out_dir=out)
        if self.path.is_dir():
            raise StoreError(f"{self.path}: is a folder, not a twin store; pass the store file's path.")
        if not self.path.exists():
            if not create:
                raise StoreError(
                    f"{self.path}: no twin store here; run 'neurotwin run BIDS OUT participant' first."
                )
            self._create()
        elif self.path.stat().st_size == 0:
            raise StoreError(
                f"{self.path}: the twin store is empty (0 bytes), so it is damaged (neurotwin never leaves "
                f"one so: it was truncated or overwritten). Restore it from a backup, or move it away and "
                f"run the participant level again to refit every twin."
            )
        with self._db() as con:
            self._migrate(con)
            row = con.execute("SELECT value FROM study WHERE key = 'key_check'").fetchone()
        if row is not None and not _sealed_ok(row[0]):  # damage, not another key
            raise StoreError(f"{self.path}: {_DAMAGED}.")
        if row is not None and row[0] != _sealed(key_check(self._key)):
            raise StoreError(
                f"{self.path}: this twin store was written with another de-identification key, so its "
                f"pseudonymous ids do not match subject labels under the key in use ({self._key_source}). "
                f"Use the study's key: keep the derivatives' .neurotwin/deid.key next to the store (copy "
                f"it with the store, mode 0600), or set NEUROTWIN_DEID_KEY to the key the store was "
                f"written with."
            )

    def _connect(self, path: Path | None = None) -> sqlite3.Connection:
        con = sqlite3.connect(path or self.path, timeout=60.0, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=FULL")
            con.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error:
            con.close()
            raise
        return con

    @contextlib.contextmanager
    def _db(self, path: Path | None = None):
        """A connection, closed after use; any SQLite error becomes a StoreError."""
        try:
            con = self._connect(path)
        except sqlite3.Error as err:
            raise _store_error(self.path, err) from err
        try:
            yield con
        except sqlite3.Error as err:  # (save() turns a clash of state indices into ConcurrentUpdate first)
            _rollback(con)
            raise _store_error(self.path, err) from err
        except BaseException:
            _rollback(con)
            raise
        finally:
            con.close()

    def _create(self) -> None:
        """Build the store in a temporary file and link it into place (never over another's)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(f"{self.path}: cannot create the store's folder ({err}).") from err
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.new")
        try:
            with self._db(tmp) as con:
                self._migrate(con)
                con.execute("INSERT INTO study VALUES ('key_check', ?)", (_sealed(key_check(self._key)),))
                con.commit()
            try:
                os.link(tmp, self.path)  # atomic; fails if another process created the store first
            except FileExistsError:
                pass
            except OSError as err:
                raise StoreError(
                    f"{self.path}: the new store cannot be put in place ({err}); check "
                    f"the disk and the folder's permissions."
                ) from err
            with contextlib.suppress(OSError):
                fd = os.open(self.path.parent, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        finally:
            for extra in ("", "-wal", "-shm", "-journal"):
                with contextlib.suppress(OSError):
                    Path(f"{tmp}{extra}").unlink()

    def _migrate(self, con: sqlite3.Connection) -> None:
        """Bring the schema to :data:`SCHEMA_VERSION`; the version is read under the write lock."""
        version = con.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: schema version {version} is newer than this neurotwin's "
                f"({SCHEMA_VERSION}); upgrade neurotwin."
            )
        if version == SCHEMA_VERSION:
            return
        con.execute("BEGIN IMMEDIATE")
        try:
            version = con.execute("PRAGMA user_version").fetchone()[0]  # another process may have migrated
            for v in range(version + 1, SCHEMA_VERSION + 1):
                for stmt in filter(str.strip, MIGRATIONS[v].split(";")):
                    con.execute(stmt)
                con.execute(f"PRAGMA user_version = {v}")
            con.execute("COMMIT")
        except BaseException:
            _rollback(con)
            raise

    def twin_id(self, subject: str) -> str:
        """The pseudonymous id of a subject's twin."""
        mac = hmac.new(self._key, f"twin:{subject}".encode(), hashlib.sha256)
        return "tw-" + mac.hexdigest()[:16]

    def fingerprint(self, subject: str) -> str:
        """A hash of everything stored about a subject's twin and of the study's tables ("" when none).

        Reports compare it to decide whether they need rebuilding.
        """
        tid = self.twin_id(subject)
        h = hashlib.sha256()
        with self._db() as con:
            twin = con.execute(
                "SELECT modality, config, connectome_sha256 FROM twins WHERE id = ?", (tid,)
            ).fetchone()
            if twin is None:
                return ""
            h.update(json.dumps(list(twin)).encode())
            for row in con.execute(
                "SELECT idx, session, at, meta, sha256 FROM states WHERE twin_id = ? ORDER BY idx", (tid,)
            ):
                h.update(json.dumps(list(row)).encode())
            for row in con.execute("SELECT key, value FROM study ORDER BY key"):
                h.update(json.dumps(list(row)).encode())
        return h.hexdigest()

    def subjects_count(self) -> int:
        """How many twins the store holds."""
        with self._db() as con:
            return con.execute("SELECT COUNT(*) FROM twins").fetchone()[0]

    def __repr__(self) -> str:
        try:
            count = f"{self.subjects_count()} twin(s)"
        except Exception:  # a repr never raises: a store that cannot be read says so
            count = "unreadable"
        return f"<TwinStore {self.path.name} | {count}, schema v{SCHEMA_VERSION}>"

    def exists(self, subject: str) -> bool:
        """Whether the subject has a twin here."""
        with self._db() as con:
            row = con.execute("SELECT 1 FROM twins WHERE id = ?", (self.twin_id(subject),)).fetchone()
            return row is not None

    def n_states(self, subject: str) -> int:
        """How many states the subject's twin has."""
        with self._db() as con:
            return con.execute(
                "SELECT COUNT(*) FROM states WHERE twin_id = ?", (self.twin_id(subject),)
            ).fetchone()[0]

    def save(self, twin, *, known: int | None = None, replace_from: int | None = None) -> int:
        """Add the twin's states the store does not have yet; returns how many were written.

        Parameters
        ----------
        twin : Twin
        known : int | None
            How many states the twin had when it was loaded; if the store
            has more now, another process updated it: :class:`ConcurrentUpdate`.
        replace_from : int | None
            Replace the stored states from this index on by the twin's
            (a session inserted out of time order, and the later ones
            refitted); needs ``known``. With 0 the twin's settings and
            modality replace the stored ones too (a twin refitted from its
            first session, with a modality added).
        """
        if replace_from is not None and known is None:
            raise StoreError("save(replace_from=...) needs known= (the states the twin was loaded with).")
        tid = self.twin_id(twin.subject)
        # the twin's settings (its scikit-learn parameters) but the subject's label and the connectome
        config = twin.settings()
        if twin.connectome is not None:
            # what the head model is found from (a template's name and folder), never patient data
            config["connectome_provenance"] = {
                k: v
                for k, v in (twin.connectome.provenance or {}).items()
                if k in ("template", "source", "file", "frame")
            }
        con_blob = con_sha = None
        if twin.connectome is not None:
            c = twin.connectome
            arrays = {"weights": c.weights}
            for name in ("tract_lengths", "centres", "orientations"):
                if getattr(c, name, None) is not None:
                    arrays[name] = getattr(c, name)
            if c.labels is not None:
                arrays["labels"] = np.array(c.labels, dtype=str)
            con_blob, con_sha = _pack(arrays)
            config["connectome_name"] = c.name
            config["connectome_directed"] = bool(c.directed)

        def record(state):
            meta, arrays = state.to_record()
            blob, sha = _pack(arrays)
            return (tid, state.index, state.session, state.at, json.dumps(meta, sort_keys=True), blob, sha)

        with self._db() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                row = con.execute("SELECT modality FROM twins WHERE id = ?", (tid,)).fetchone()
                if row is None:
                    con.execute(
                        "INSERT INTO twins VALUES (?, ?, ?, ?, ?)",
                        (tid, twin.modality, json.dumps(config, sort_keys=True), con_blob, con_sha),
                    )
                elif row[0] != twin.modality and replace_from != 0:
                    raise StoreError(f"{self.path}: this subject's twin is {row[0]}, not {twin.modality}.")
                elif replace_from == 0:  # every state replaced: the twin may change (e.g. EEG -> EEG+BOLD)
                    con.execute(
                        "UPDATE twins SET modality = ?, config = ?, connectome = ?, connectome_sha256 = ? "
                        "WHERE id = ?",
                        (twin.modality, json.dumps(config, sort_keys=True), con_blob, con_sha, tid),
                    )
                have = con.execute("SELECT COUNT(*) FROM states WHERE twin_id = ?", (tid,)).fetchone()[0]
                if known is not None and have != known:
                    raise ConcurrentUpdate(
                        f"{self.path}: the twin gained {have - known} state(s) from "
                        f"another process since it was loaded; reload and update again."
                    )
                if replace_from is not None:
                    con.execute("DELETE FROM states WHERE twin_id = ? AND idx >= ?", (tid, replace_from))
                    have = replace_from
                for state in twin.states_[have:]:  # only the new ones are packed
                    con.execute("INSERT INTO states VALUES (?, ?, ?, ?, ?, ?, ?)", record(state))
                con.execute("COMMIT")
            except sqlite3.IntegrityError as err:
                _rollback(con)
                raise ConcurrentUpdate(f"{self.path}: another process added the same state ({err}).") from err
            except BaseException:
                _rollback(con)
                raise
        return max(0, len(twin.states_) - have)

    def set_study_variability(self, modality: str, sums: dict) -> None:
        """Keep each twin's contribution to the study's between-session SDs (the group run's estimate).

        ``sums`` is :func:`~neurotwin.twin.longitudinal.population_sums` of
        the store's twins of one modality (keyed by their pseudonymous ids).
        A twin loaded from this store then uses the study's SDs *without its
        own sessions* (leave-one-out: a patient's change never widens the
        yardstick it is measured with), unless it was given its own.
        """
        with self._db() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                con.execute(
                    "INSERT OR REPLACE INTO study VALUES (?, ?)",
                    (f"variability:{modality}", json.dumps(sums, sort_keys=True)),
                )
                con.execute("COMMIT")
            except BaseException:
                _rollback(con)
                raise

    def study_variability(self, modality: str, *, exclude: str | None = None) -> dict | None:
        """The study's between-session SDs of one modality (``Variability.to_dict()``), if estimated.

        ``exclude``: a twin id whose own sessions are left out.
        """
        from .variability import add_sums, from_sums

        with self._db() as con:
            row = con.execute(
                "SELECT value FROM study WHERE key = ?", (f"variability:{modality}",)
            ).fetchone()
        if not row:
            return None
        sums = {k: v for k, v in json.loads(row[0]).items() if k != exclude}
        var = from_sums(add_sums(sums.values()), source=f"study, {len(sums)} other subjects")
        return var.to_dict() if var.sd else None

    def modalities(self) -> list[str]:
        """The modalities of the store's twins (sorted), read without loading any twin."""
        with self._db() as con:
            return sorted(r[0] for r in con.execute("SELECT DISTINCT modality FROM twins").fetchall())

    def twins(self, *, study: bool = True):
        """Every twin in the store, each labelled by its pseudonymous id (for study-level summaries).

        ``study``: as for :meth:`load`.
        """
        with self._db() as con:
            ids = [r[0] for r in con.execute("SELECT id FROM twins ORDER BY id").fetchall()]
        for tid in ids:
            yield self._load(tid, tid, study=study)

    def load(self, subject: str, *, damaged: str = "raise", study: bool = True):
        """The subject's twin with all its states.

        Parameters
        ----------
        subject : str
        damaged : {"raise", "skip"}
            What a state whose arrays fail their checksum (or whose record
            cannot be read) does: stop the load (the default: a twin to be
            updated must be whole), or be left out, listed in the twin's
            ``damaged_`` (index, session, error) so that one damaged state
            blocks only itself (reports use this).
        study : bool
            Give the twin the study's between-session SDs of the *other*
            twins (``Twin.study_variability_``, for its change detection)
            when its own settings have none. False skips that estimate
            (for updates, which do not use it).

        Raises
        ------
        neurotwin.errors.DataError
            When the store has no twin for this subject.
        neurotwin.errors.StoreError
            When the twin's record or (with ``damaged="raise"``) a state is damaged.
        """
        from .._validation import check_option

        check_option(damaged, ("raise", "skip"), "damaged")
        return self._load(self.twin_id(subject), subject, damaged, study=study)

    def _load(self, tid: str, subject: str, damaged: str = "raise", *, study: bool = True):
        from .twin import Twin

        with self._db() as con:
            row = con.execute(
                "SELECT modality, config, connectome, connectome_sha256 FROM twins WHERE id = ?", (tid,)
            ).fetchone()
            if row is None:
                raise DataError(
                    f"{self.path}: no twin for subject {subject!r}; fit one first "
                    f"(neurotwin run ... participant, or Twin(...).fit)."
                )
            states = con.execute(
                "SELECT idx, session, meta, arrays, sha256 FROM states WHERE twin_id = ? ORDER BY idx", (tid,)
            ).fetchall()
        try:
            modality, config, con_blob, con_sha = row
            config = json.loads(config)
            connectome = None
            if con_blob is not None:
                arr = _unpack(con_blob, con_sha, f"subject {subject!r}'s connectome", self.path)
                connectome = Connectome(
                    arr["weights"],
                    tract_lengths=arr.get("tract_lengths"),
                    labels=[str(x) for x in arr["labels"]] if "labels" in arr else None,
                    centres=arr.get("centres"),
                    orientations=arr.get("orientations"),
                    directed=config.get("connectome_directed", False),
                    name=config.get("connectome_name", ""),
                    provenance=config.get("connectome_provenance", {}),
                )
            variability = config.get("variability")
            # the settings stored (a store written before a setting existed takes its default)
            names = set(inspect.signature(Twin).parameters) - {"subject", "modality", "connectome"}
            always = (
                "effective_connectivity",
                "process_noise",
                "restarts",
                "change_thresholds",
                "random_state",
            )
            missing = [n for n in always if n not in config]
            if missing:  # stored by every version: a record without them is damaged
                raise KeyError(f"settings {missing}")
            twin = Twin(
                subject,
                modality=modality,
                connectome=connectome,
                **{k: v for k, v in config.items() if k in names},
            )
        except (ValueError, KeyError, TypeError) as err:  # DataError (a bad connectome) is a ValueError
            raise StoreError(
                f"{self.path}: the record of subject {subject!r}'s twin cannot be read "
                f"({type(err).__name__}: {err}); {_DAMAGED}."
            ) from err
        if study and not variability:  # (a setting of the twin's own wins; the study's is not stored)
            twin.study_variability_ = self.study_variability(modality, exclude=tid)
        twin.damaged_ = []
        for idx, session, meta, blob, sha in states:
            try:
                what = f"state {idx} (session {session}) of subject {subject!r}"
                arrays = _unpack(blob, sha, what, self.path)
                try:
                    state = TwinState.from_record(json.loads(meta), arrays)
                except (ValueError, KeyError, TypeError) as err:
                    raise StoreError(
                        f"{self.path}: the record of state {idx} (session {session}) of subject "
                        f"{subject!r} cannot be read ({err}); {_DAMAGED}."
                    ) from err
            except StoreError as err:
                if damaged == "raise":
                    raise
                twin.damaged_.append({"index": int(idx), "session": str(session), "error": str(err)})
                continue
            twin.states_.append(state)
        return twin


def update_twin(
    store: TwinStore,
    subject: str,
    features,
    *,
    at: float,
    session: str | None = None,
    retries: int = 3,
    twin_factory=None,
    features_of=None,
):
    """Load (or create), update and save a subject's twin, safely against other processes.

    When another process adds a state in between, the update is redone on
    top of it (up to ``retries`` times), so neither state is lost. A
    session earlier than the twin's last is inserted in time order and the
    later sessions are refitted on top of it (their features come from
    ``features_of``), so the order in which updaters finish never decides
    the baseline. When a fit fails, nothing is written.

    Parameters
    ----------
    store : TwinStore
    subject : str
    features : FeatureSet
    at : float
        Days since the twin's first session (0 for a new twin).
    session : str | None
    retries : int
    twin_factory : callable | None
        ``subject -> Twin`` for a subject without a twin yet.
    features_of : callable | None
        ``session label -> FeatureSet`` of a stored session, needed to
        insert a session before the twin's last.

    Returns
    -------
    twin : Twin
    """
    for attempt in range(retries + 1):
        replace_from = None
        if store.exists(subject):
            twin = store.load(subject, study=False)
            known = len(twin.states_)
            start = next((i for i, s in enumerate(twin.states_) if s.at > at), None)
            if start is None:
                twin.update(features, at=at, session=session)
            else:
                later = twin.states_[start:]
                if features_of is None:
                    raise DataError(
                        f"session {session!r} at day {at} comes before the twin's state "
                        f"{later[0].session!r} (day {later[0].at}) in time order; pass "
                        f"features_of= (session -> FeatureSet) to insert it and refit the later "
                        f"sessions."
                    )
                label = session or twin._session_of(features)
                twin.refit_from(
                    start,
                    [(features, label, at), *((features_of(s.session), s.session, s.at) for s in later)],
                )
                replace_from = start
        else:
            if twin_factory is None:
                raise DataError(
                    f"{store.path}: no twin for subject {subject!r} and no twin_factory to make one."
                )
            twin = twin_factory(subject)
            known = 0
            twin.fit(features, session=session, at=at)
        try:
            store.save(twin, known=known, replace_from=replace_from)
            return twin
        except ConcurrentUpdate:
            if attempt == retries:
                raise
    raise StoreError("unreachable")  # pragma: no cover
