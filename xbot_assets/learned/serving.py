"""Serving the learned models: publishing the registry's newest versions to Redis, and the loader planning uses
(Redis, then the warehouse registry, then the seed defaults; it says which supplied each model).

Redis keys (all JSON, never pickles; an optional prefix namespaces them):

- `predictor:v2:<account_id>:<model_name>:v<version>`: one registered model, immutable;
- `predictor:v2:latest`: `{"schema_version", "published_at", "accounts": {account_id: {model_name: entry}}}` where an
  entry is `{"version", "key", "created_at", "data_fingerprint", "model"}` and `model` is the model's JSON.
  It is a projection of the warehouse registry (the newest version of every account's models), rewritten whole on
  every publication, so it never drifts from the registry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from xbot_assets.learned.models import MODEL_NAMES, latest_models, newest_registry_row
from xbot_assets.learned.store import canonical, json_dumps
from xbot_assets.learning.predictors import (
    ENGAGEMENT_MODEL,
    FOLLOW_MODEL,
    SOURCE_SEED_DEFAULT,
    TrainedModel,
    seed_default_models,
)
from xbot_assets.warehouse.connection import Warehouse

REDIS_LATEST_KEY = "predictor:v2:latest"
REDIS_SCHEMA_VERSION = 1


SOURCE_REDIS = "redis"
SOURCE_WAREHOUSE = "warehouse"
_SOURCE_RANK = {SOURCE_REDIS: 0, SOURCE_WAREHOUSE: 1, SOURCE_SEED_DEFAULT: 2}


# redis-py's default retries a refused or timed-out call ten times with back-off, so a Redis that hangs would hold a
# planning run for a minute. Explicit timeouts and one retry bound any call at about 2 × 2 s + 0.1 s; then the
# warehouse answers.
REDIS_CONNECT_TIMEOUT_S = 1.0
REDIS_SOCKET_TIMEOUT_S = 2.0
REDIS_RETRIES = 1


def redis_client(url: str):
    import redis
    from redis.backoff import ConstantBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(
        url, socket_timeout=REDIS_SOCKET_TIMEOUT_S, socket_connect_timeout=REDIS_CONNECT_TIMEOUT_S,
        retry=Retry(ConstantBackoff(0.1), REDIS_RETRIES), decode_responses=True,
    )


def describe_redis(url: str) -> str:
    """host:port/db of a Redis URL, never its password."""
    parts = urlsplit(url)
    return f"redis://{parts.hostname or 'localhost'}:{parts.port or 6379}{parts.path or '/0'}"


def _failure(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def versioned_key(account_id: str, model_name: str, version: int, prefix: str = "") -> str:
    return f"{prefix}predictor:v2:{account_id}:{model_name}:v{version}"


def latest_key(prefix: str = "") -> str:
    return f"{prefix}{REDIS_LATEST_KEY}"


@dataclass
class PublishReport:
    latest_key: str
    keys_written: list[str]
    accounts: list[str]
    # Why nothing was written (Redis unreachable or refusing); the registry stays the truth and the next planning
    # run or learn step republishes (see `load_models`).
    error: str | None = None

    def describe(self) -> str:
        if self.error:
            return f"not published: Redis unavailable ({self.error}); planning reads the warehouse registry"
        versioned = len(self.keys_written) - 1
        return f"published {self.latest_key} and {versioned} versioned keys ({len(self.accounts)} accounts)"


def publish_models(warehouse: Warehouse, redis_url: str, now: datetime, key_prefix: str = "") -> PublishReport:
    """Write the registry's newest models to Redis as JSON: the versioned keys and `predictor:v2:latest`.

    A Redis that is down or hangs is reported in the result, never raised: a cache must not fail the learning."""
    import redis

    with warehouse.connect() as conn:
        newest = latest_models(conn)
    accounts: dict[str, dict[str, Any]] = {}
    entries: dict[str, str] = {}
    for row in newest:
        key = versioned_key(row["account_id"], row["model_name"], int(row["version"]), key_prefix)
        entry = {
            "account_id": row["account_id"],
            "model_name": row["model_name"],
            "version": int(row["version"]),
            "key": key,
            "created_at": canonical(row["created_at"]),
            "data_fingerprint": row["data_fingerprint"],
            "model": json.loads(row["model_json"]),
        }
        accounts.setdefault(row["account_id"], {})[row["model_name"]] = entry
        entries[key] = json_dumps(entry)
    latest = {"schema_version": REDIS_SCHEMA_VERSION, "published_at": canonical(now), "accounts": accounts}
    client = redis_client(redis_url)
    try:
        with client.pipeline(transaction=True) as pipe:
            for key, value in entries.items():
                pipe.set(key, value)
            pipe.set(latest_key(key_prefix), json_dumps(latest))
            pipe.execute()
    except redis.RedisError as exc:
        return PublishReport(latest_key(key_prefix), [], sorted(accounts), error=_failure(exc))
    finally:
        client.close()
    return PublishReport(latest_key(key_prefix), [*entries, latest_key(key_prefix)], sorted(accounts))


def registry_versions(conn, account_id: str | None = None) -> dict[tuple[str, str], int]:
    """The newest registered version of each (account, model): what a current cache must hold."""
    where, params = ("where account_id = ? ", [account_id]) if account_id is not None else ("", [])
    rows = conn.fetchall(
        f"select account_id, model_name, max(version) from learn.model_registry {where}group by account_id, model_name",
        params,
    )
    return {(a, m): int(v) for a, m, v in rows}


def _redis_latest(redis_url: str, key_prefix: str) -> tuple[dict[str, Any] | None, str | None]:
    """The published `latest` document, or None and why not (unreachable, absent, not JSON)."""
    try:
        client = redis_client(redis_url)
        try:
            raw = client.get(latest_key(key_prefix))
        finally:
            client.close()
    except Exception as exc:  # unreachable, hanging or misconfigured Redis: the caller falls back, and says so
        return None, f"redis unavailable ({_failure(exc)})"
    if raw is None:
        return None, f"redis has no {latest_key(key_prefix)}"
    try:
        document = json.loads(raw)
        if not isinstance(document.get("accounts"), dict):
            raise ValueError("no accounts")
    except (ValueError, AttributeError) as exc:
        return None, f"redis {latest_key(key_prefix)} is not valid JSON ({exc})"
    return document, None


def _published_versions(document: dict[str, Any] | None) -> dict[tuple[str, str], int]:
    if document is None:
        return {}
    return {
        (account, name): int(entry.get("version") or 0)
        for account, models in document["accounts"].items() if isinstance(models, dict)
        for name, entry in models.items() if isinstance(entry, dict)
    }


@dataclass(frozen=True)
class CacheState:
    """What `xbot health` says of the model cache: reachable, and holding the registry's newest versions."""

    configured: bool
    where: str = ""
    error: str | None = None
    behind: tuple[str, ...] = ()


