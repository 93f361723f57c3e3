"""dbt: staging → intermediate → marts, with dbt tests as asset checks and dbt sources mapped onto the raw assets.

dbt runs inside this process (`dbt.cli.main.dbtRunner`), not as the `dbt` subprocess `DbtCliResource.cli` spawns.
Measured (benchmarks/refresh_cost.py --days 30): the subprocess step took 10.3-12.2 s while `dbt build` itself
reported ~3.2 s: every run paid Python start-up + the dbt import in the child (~2.4 s), a dbt adapter dagster-dbt
initialises in our process, and a full re-parse (target/partial_parse.msgpack is written by `dbt parse` for another
profile, so dbt rejects it). In process, dbt is imported once (first run: step 6.5 s), and each later run starts from
the partial-parse file of the previous one: step 3.7-4.6 s, of which dbt 2.2-3.1 s, the rest Dagster recording 91
events. The simulated closed loop pays this dozens of times per process. Everything else is dagster-dbt's own code:
its subset selection (`get_updated_cli_invocation_params_for_context`) and its event → Output/AssetCheckResult
conversion (`DbtCoreCliEventMessage.to_default_asset_events`), fed the dicts dbt's JSON log lines carry
(`msg_to_dict`, the function dbt's JSON logger uses).
"""

import hashlib
import json
import logging
import os
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Hashable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtCliRuntimeError, DagsterDbtTranslator, DbtProject, dbt_assets
from dagster_dbt.asset_utils import extract_runtime_selection_from_args, get_updated_cli_invocation_params_for_context
from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage
from pydantic import Field

from xbot_assets.defs.resources import ClockResource, WarehouseResource
from xbot_assets.project import dbt_project, ensure_manifest


class XbotDbtTranslator(DagsterDbtTranslator):
    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "source":
            # The raw tables are the Python assets of the ingest group: one key, unbroken lineage.
            return spec.replace_attributes(key=dg.AssetKey(["raw", props["name"]]))
        return spec.replace_attributes(group_name="transform")


# ------------------------------------------------------------------------------------------- dbt in this process

# dbt keeps process-wide state (flags, the adapter factory, the event manager, os.environ it reads): one at a time.
DBT_LOCK = threading.Lock()

PARTIAL_PARSE_FILE = "partial_parse.msgpack"
# The newest partial_parse.msgpack per warehouse written in this process. dbt validates it (profile, vars, env vars,
# file hashes) and re-parses what changed, so an outdated one costs time, never correctness.
_partial_parse_by_key: dict[Hashable, Path] = {}
# The parsed project per warehouse and parse-time environment (`_parse_key`), handed to every later invocation
# (`dbtRunner(manifest=...)`, dbt's documented way to reuse a parse): dbt then parses nothing, ~0.4 s a run here
# (1.6 → 1.25 s for the daily build of a 60-day evaluation warehouse). Models render XBOT_AS_OF only when they
# compile, at run time, so it is no part of the key; any other XBOT_/DBT_ variable, the target and the project's
# files are.
_manifest_by_key: dict[Hashable, Any] = {}
KEEP_SAVED_PARSES = 8  # warehouses whose newest parse is kept on disk for the next process (_saved_parse_path)
# Target folders (compiled SQL, dbt.log; ~4 MB each) this process made; only the newest are kept.
KEEP_TARGET_DIRS = 5
_target_dirs: list[Path] = []


