"""Every run, kept in SQLite in a workspace folder (default ./.workbench/runs.sqlite).

A run is a self-describing record: configuration, held-out identity, normalizer,
package versions, git commit, timings and status, plus its per-utterance hypotheses
and per-slice scores. Hypotheses are committed in batches as they arrive (one transaction
per few thousand rows of a scored file; during transcription each as it is made, or a
few batches a second when decoding is fast), so an interrupted run keeps what it finished; a run only becomes `succeeded` in the same transaction that
writes its scores, so a crash can never leave a half-written run that looks complete.
Scores can be recomputed from stored hypotheses at any time without re-transcribing;
a rescore adds a scorecard VERSION and never overwrites what was stored.

Each run also stores its identity (`workbench.runs.identity`): a hash of everything that
determines its transcripts. Reuse and resume match on it, and claiming a run (reuse an
identical finished one, resume an identical unfinished one, or begin a new one) is one
transaction, so two processes can never resume the same run.
"""

import json
import os
import secrets
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from .errors import RunNotFoundError, WorkspaceError

__all__ = ["RunStore", "RunRecord", "StoredHypothesis", "HypothesisWriter", "DEFAULT_WORKSPACE", "RUN_STATUSES"]

DEFAULT_WORKSPACE = ".workbench"
RUN_STATUSES = ("running", "succeeded", "failed", "cancelled")
SCHEMA_VERSION = 2  # 2: runs.identity, versioned scorecards
BATCH_ROWS = 5000  # hypotheses per transaction when many are stored at once

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
    created_at TEXT NOT NULL,
    finished_at TEXT,
    error TEXT,
    pid INTEGER,
    host TEXT,
    config TEXT NOT NULL,
    heldout_id TEXT,
    heldout_size INTEGER,
    normalizer TEXT,
    environment TEXT NOT NULL,
    git_commit TEXT,
    timings TEXT,
    summary TEXT
);
CREATE TABLE IF NOT EXISTS hypotheses (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    utterance_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    reference TEXT NOT NULL,
    hypothesis TEXT NOT NULL,
    slices TEXT NOT NULL,
    extra TEXT,
    PRIMARY KEY (run_id, utterance_id)
);
CREATE TABLE IF NOT EXISTS scores (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    normalizer TEXT NOT NULL,
    scorecard TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (run_id, normalizer)
);
-- Every scoring of a run is kept: version 1 is the run's own, each rescore adds one.
CREATE TABLE IF NOT EXISTS scorecards (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    normalizer TEXT NOT NULL,
    scorecard TEXT NOT NULL,
    created_at TEXT NOT NULL,
    note TEXT,
    PRIMARY KEY (run_id, version, normalizer)
);
"""


@dataclass(frozen=True)
class StoredHypothesis:
    utterance_id: str
    reference: str
    hypothesis: str
    slices: dict
    extra: dict | None = None  # backend signals: avg log-prob, no-speech prob, language...

    @property
    def id(self) -> str:
        return self.utterance_id

    @property
    def language(self) -> str | None:
        return self.slices.get("language") or None


@dataclass(frozen=True)
class RunRecord:
    id: str
    kind: str
    status: str  # running | succeeded | failed | cancelled (see `effective_status`)
    created_at: str
    finished_at: str | None
    error: str | None
    pid: int | None
    host: str | None
    config: dict
    heldout_id: str | None
    heldout_size: int | None
    normalizer: str | None
    environment: dict
    git_commit: str | None
    timings: dict
    summary: dict
    identity: str | None = None  # hash of everything that determines the run's transcripts

    @property
    def effective_status(self) -> str:
        """`interrupted` for a run still marked running whose process is gone."""
        if self.status != "running" or self.pid is None or self.host != os.uname().nodename:
            return self.status
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return "interrupted"
        except PermissionError:
            pass
        return self.status


def _why(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class RunStore:
    """The workspace's run database. Cheap to open; one connection per instance."""

    def __init__(self, workspace: str | os.PathLike = DEFAULT_WORKSPACE, read_only: bool = False):
        self.workspace = Path(workspace)
        self.path = self.workspace / "runs.sqlite"
        self.read_only = read_only
        try:
            if read_only:
                self._open_read_only()
                return
            self.workspace.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.execute("PRAGMA journal_mode = WAL")  # readers (the TUI) never block a writer
            self._db.executescript(_SCHEMA)  # idempotent: CREATE TABLE IF NOT EXISTS
            self._migrate()
        except (OSError, sqlite3.Error) as exc:
            raise WorkspaceError(f"{self.path}: cannot open the run store for writing ({_why(exc)}); "
                                 "pass --workspace with a writable folder") from None

    def _open_read_only(self) -> None:
        """For commands that only read (runs list/show, report, compare): nothing is written,
        so a read-only workspace (a CI artifact, a shared folder) can still be reported on."""
        if not self.path.is_file():
            raise RunNotFoundError(f"{self.path}: no run store here (no runs yet in {self.workspace})")
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        self._db = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None)
        try:
            self._db.execute("SELECT 1 FROM runs LIMIT 1").fetchall()
        except sqlite3.OperationalError:
            # A WAL database in a folder we cannot write: readable only as immutable.
            self._db.close()
            self._db = sqlite3.connect(f"{self.path.resolve().as_uri()}?immutable=1", uri=True, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._has_versions = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'scorecards'").fetchone() is not None

    def _migrate(self) -> None:
        """Bring a store written by an older workbench up to this schema, keeping every row."""
        with self._transaction() as db:
            columns = {r["name"] for r in db.execute("PRAGMA table_info(runs)")}
            if "identity" not in columns:
                db.execute("ALTER TABLE runs ADD COLUMN identity TEXT")
            # Schema 1 kept one scorecard per normalizer in `scores`: it becomes version 1.
            db.execute("INSERT OR IGNORE INTO scorecards SELECT run_id, 1, normalizer, scorecard, created_at, NULL FROM scores")
            db.execute("DELETE FROM scores")
            db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ transactions
    class _Tx:
        def __init__(self, db):
            self.db = db

        def __enter__(self):
            self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, exc_type, exc, tb):
            self.db.execute("ROLLBACK" if exc_type else "COMMIT")

    def _transaction(self) -> "_Tx":
        if self.read_only:
            raise WorkspaceError(f"{self.path}: opened read-only; this command cannot change runs")
        return RunStore._Tx(self._db)

    # ------------------------------------------------------------------ writing
    def begin_run(
        self,
        kind: str,
        config: dict,
        environment: dict,
        heldout_id: str | None = None,
        heldout_size: int | None = None,
        normalizer: str | None = None,
        git_commit: str | None = None,
        identity: str | None = None,
    ) -> str:
        with self._transaction() as db:
            return self._insert_run(db, kind, config, environment, heldout_id, heldout_size, normalizer, git_commit, identity)

    def _insert_run(self, db, kind, config, environment, heldout_id, heldout_size, normalizer, git_commit, identity) -> str:
        run_id = time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(2)
        db.execute(
            "INSERT INTO runs (id, kind, status, created_at, pid, host, config, heldout_id, heldout_size,"
            " normalizer, environment, git_commit, identity) VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                kind,
                _now(),
                os.getpid(),
                os.uname().nodename,
                json.dumps(config, sort_keys=True),
                heldout_id,
                heldout_size,
                normalizer,
                json.dumps(environment, sort_keys=True),
                git_commit,
                identity,
            ),
        )
        return run_id

    def claim_run(
        self,
        kind: str,
        identity: str,
        config: dict,
        environment: dict,
        heldout_id: str | None,
        heldout_size: int | None,
        normalizer: str | None,
        git_commit: str | None,
        reuse: bool,
        resume: bool,
    ) -> tuple[str, str]:
        """(how, run id) in ONE transaction: `reused` an identical succeeded run (when
        `reuse`), `resumed` an identical unfinished one whose process is gone (when
        `resume`), or `new`. Two processes claiming at once get different runs."""
        with self._transaction() as db:
            rows = db.execute(
                "SELECT * FROM runs WHERE identity = ? AND kind = ? ORDER BY created_at DESC, rowid DESC", (identity, kind)
            ).fetchall()
            records = [_record(r) for r in rows]
            if reuse:
                done = next((r for r in records if r.status == "succeeded"), None)
                if done is not None:
                    return "reused", done.id
            if resume:
                stopped = next((r for r in records if r.effective_status in ("interrupted", "cancelled", "failed")), None)
                if stopped is not None:
                    db.execute(
                        "UPDATE runs SET status = 'running', pid = ?, host = ?, error = NULL, finished_at = NULL WHERE id = ?",
                        (os.getpid(), os.uname().nodename, stopped.id),
                    )
                    return "resumed", stopped.id
            return "new", self._insert_run(db, kind, config, environment, heldout_id, heldout_size, normalizer, git_commit, identity)

    def add_hypotheses(self, run_id: str, hypotheses: Iterable[StoredHypothesis], batch_rows: int = BATCH_ROWS) -> int:
        """Store (or replace) hypotheses, in transactions of `batch_rows` rows (one
        executemany and one commit each): an interruption keeps every batch committed
        before it, and 100,000 rows cost a few dozen commits instead of one per row or
        one that holds them all."""
        written = 0
        start = None
        batch: list[StoredHypothesis] = []
        for h in hypotheses:
            batch.append(h)
            if len(batch) >= batch_rows:
                start = self._insert_batch(run_id, batch, start)
                written += len(batch)
                batch = []
        if batch or start is None:
            self._insert_batch(run_id, batch, start)
            written += len(batch)
        return written

    def _insert_batch(self, run_id: str, batch: list[StoredHypothesis], start: int | None) -> int:
        """One transaction; returns the position after the batch. Positions continue from
        the rows already stored (a resumed run appends after them)."""
        with self._transaction() as db:
            if start is None:
                start = db.execute("SELECT COUNT(*) FROM hypotheses WHERE run_id = ?", (run_id,)).fetchone()[0]
            encoded: dict[tuple, str] = {}  # a corpus has few distinct slice combinations: encode each once

            def slices_json(slices) -> str:
                try:
                    key = tuple(slices.items())
                    text = encoded.get(key)
                except TypeError:  # a value that cannot be a key (a list): encoded each time
                    return json.dumps(dict(slices), sort_keys=True)
                if text is None:
                    text = encoded[key] = json.dumps(dict(slices), sort_keys=True)
                return text

            db.executemany(
                "INSERT OR REPLACE INTO hypotheses (run_id, utterance_id, position, reference, hypothesis, slices, extra)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        run_id,
                        h.utterance_id,
                        start + i,
                        h.reference,
                        h.hypothesis,
                        slices_json(h.slices),
                        json.dumps(h.extra, sort_keys=True) if h.extra is not None else None,
                    )
                    for i, h in enumerate(batch)
                ],
            )
        return start + len(batch)

    def writer(self, run_id: str, batch_rows: int = 256, min_interval_s: float = 0.25) -> "HypothesisWriter":
        """A writer for hypotheses that arrive one at a time (transcription). A row is
        committed as it arrives unless the last commit was under `min_interval_s` ago;
        then it waits for the next commit (at most `batch_rows` rows wait). So slow
        decoding stores each utterance as it is made, and fast (GPU) decoding stores a
        batch a few times a second instead of one transaction per utterance. Closing the
        writer, even by an exception (Ctrl-C), stores what is pending."""
        return HypothesisWriter(self, run_id, batch_rows, min_interval_s)

    def finish_run(self, run_id: str, scorecards: dict[str, dict], timings: dict, summary: dict, note: str | None = None) -> None:
        """Write scores (a new scorecard version) and mark the run succeeded, atomically."""
        with self._transaction() as db:
            self._require(run_id)
            self._add_version(db, run_id, scorecards, note)
            db.execute(
                "UPDATE runs SET status = 'succeeded', finished_at = ?, timings = ?, summary = ?, error = NULL WHERE id = ?",
                (_now(), json.dumps(timings, sort_keys=True), json.dumps(summary, sort_keys=True), run_id),
            )

    def _add_version(self, db, run_id: str, scorecards: dict[str, dict], note: str | None) -> int:
        version = db.execute("SELECT COALESCE(MAX(version), 0) + 1 FROM scorecards WHERE run_id = ?", (run_id,)).fetchone()[0]
        for normalizer, card in scorecards.items():
            db.execute(
                "INSERT INTO scorecards (run_id, version, normalizer, scorecard, created_at, note) VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, version, normalizer, json.dumps(card, sort_keys=True), _now(), note),
            )
        return version

    def end_run(self, run_id: str, status: str, error: str | None = None, timings: dict | None = None) -> None:
        """Mark a run failed or cancelled; its hypotheses so far are kept."""
        if status not in ("failed", "cancelled"):
            raise ValueError(f"end_run status must be failed or cancelled, got {status!r}")
        with self._transaction() as db:
            db.execute(
                "UPDATE runs SET status = ?, finished_at = ?, error = ?, timings = COALESCE(?, timings) WHERE id = ?",
                (status, _now(), error, json.dumps(timings, sort_keys=True) if timings else None, run_id),
            )

    def discard_if_empty(self, run_id: str) -> bool:
        """Delete a stopped run that kept nothing (cancelled before its first utterance):
        nothing to resume or report, so it should not clutter the store. True if deleted."""
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM hypotheses WHERE run_id = ? LIMIT 1", (run_id,)).fetchone() is not None:
                return False
            if db.execute("SELECT 1 FROM scorecards WHERE run_id = ? LIMIT 1", (run_id,)).fetchone() is not None:
                return False
            db.execute("DELETE FROM runs WHERE id = ? AND status != 'succeeded'", (run_id,))
            return True

    def reopen_run(self, run_id: str) -> None:
        """Resume an interrupted, cancelled or failed run in this process."""
        with self._transaction() as db:
            self._require(run_id)
            db.execute(
                "UPDATE runs SET status = 'running', pid = ?, host = ?, error = NULL, finished_at = NULL WHERE id = ?",
                (os.getpid(), os.uname().nodename, run_id),
            )

    def add_scores(self, run_id: str, scorecards: dict[str, dict], note: str | None = None) -> int:
        """A new scorecard version of a run (rescoring): earlier versions are kept. Returns
        the version number."""
        with self._transaction() as db:
            self._require(run_id)
            return self._add_version(db, run_id, scorecards, note)

    # ------------------------------------------------------------------ reading
    def _require(self, run_id: str) -> None:
        if self._db.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
            raise RunNotFoundError(f"run {run_id!r} not found in {self.path}")

    def resolve(self, prefix: str) -> str:
        """A full run id from a unique prefix, or 'latest'."""
        if prefix == "latest":
            row = self._db.execute("SELECT id FROM runs ORDER BY created_at DESC, rowid DESC LIMIT 1").fetchone()
            if row is None:
                raise RunNotFoundError(f"no runs yet in {self.path}")
            return row["id"]
        rows = self._db.execute("SELECT id FROM runs WHERE id LIKE ? ORDER BY id", (prefix.replace("%", "") + "%",)).fetchall()
        if not rows:
            raise RunNotFoundError(f"run {prefix!r} not found in {self.path}")
        if len(rows) > 1:
            raise RunNotFoundError(f"run id prefix {prefix!r} is ambiguous: {', '.join(r['id'] for r in rows[:5])}")
        return rows[0]["id"]

    def run(self, run_id: str) -> RunRecord:
        row = self._db.execute("SELECT * FROM runs WHERE id = ?", (self.resolve(run_id),)).fetchone()
        return _record(row)

    def runs(self, limit: int | None = None) -> list[RunRecord]:
        sql = "SELECT * FROM runs ORDER BY created_at DESC, rowid DESC"
        rows = self._db.execute(sql + (f" LIMIT {int(limit)}" if limit else "")).fetchall()
        return [_record(r) for r in rows]

    def hypotheses(self, run_id: str) -> list[StoredHypothesis]:
        cursor = self._db.execute(
            "SELECT utterance_id, reference, hypothesis, slices, extra FROM hypotheses WHERE run_id = ? ORDER BY position",
            (self.resolve(run_id),),
        )
        cursor.row_factory = None  # plain tuples: 100,000 rows read without building sqlite3.Row objects
        decoded: dict[str, dict] = {}  # a corpus has few distinct slice combinations: parse each once
        out = []
        for utt_id, reference, hypothesis, slices, extra in cursor:
            parsed = decoded.get(slices)
            if parsed is None:
                parsed = decoded[slices] = json.loads(slices)
            out.append(StoredHypothesis(utt_id, reference, hypothesis, dict(parsed), json.loads(extra) if extra else None))
        return out

    def scores(self, run_id: str) -> dict[str, dict]:
        """Each normalizer's LATEST scorecard of a run."""
        if self.read_only and not self._has_versions:  # a schema-1 store, not migrated (read-only)
            rows = self._db.execute("SELECT normalizer, scorecard FROM scores WHERE run_id = ?", (self.resolve(run_id),)).fetchall()
            return {r["normalizer"]: json.loads(r["scorecard"]) for r in rows}
        rows = self._db.execute(
            "SELECT normalizer, scorecard FROM scorecards WHERE run_id = ? ORDER BY version", (self.resolve(run_id),)
        ).fetchall()
        return {r["normalizer"]: json.loads(r["scorecard"]) for r in rows}  # later versions win

    def score_versions(self, run_id: str) -> list[tuple[int, str, str | None, tuple[str, ...]]]:
        """(version, created at, note, normalizers) of every scoring of a run, oldest first."""
        rows = self._db.execute(
            "SELECT version, MIN(created_at) AS created_at, MAX(note) AS note, GROUP_CONCAT(normalizer, ' ') AS normalizers"
            " FROM scorecards WHERE run_id = ? GROUP BY version ORDER BY version",
            (self.resolve(run_id),),
        ).fetchall()
        return [(r["version"], r["created_at"], r["note"], tuple(r["normalizers"].split())) for r in rows]

    def scores_version(self, run_id: str, version: int) -> dict[str, dict]:
        rows = self._db.execute(
            "SELECT normalizer, scorecard FROM scorecards WHERE run_id = ? AND version = ?", (self.resolve(run_id), version)
        ).fetchall()
        return {r["normalizer"]: json.loads(r["scorecard"]) for r in rows}


