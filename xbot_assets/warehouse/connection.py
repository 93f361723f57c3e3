"""One warehouse API over DuckDB and PostgreSQL.

SQL handed to `Warehouse` uses `?` placeholders and the portable subset both engines understand; the PostgreSQL
connection translates placeholders for psycopg2. Connections are short-lived on purpose: DuckDB allows one writing
process per file, so a process that keeps the file open locks every other process out.

A process that owns the file for a while (the simulated closed loop) opens a `session()`: one connection held open for
the session keeps DuckDB's database instance alive, so each transaction's connect costs ~0.7 ms instead of ~19 ms
(measured: a new instance re-reads the catalog every time).

Frames (`fetch_df`) follow one missing-value convention on both engines, fixed by each column's SQL type: numbers
are numpy int64/float64 (NaN for NULL), text and other types object with None, booleans bool (object with None when
a NULL is present), timestamps datetime64[us] naive UTC with NaT; see `xbot_assets.warehouse.values`.

Failures keep their cause: a warehouse that cannot be opened (PostgreSQL unreachable, a DuckDB file another process
holds) raises `WarehouseUnavailable` naming the warehouse (never its password) and the driver's reason; an error
inside a transaction is raised as it is, even when the rollback fails too (a dead connection), with that second
failure added as a note.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pandas as pd

from xbot_assets.settings import WarehouseTarget
from xbot_assets.warehouse.migrations import MIGRATIONS
from xbot_assets.warehouse.values import (
    BOOLEAN,
    FLOAT,
    INTEGER,
    TEXT,
    TIMESTAMP,
    normalize_frame,
    plain_value,
    to_python,
)

_PLACEHOLDER = re.compile(r"\?")
# Up to this many rows, DuckDB inserts bind VALUES parameters instead of reading a registered frame.
VALUES_INSERT_ROWS = 200
log = logging.getLogger(__name__)

# Seconds a PostgreSQL connect may take: an address that drops packets must fail, not hang a command or a run.
CONNECT_TIMEOUT_SECONDS = 10

# PostgreSQL type OIDs → the column kinds of warehouse.values (anything else is TEXT: object with None).
_PG_KINDS = {16: BOOLEAN, 20: INTEGER, 21: INTEGER, 23: INTEGER, 26: INTEGER, 700: FLOAT, 701: FLOAT, 1700: FLOAT,
             1114: TIMESTAMP, 1184: TIMESTAMP}
# DuckDB type names (their prefix) → the same kinds. HUGEINT (DuckDB's sum of integers) is FLOAT like PostgreSQL's
# numeric sum, so one query gives the same dtypes on both engines.
_DUCKDB_KINDS = (("BOOLEAN", BOOLEAN), ("TINYINT", INTEGER), ("SMALLINT", INTEGER), ("INTEGER", INTEGER),
                 ("BIGINT", INTEGER), ("UTINYINT", INTEGER), ("USMALLINT", INTEGER), ("UINTEGER", INTEGER),
                 ("UBIGINT", FLOAT), ("HUGEINT", FLOAT), ("UHUGEINT", FLOAT), ("FLOAT", FLOAT), ("DOUBLE", FLOAT),
                 ("DECIMAL", FLOAT), ("TIMESTAMP", TIMESTAMP))


def _duckdb_kind(type_name: str) -> str:
    # TIMESTAMP WITH TIME ZONE, TIMESTAMP_NS, ... are timestamps; INTERVAL, DATE, VARCHAR, JSON, lists are TEXT.
    return next((kind for prefix, kind in _DUCKDB_KINDS if type_name.upper().startswith(prefix)), TEXT)


class WarehouseUnavailable(RuntimeError):
    """The warehouse could not be opened. `warehouse` names it without the password; `reason` is the driver's."""

    def __init__(self, target: WarehouseTarget, reason: BaseException):
        text = " ".join(str(reason).split()) or type(reason).__name__
        if target.password:
            text = text.replace(target.password, "***")
        self.warehouse, self.reason = target.describe(), text
        super().__init__(f"warehouse {self.warehouse} is unavailable: {text}")


def _rollback_keeping_the_cause(raw: Any, cause: BaseException, statement: str | None = None) -> None:
    """Roll back after `cause`; when the rollback fails too (the connection died), the cause is what is raised:
    the rollback's error is only logged and noted on it, never raised in its place ("connection already closed")."""
    try:
        if statement is None:
            raw.rollback()
        else:
            raw.execute(statement)
    except Exception as cleanup:
        log.debug("rollback after %r failed: %r", cause, cleanup)
        cause.add_note(f"(the rollback failed as well: {type(cleanup).__name__}: {' '.join(str(cleanup).split())})")