@dataclass
class InProcessDbtInvocation:
    """One finished in-process dbt command: its events as dbt's JSON log lines would carry them."""

    args: list[str]
    context: dg.AssetExecutionContext
    manifest: Mapping[str, Any]
    translator: DagsterDbtTranslator
    project: DbtProject | None
    target_path: Path
    success: bool
    exception: BaseException | None
    seconds: float
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def error_messages(self) -> list[str]:
        return [e["info"]["msg"] for e in self.events if e["info"].get("level") == "error"]

    def asset_events(self) -> Iterator[Any]:
        """Output per model, AssetCheckResult per test: dagster-dbt's own conversion, as `DbtCliInvocation.stream`."""
        for raw_event in self.events:
            event = DbtCoreCliEventMessage(raw_event=raw_event, event_history_metadata={})
            yield from event.to_default_asset_events(
                manifest=self.manifest,
                dagster_dbt_translator=self.translator,
                context=self.context,
                target_path=self.target_path,
                project=self.project,
            )

    def log_summary(self) -> None:
        log = self.context.log
        for event in self.events:
            info = event["info"]
            if info.get("level") == "warn":
                log.warning(f"dbt: {info['msg']}")
            elif info.get("level") == "error":
                log.error(f"dbt: {info['msg']}")
        stats = next((e["info"]["msg"] for e in reversed(self.events) if e["info"]["name"] == "StatsLine"), "")
        log.info(f"dbt {' '.join(self.args)} in process: {self.seconds:.2f}s. {stats} Log: {self.target_path}/dbt.log")

    def raise_on_error(self) -> None:
        exc = self.exception
        if exc is not None and not isinstance(exc, Exception):
            raise exc  # an interrupt (run termination, Ctrl-C) stays an interrupt
        errors = self.error_messages
        if self.success and not errors and exc is None:
            return
        details = "\n\n".join(errors) or (str(exc) if exc is not None else "dbt reported failure without a message")
        raise DagsterDbtCliRuntimeError(
            description=f"dbt {' '.join(self.args)} failed:\n\n{details}\n\n"
            f"dbt log: {self.target_path}/dbt.log; the SQL each model ran: {self.target_path}/run"
        ) from exc


def invoke_dbt(
    context: dg.AssetExecutionContext,
    args: Sequence[str],
    *,
    environment: AbstractContextManager[Any] | None = None,
    partial_parse_key: Hashable = None,
) -> InProcessDbtInvocation:
    """Run `dbt <args>` in this process for the dbt assets and checks selected in `context`, one invocation at a
    time, with `environment` (e.g. `warehouse.dbt_environment(...)`: dbt reads os.environ) entered around it."""
    with DBT_LOCK, (environment or nullcontext()):
        return _invoke_dbt(context, args, partial_parse_key)


def _import_dbt_runner() -> type:
    """dbt's runner, imported without the logging set-up its import does: dbt's telemetry library (snowplow_tracker)
    calls `logging.basicConfig()`, after which every record any logger propagates (dagster-dbt's INFO lines, two
    long ones a run) would print on this process's stderr."""
    root = logging.getLogger()
    before = list(root.handlers)
    from dbt.cli.main import dbtRunner

    for handler in [h for h in root.handlers if h not in before]:
        root.removeHandler(handler)
    return dbtRunner


