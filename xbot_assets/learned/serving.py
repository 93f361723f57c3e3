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
from datetime import datetime
from typing import Any

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


def redis_client(url: str):
    import redis

    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5, decode_responses=True)


def versioned_key(account_id: str, model_name: str, version: int, prefix: str = "") -> str:
    return f"{prefix}predictor:v2:{account_id}:{model_name}:v{version}"


def latest_key(prefix: str = "") -> str:
    return f"{prefix}{REDIS_LATEST_KEY}"


@dataclass
class PublishReport:
    latest_key: str
    keys_written: list[str]
    accounts: list[str]


def publish_models(warehouse: Warehouse, redis_url: str, now: datetime, key_prefix: str = "") -> PublishReport:
    """Write the registry's newest models to Redis as JSON: the versioned keys and `predictor:v2:latest`."""
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
    finally:
        client.close()
    return PublishReport(latest_key(key_prefix), [*entries, latest_key(key_prefix)], sorted(accounts))


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
    """Redis first, then the warehouse registry, then the seed defaults; reports which one supplied each model."""
    found: dict[str, tuple[dict[str, Any], str, int | None]] = {}
    notes: list[str] = []

    if redis_url:
        try:
            client = redis_client(redis_url)
            try:
                raw = client.get(latest_key(key_prefix))
            finally:
                client.close()
        except Exception as exc:  # unreachable or misconfigured Redis: fall through, and say so
            notes.append(f"redis unavailable ({type(exc).__name__}: {exc})")
        else:
            if raw is None:
                notes.append(f"redis has no {latest_key(key_prefix)}")
            else:
                try:
                    entries = json.loads(raw).get("accounts", {}).get(account_id, {})
                except (ValueError, AttributeError) as exc:
                    entries = {}
                    notes.append(f"redis {latest_key(key_prefix)} is not valid JSON ({exc})")
                for name in MODEL_NAMES:
                    entry = entries.get(name)
                    if entry and _usable(entry.get("model"), name):
                        found[name] = (entry["model"], SOURCE_REDIS, entry.get("version"))
                missing = [n for n in MODEL_NAMES if n not in found]
                if missing:
                    notes.append(f"redis has no {', '.join(missing)} for account {account_id!r}")
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
            notes.append(f"warehouse registry unavailable ({type(exc).__name__}: {exc})")

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