def cache_state(warehouse: Warehouse, redis_url: str | None, key_prefix: str = "") -> CacheState:
    if not redis_url:
        return CacheState(configured=False)
    document, note = _redis_latest(redis_url, key_prefix)
    if note is not None and document is None and note.startswith("redis unavailable"):
        return CacheState(True, describe_redis(redis_url), error=note.removeprefix("redis unavailable "))
    with warehouse.connect(read_only=True) as conn:
        registry = registry_versions(conn) if conn.table_exists("learn", "model_registry") else {}
    published = _published_versions(document)
    behind = tuple(
        f"{account} {name}: Redis {'v' + str(published[(account, name)]) if (account, name) in published else 'none'}"
        f", registry v{version}"
        for (account, name), version in sorted(registry.items()) if published.get((account, name)) != version
    )
    return CacheState(True, describe_redis(redis_url), behind=behind)


@dataclass
class LoadedModels:
    """The models planning should use for one account, and where they came from.

    `source` is 'redis', 'warehouse' or 'seed_default'. The two models are looked up independently (Redis, then the
    warehouse registry, then the seed defaults); when they come from different places `source` names the less
    authoritative one, so 'seed_default' always means "at least one default is in use" and never hides a default
    behind a learned model. `sources` and `versions` say it per model; `detail` says it in words.
    """

    engagement: dict[str, Any]
    follow: dict[str, Any]
    source: str
    detail: str
    sources: dict[str, str] = field(default_factory=dict)
    versions: dict[str, int | None] = field(default_factory=dict)

    @property
    def is_default(self) -> bool:
        return self.source == SOURCE_SEED_DEFAULT


def _usable(document: Any, model_name: str) -> bool:
    try:
        model = TrainedModel.from_json(document)
    except (TypeError, ValueError):
        return False
    return model.name == model_name and model.trained and bool(model.coefficients)