class HypothesisWriter:
    """Buffers hypotheses and stores them in batches (see `RunStore.writer`)."""

    def __init__(self, store: RunStore, run_id: str, batch_rows: int, min_interval_s: float):
        self.store, self.run_id = store, run_id
        self.batch_rows, self.min_interval_s = max(1, batch_rows), min_interval_s
        self.pending: list[StoredHypothesis] = []
        self.written = 0
        self._committed = float("-inf")  # when the last batch was committed (monotonic)

    def add(self, hypothesis: StoredHypothesis) -> None:
        self.extend((hypothesis,))

    def extend(self, hypotheses) -> None:
        """Add several (a chunk decoded together): stored together, by the same rule."""
        self.pending.extend(hypotheses)
        if self.pending and (len(self.pending) >= self.batch_rows or time.monotonic() - self._committed >= self.min_interval_s):
            self.flush()

    def flush(self) -> None:
        if self.pending:
            rows, self.pending = self.pending, []
            self.written += self.store.add_hypotheses(self.run_id, rows)
            self._committed = time.monotonic()

    def __enter__(self) -> "HypothesisWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.flush()  # also on an exception: what finished is kept


def _record(row: sqlite3.Row) -> RunRecord:
    def load(value, default):
        return json.loads(value) if value else default

    return RunRecord(
        id=row["id"],
        kind=row["kind"],
        status=row["status"],
        created_at=row["created_at"],
        finished_at=row["finished_at"],
        error=row["error"],
        pid=row["pid"],
        host=row["host"],
        config=load(row["config"], {}),
        heldout_id=row["heldout_id"],
        heldout_size=row["heldout_size"],
        normalizer=row["normalizer"],
        environment=load(row["environment"], {}),
        git_commit=row["git_commit"],
        timings=load(row["timings"], {}),
        summary=load(row["summary"], {}),
        identity=row["identity"] if "identity" in row.keys() else None,
    )