def _invoke_dbt(context: dg.AssetExecutionContext, args: Sequence[str], partial_parse_key: Hashable):
    dbtRunner = _import_dbt_runner()  # noqa: N806 — dbt's class name
    from dbt_common.events.event_manager_client import cleanup_event_logger
    from dbt_common.events.functions import msg_to_dict

    # Selection exactly as DbtCliResource.cli makes it: the selected assets and checks → --select/--exclude, and an
    # indirect-selection override when checks are excluded (the subprocess got it as DBT_INDIRECT_SELECTION).
    cleaned_args, runtime_selects, runtime_excludes = extract_runtime_selection_from_args(args)
    params = get_updated_cli_invocation_params_for_context(
        context=context,
        manifest={},
        dagster_dbt_translator=DagsterDbtTranslator(),
        runtime_selects=runtime_selects,
        runtime_excludes=runtime_excludes,
    )
    project = params.dbt_project or dbt_project
    project_dir = Path(project.project_dir)
    target_root = Path(dbt_project.project_dir) / dbt_project.target_path
    # A unique folder per invocation, named as DbtCliResource._get_unique_target_path names it.
    unique = f"{context.op_execution_context.op.name}-{context.run.run_id[:7]}-{uuid.uuid4().hex[:7]}"
    target_path = target_root / unique
    target_path.mkdir(parents=True, exist_ok=True)

    parse_key = _parse_key(partial_parse_key, project_dir)
    saved = _saved_parse_path(target_root, partial_parse_key)
    seed = _partial_parse_by_key.get(partial_parse_key)
    if seed is None or not seed.exists():
        seed = saved if saved.exists() else target_root / PARTIAL_PARSE_FILE
    if parse_key not in _manifest_by_key and seed.exists():
        # as DbtCliInvocation.run does, but from this process's newest parse when there is one
        shutil.copy(seed, target_path / PARTIAL_PARSE_FILE)

    flags = [
        "--project-dir", str(project_dir),
        "--vars", json.dumps(_resolved_vars(project_dir)),
        "--target-path", str(target_path),
        "--log-path", str(target_path),  # dbt.log per invocation, as dagster-dbt does
        "--log-level", "none",  # nothing on our console; warnings, errors and the summary go through context.log
        # Info, not dbt's default debug: the debug file log formats and writes every statement (~2,600 lines a
        # build), 0.9 s of a 12-day evaluation's 14.7 s of dbt; the SQL each model ran stays under run/.
        "--log-level-file", "info",  # stated, or the file log would follow --log-level to none
        "--no-use-colors",
        "--no-send-anonymous-usage-stats",
        *(["--profiles-dir", str(project.profiles_dir)] if project.profiles_dir else []),
        *(["--profile", project.profile] if project.profile else []),
        *(["--target", project.target] if project.target else []),
    ]
    full_args = [
        *cleaned_args, *flags,
        "--no-write-json",  # manifest.json, run_results.json: ~0.2 s a run; the events and dbt.log carry the results
        *(["--indirect-selection", params.indirect_selection] if params.indirect_selection else []),
        *params.selection_args,
    ]

    events: list[dict[str, Any]] = []
    if parse_key not in _manifest_by_key:
        try:
            parsed = dbtRunner().invoke(["parse", *flags])
        finally:
            cleanup_event_logger()
        if parsed.success and parsed.result is not None:
            _manifest_by_key.clear()  # one parse kept: a process serves one project
            _manifest_by_key[parse_key] = parsed.result
            _save_parse(target_path / PARTIAL_PARSE_FILE, saved)

    def collect(msg) -> None:
        # Called from dbt's worker threads for every event; keep what the JSON log at level info would hold.
        try:
            if msg.info.level in ("info", "warn", "error"):
                events.append(msg_to_dict(msg))
        except Exception:  # a callback must never break dbt
            pass

    started = time.perf_counter()
    try:
        result = dbtRunner(manifest=_manifest_by_key.get(parse_key), callbacks=[collect]).invoke(full_args)
    finally:
        cleanup_event_logger()  # close dbt.log, drop our callback
        _release_duckdb()
    seconds = time.perf_counter() - started

    if (target_path / PARTIAL_PARSE_FILE).exists():
        _partial_parse_by_key[partial_parse_key] = target_path / PARTIAL_PARSE_FILE
    _prune_target_dirs(target_path)

    return InProcessDbtInvocation(
        args=list(args),
        context=context,
        manifest=params.manifest,
        translator=params.dagster_dbt_translator,
        project=params.dbt_project,
        target_path=target_path,
        success=result.success,
        exception=result.exception,
        seconds=seconds,
        events=events,
    )


def _saved_parse_path(target_root: Path, partial_parse_key: Hashable) -> Path:
    """Where the newest parse for a warehouse is kept for the next process (each CLI call and each run worker is a
    new process; without it, each would parse the project whole, ~2 s: the one `make manifest` left was made for
    another profile, which dbt refuses). Named by a hash of the warehouse's printable name (never its password)."""
    describe = getattr(partial_parse_key, "describe", None)
    name = describe() if callable(describe) else repr(partial_parse_key)
    return target_root / "partial_parses" / f"{hashlib.sha256(name.encode()).hexdigest()[:16]}.msgpack"


def _save_parse(parsed: Path, saved: Path) -> None:
    if not parsed.exists():
        return
    saved.parent.mkdir(parents=True, exist_ok=True)
    partial = saved.with_suffix(f".{uuid.uuid4().hex[:7]}.tmp")
    shutil.copy(parsed, partial)
    os.replace(partial, saved)  # whole or not at all: another process may be reading it

    # One file per warehouse (~0.8 MB): the newest few are kept, a forgotten warehouse's go.
    def modified(path: Path) -> int:
        try:
            return path.stat().st_mtime_ns
        except FileNotFoundError:  # pruned by another process just now
            return 0

    for old in sorted(saved.parent.glob("*.msgpack"), key=modified, reverse=True)[KEEP_SAVED_PARSES:]:
        old.unlink(missing_ok=True)