class Connection:
    """A connection with the same few methods on both engines."""

    def __init__(self, raw: Any, kind: str):
        self.raw = raw
        self.kind = kind

    def _sql(self, sql: str) -> str:
        if self.kind == "postgres":
            return _PLACEHOLDER.sub("%s", sql.replace("%", "%%"))
        return sql

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        if self.kind == "duckdb":
            self.raw.execute(sql, list(params) if params is not None else None)
        else:
            with self.raw.cursor() as cur:
                cur.execute(self._sql(sql), tuple(params) if params is not None else None)

    def fetchall(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        if self.kind == "duckdb":
            return self.raw.execute(sql, list(params) if params is not None else None).fetchall()
        with self.raw.cursor() as cur:
            cur.execute(self._sql(sql), tuple(params) if params is not None else None)
            return cur.fetchall()

    def fetchone(self, sql: str, params: Sequence[Any] | None = None) -> tuple | None:
        rows = self.fetchall(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        row = self.fetchone(sql, params)
        return row[0] if row else None

    def table_exists(self, schema: str, table: str) -> bool:
        """A table or view (dbt makes both) exists: information_schema.tables on PostgreSQL, DuckDB's catalog functions
        on DuckDB."""
        if self.kind == "duckdb":
            # DuckDB's own catalog functions answer in half the time of its information_schema view (~1.1 vs
            # ~2.4 ms); the planner and the learn steps ask a few thousand times in a 60-day evaluation.
            return bool(self.scalar(
                "select (select count(*) from duckdb_tables() where schema_name = ? and table_name = ?)"
                " + (select count(*) from duckdb_views() where schema_name = ? and view_name = ?)",
                [schema, table, schema, table]))
        return bool(self.scalar(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, table]
        ))

    def fetch_df(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        """The result as a frame in the one convention of warehouse.values, the same on both engines."""
        if self.kind == "duckdb":
            result = self.raw.execute(sql, list(params) if params is not None else None)
            kinds = [_duckdb_kind(str(d[1])) for d in result.description]
            return normalize_frame(result.df(), kinds)
        with self.raw.cursor() as cur:
            cur.execute(self._sql(sql), tuple(params) if params is not None else None)
            columns = [d[0] for d in cur.description]
            kinds = [_PG_KINDS.get(d[1], TEXT) for d in cur.description]
            frame = pd.DataFrame(cur.fetchall(), columns=columns, dtype=object)
            return normalize_frame(frame, kinds)

    def fetch_records(self, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        """The rows as dicts of plain Python values (`values.to_python`'s convention, as from `fetch_df`): for the
        look-ups of a few rows, where building and normalising a frame costs several times the query."""
        if self.kind == "duckdb":
            result = self.raw.execute(sql, list(params) if params is not None else None)
            kinds = [_duckdb_kind(str(d[1])) for d in result.description]
            names = [d[0] for d in result.description]
            rows = result.fetchall()
        else:
            with self.raw.cursor() as cur:
                cur.execute(self._sql(sql), tuple(params) if params is not None else None)
                kinds = [_PG_KINDS.get(d[1], TEXT) for d in cur.description]
                names = [d[0] for d in cur.description]
                rows = cur.fetchall()
        return [{name: plain_value(v, kind) for name, v, kind in zip(names, row, kinds, strict=True)} for row in rows]

    def insert_rows(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        conflict_columns: Sequence[str] | None = None,
        update_columns: Sequence[str] | None = None,
    ) -> None:
        """Insert many rows; on a key conflict do nothing, or update `update_columns` (an upsert)."""
        if not rows:
            return
        cols = ", ".join(columns)
        conflict = ""
        if conflict_columns:
            if update_columns:
                sets = ", ".join(f"{c} = excluded.{c}" for c in update_columns)
                conflict = f" on conflict ({', '.join(conflict_columns)}) do update set {sets}"
            else:
                conflict = f" on conflict ({', '.join(conflict_columns)}) do nothing"
        if self.kind == "duckdb" and len(rows) <= VALUES_INSERT_ROWS:
            # A few rows as parameters of one VALUES statement: DuckDB takes ~2 ms for it where registering a frame
            # costs ~6 ms, and the writers' batches are mostly a few rows, thousands of times in an evaluation.
            # to_python gives the values as the frame path stores them (NaN/NaT as NULL, numpy scalars unwrapped).
            marks = "(" + ", ".join("?" * len(columns)) + ")"
            self.raw.execute(f"insert into {table} ({cols}) values {', '.join([marks] * len(rows))}{conflict}",
                             [to_python(v) for row in rows for v in row])
        elif self.kind == "duckdb":
            frame = pd.DataFrame([list(r) for r in rows], columns=list(columns))
            self.raw.register("_xbot_rows", frame)
            try:
                self.raw.execute(f"insert into {table} ({cols}) select {cols} from _xbot_rows{conflict}")
            finally:
                self.raw.unregister("_xbot_rows")
        else:
            from psycopg2.extras import execute_values

            with self.raw.cursor() as cur:
                execute_values(cur, f"insert into {table} ({cols}) values %s{conflict}", [tuple(r) for r in rows])

    def update_rows(self, table: str, key_columns: Sequence[str], columns: Sequence[str],
                    rows: Sequence[Sequence[Any]]) -> None:
        """Set `columns` (the keys among them) of rows that exist, found by their keys. On DuckDB an UPDATE from the
        values: its upsert costs ~5 ms for one row of raw.posts where this costs ~2.7 ms, and the publisher updates
        one post at a time. On PostgreSQL the upsert, which is as fast there and gives the same rows."""
        if not rows:
            return
        if self.kind != "duckdb":
            self.insert_rows(table, columns, rows, conflict_columns=key_columns,
                             update_columns=[c for c in columns if c not in key_columns])
            return
        cols = ", ".join(columns)
        sets = ", ".join(f"{c} = v.{c}" for c in columns if c not in key_columns)
        match = " and ".join(f"t.{k} = v.{k}" for k in key_columns)
        for start in range(0, len(rows), VALUES_INSERT_ROWS):
            chunk = rows[start:start + VALUES_INSERT_ROWS]
            marks = "(" + ", ".join("?" * len(columns)) + ")"
            self.raw.execute(f"update {table} as t set {sets} from (values {', '.join([marks] * len(chunk))}) "
                             f"as v({cols}) where {match}", [to_python(v) for row in chunk for v in row])


# DuckDB paths held open by a session in this process: path -> (keeper connection, number of open sessions).
_SESSIONS: dict[str, list] = {}


class Warehouse:
    def __init__(self, target: WarehouseTarget):
        self.target = target

    @contextmanager
    def session(self) -> Iterator[None]:
        """Keep a DuckDB file's database open for the block (nested sessions share it). No-op on PostgreSQL."""
        if self.kind != "duckdb":
            yield
            return
        import duckdb

        path = str(self.target.duckdb_path)
        self.target.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
        entry = _SESSIONS.get(path)
        if entry is None:
            entry = _SESSIONS[path] = [duckdb.connect(path), 0]
        entry[1] += 1
        try:
            yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                entry[0].close()
                del _SESSIONS[path]

    @classmethod
    def from_url(cls, url: str | None) -> Warehouse:
        return cls(WarehouseTarget.parse(url))

    @property
    def kind(self) -> str:
        return self.target.kind

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[Connection]:
        """A transaction: committed when the block ends, rolled back on error."""
        if self.kind == "duckdb":
            import duckdb

            path = self.target.duckdb_path
            assert path is not None
            path.parent.mkdir(parents=True, exist_ok=True)
            # Inside a session the file is open read-write already; DuckDB refuses a second, read-only configuration.
            read_only = read_only and path.exists() and str(path) not in _SESSIONS
            try:
                raw = duckdb.connect(str(path), read_only=read_only)
            except duckdb.IOException as exc:  # another process holds the file, or it is no DuckDB database
                raise WarehouseUnavailable(self.target, exc) from exc
            try:
                raw.execute("begin transaction")
                conn = Connection(raw, "duckdb")
                yield conn
                raw.execute("commit")
            except BaseException as exc:
                _rollback_keeping_the_cause(raw, exc, "rollback")
                raise
            finally:
                raw.close()
        else:
            import psycopg2

            t = self.target
            try:
                raw = psycopg2.connect(
                    host=t.host, port=t.port, user=t.user, password=t.password, dbname=t.dbname,
                    options="-c timezone=UTC", connect_timeout=CONNECT_TIMEOUT_SECONDS,
                )
            except psycopg2.OperationalError as exc:  # refused, timed out, unknown host or database, bad password
                raise WarehouseUnavailable(self.target, exc) from exc
            try:
                yield Connection(raw, "postgres")
                raw.commit()
            except BaseException as exc:
                _rollback_keeping_the_cause(raw, exc)
                raise
            finally:
                raw.close()

    def migrate(self) -> list[str]:
        """Apply the migrations not yet applied; returns the names applied now. Safe to call any number of times."""
        applied_now: list[str] = []
        with self.connect() as conn:
            if self.kind == "postgres":
                # Two processes starting at once must not both run the same migration.
                conn.execute("select pg_advisory_xact_lock(?)", [hash_lock_id("xbot-migrations")])
            conn.execute("create schema if not exists raw")
            conn.execute(
                "create table if not exists raw.schema_migrations ("
                " version integer primary key, name varchar not null, applied_at timestamp not null)"
            )
            done = {row[0] for row in conn.fetchall("select version from raw.schema_migrations")}
            for migration in MIGRATIONS:
                if migration.version in done:
                    continue
                for statement in migration.statements if self.kind in migration.engines else ():
                    conn.execute(statement)
                conn.execute(
                    "insert into raw.schema_migrations (version, name, applied_at) values (?, ?, current_timestamp)",
                    [migration.version, migration.name],
                )
                applied_now.append(migration.name)
        return applied_now

    def table_exists(self, schema: str, table: str) -> bool:
        with self.connect() as conn:
            return conn.table_exists(schema, table)


def hash_lock_id(name: str) -> int:
    """A stable 63-bit id for a PostgreSQL advisory lock."""
    import hashlib

    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") & 0x7FFFFFFFFFFFFFFF