def load_models(
    warehouse: Warehouse | None, account_id: str, redis_url: str | None = None, key_prefix: str = ""
) -> LoadedModels:
    """Redis first, then the warehouse registry, then the seed defaults; reports which one supplied each model.

    Redis is a cache of the registry: with a warehouse at hand, a Redis model is used only when it is the registry's
    newest version, and a reachable Redis that is behind (it was down while a model was learned, or lost its keys) is
    rewritten from the registry here, so the cache heals at the next planning run after Redis returns.
    """
    found: dict[str, tuple[dict[str, Any], str, int | None]] = {}
    notes: list[str] = []
    registry: dict[tuple[str, str], int] | None = None
    if warehouse is not None and redis_url:
        try:
            with warehouse.connect(read_only=True) as conn:
                registry = registry_versions(conn, account_id)
        except Exception as exc:  # no learn schema yet, or the warehouse is unreachable: Redis alone answers
            notes.append(f"warehouse registry unavailable ({_failure(exc)})")

    if redis_url:
        document, note = _redis_latest(redis_url, key_prefix)
        if note:
            notes.append(note)
        entries = document["accounts"].get(account_id, {}) if document else {}
        stale = []
        for name in MODEL_NAMES:
            entry = entries.get(name) if isinstance(entries, dict) else None
            if not (entry and _usable(entry.get("model"), name)):
                continue
            newest = registry.get((account_id, name)) if registry is not None else None
            if newest is not None and entry.get("version") != newest:
                stale.append(f"{name} v{entry.get('version')} (registry v{newest})")
                continue
            found[name] = (entry["model"], SOURCE_REDIS, entry.get("version"))
        if stale:
            notes.append(f"redis is behind the registry: {', '.join(stale)}")
        missing = [n for n in MODEL_NAMES if n not in found]
        if document is not None and missing and not stale:
            notes.append(f"redis has no {', '.join(missing)} for account {account_id!r}")
        reachable = document is not None or not (note or "").startswith("redis unavailable")
        behind = any((account_id, n) in (registry or {}) for n in missing)
        if reachable and behind:
            report = publish_models(warehouse, redis_url, datetime.now(UTC).replace(tzinfo=None), key_prefix)
            notes.append("republished the registry to redis" if report.error is None else report.describe())
    else:
        notes.append("redis not configured")

    content_types: list[str] = []
    if warehouse is not None and len(found) < len(MODEL_NAMES):
        try:
            with warehouse.connect(read_only=True) as conn:
                for name in MODEL_NAMES:
                    if name in found:
                        continue
                    row = newest_registry_row(conn, account_id, name)
                    if row is not None and _usable(json.loads(row["model_json"]), name):
                        found[name] = (json.loads(row["model_json"]), SOURCE_WAREHOUSE, int(row["version"]))
                    else:
                        notes.append(f"warehouse registry has no {name} for account {account_id!r}")
                if len(found) < len(MODEL_NAMES):
                    content_types = [
                        r[0]
                        for r in conn.fetchall(
                            "select distinct content_type from analytics.outcomes "
                            "where account_id = ? and content_type is not null order by content_type",
                            [account_id],
                        )
                    ]
        except Exception as exc:  # no learn schema yet, no marts yet, or the warehouse is unreachable
            notes.append(f"warehouse registry unavailable ({_failure(exc)})")

    if len(found) < len(MODEL_NAMES):
        ridge, logistic = seed_default_models(content_types)
        defaults = {ENGAGEMENT_MODEL: ridge, FOLLOW_MODEL: logistic}
        for name in MODEL_NAMES:
            found.setdefault(name, (defaults[name], SOURCE_SEED_DEFAULT, None))

    sources = {name: found[name][1] for name in MODEL_NAMES}
    versions = {name: found[name][2] for name in MODEL_NAMES}
    source = max(sources.values(), key=_SOURCE_RANK.__getitem__)
    used = "; ".join(
        f"{name} {'v' + str(versions[name]) if versions[name] is not None else '(seed default, not learned)'}"
        f" from {sources[name]}"
        for name in MODEL_NAMES
    )
    detail = used + (f" — {'; '.join(notes)}" if notes and source != SOURCE_REDIS else "")
    return LoadedModels(
        engagement=found[ENGAGEMENT_MODEL][0],
        follow=found[FOLLOW_MODEL][0],
        source=source,
        detail=detail,
        sources=sources,
        versions=versions,
    )