def _resolved_vars(project_dir: Path) -> dict[str, Any]:
    """dbt_project.yml's vars with their `env_var(...)` expressions rendered now, as typed values (`"{{
    env_var('XBOT_GATE_MIN_AGE_HOURS', '2') | float }}"` → 2.0), given to dbt as --vars. dbt renders a string var
    on every `var()` call (copying the whole Jinja context and compiling the string each time; the incremental
    models' state macro calls six of them three times a model): ~12 % of a daily build's Python. A typed value is
    returned as it is. The same values as dbt would render (a number where the text is one), so the tables and the
    incremental models' stored configuration are unchanged; `dbt` run by hand still renders them itself."""
    import jinja2
    import yaml

    def env_var(name: str, default: str | None = None) -> str:
        value = os.environ.get(name, default)
        if value is None:
            raise KeyError(f"dbt_project.yml reads env var {name}, which is not set and has no default")
        return value

    def typed(text: str) -> Any:
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                pass
        return text

    declared = yaml.safe_load((project_dir / "dbt_project.yml").read_text()).get("vars") or {}
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    environment.globals["env_var"] = env_var
    return {name: typed(environment.from_string(value).render()) if isinstance(value, str) and "{{" in value
            else value for name, value in declared.items()}


def _parse_key(partial_parse_key: Hashable, project_dir: Path) -> Hashable:
    """What a parse of the project depends on: the warehouse, the environment dbt renders at parse time, and the
    project's files (their paths, sizes and modification times)."""
    environment = tuple(sorted((k, v) for k, v in os.environ.items()
                               if k.startswith(("XBOT_", "DBT_")) and k != "XBOT_AS_OF"))
    files = tuple(sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns) for folder in ("models", "macros", "tests")
                         for p in (project_dir / folder).rglob("*") if p.is_file()))
    config = tuple((name, (project_dir / name).stat().st_mtime_ns) for name in ("dbt_project.yml", "profiles.yml")
                   if (project_dir / name).exists())
    return partial_parse_key, str(project_dir), environment, files, config


def _release_duckdb() -> None:
    """Close the DuckDB database dbt-duckdb keeps open after a run (a class-level environment), so the file is free
    for other processes and for read-only connections of ours, whose configuration DuckDB would refuse to mix."""
    module = sys.modules.get("dbt.adapters.duckdb.connections")
    manager = getattr(module, "DuckDBConnectionManager", None)
    if manager is None or getattr(manager, "_ENV", None) is None:
        return
    with getattr(manager, "_LOCK", nullcontext()):
        environment, manager._ENV = manager._ENV, None
    if environment is not None:
        environment.close()


def _prune_target_dirs(newest: Path) -> None:
    """Delete this process's older target folders, keeping the newest few and every partial-parse seed."""
    _target_dirs.append(newest)
    seeds = {path.parent for path in _partial_parse_by_key.values()}
    removable = [path for path in _target_dirs if path not in seeds]
    for old in removable[: max(0, len(removable) - KEEP_TARGET_DIRS)]:
        shutil.rmtree(old, ignore_errors=True)
        _target_dirs.remove(old)


# ------------------------------------------------------------------------------------------- the asset

class DbtBuildConfig(dg.Config):
    """Run config of the dbt step: `ops: {xbot_dbt_assets: {config: {full_refresh: true}}}` (`xbot refresh
    --full-refresh`)."""

    # The incremental models (int_latest_metrics, the attribution, outcomes, training_set) recompute only what rows
    # loaded since their last build change; a full refresh rebuilds them from all of history: after a change to a
    # macro they use, or to repair tables edited by hand.
    full_refresh: bool = Field(default=False, description="dbt build --full-refresh: rebuild every incremental model")


# @dbt_assets reads the manifest right here, at import: a fresh clone has none until it is parsed once.
ensure_manifest()


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=XbotDbtTranslator(),
    pool="warehouse",
)
def xbot_dbt_assets(
    context: dg.AssetExecutionContext, config: DbtBuildConfig, warehouse: WarehouseResource, clock: ClockResource
):
    # The marts' 7-day windows end at the run's "now", so simulated time gives the same tables as wall time would.
    # It travels as an env var: a --vars value that changes every run would cost dbt a full re-parse each time.
    as_of = clock.now().isoformat(sep=" ")
    args = ["build", "--full-refresh"] if config.full_refresh else ["build"]
    invocation = invoke_dbt(
        context, args, environment=warehouse.dbt_environment(XBOT_AS_OF=as_of), partial_parse_key=warehouse.target
    )
    invocation.log_summary()
    yield from invocation.asset_events()
    invocation.raise_on_error()
