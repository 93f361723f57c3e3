"""An account's profile: the niche and voice it writes in, which the generators write from.

`xbot accounts profile NAME --file profile.yaml` validates and stores it in `act.account_profiles` (one JSON
document per account, replaced whole); `links_allowed` is the account's link switch (`act.accounts.allow_urls`,
the one place it is kept). Example:

    niche: sleep and circadian health for shift workers
    topics: [{name: morning light, weight: 3}, {name: caffeine timing, weight: 2}, naps]
    audience: nurses and factory workers on rotating shifts
    tone_rules: [plain words, no fear-mongering]
    banned_words: [miracle, cure]
    banned_claims: [melatonin is harmless at any dose]
    language: en
    links_allowed: false
    thread: {min_parts: 2, max_parts: 5}
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from xbot_assets.clock import utc_naive
from xbot_assets.warehouse.connection import Connection, Warehouse


class ProfileError(ValueError):
    """A profile file that cannot be used; the message says which field and why."""


class Topic(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=80)
    weight: float = Field(1.0, gt=0)


class ThreadLimits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_parts: int = Field(2, ge=2, le=10)
    max_parts: int = Field(5, ge=2, le=10)

    @model_validator(mode="after")
    def _ordered(self) -> ThreadLimits:
        if self.min_parts > self.max_parts:
            raise ValueError(f"thread.min_parts {self.min_parts} > thread.max_parts {self.max_parts}")
        return self


class AccountProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    niche: str = Field(min_length=3, max_length=200)
    topics: list[Topic] = Field(min_length=1)
    audience: str | None = None
    tone_rules: list[str] = Field(default_factory=list)
    banned_words: list[str] = Field(default_factory=list)
    banned_claims: list[str] = Field(default_factory=list)
    language: str = Field("en", min_length=2, max_length=8)
    links_allowed: bool = False
    thread: ThreadLimits = Field(default_factory=ThreadLimits)

    @field_validator("topics", mode="before")
    @classmethod
    def _plain_names(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("topics")
    @classmethod
    def _unique(cls, topics: list[Topic]) -> list[Topic]:
        names = [t.name.lower() for t in topics]
        if len(set(names)) != len(names):
            raise ValueError("topics must have different names")
        return topics

    def topic_weights(self) -> dict[str, float]:
        total = sum(t.weight for t in self.topics)
        return {t.name: t.weight / total for t in self.topics}


def read_profile(path: str | Path) -> AccountProfile:
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProfileError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path} is not YAML: {exc}") from None
    if not isinstance(document, dict):
        raise ProfileError(f"{path}: a profile is a mapping of fields (niche, topics, ...)")
    try:
        return AccountProfile.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'profile'}: {e['msg']}" for e in exc.errors())
        raise ProfileError(f"{path}: {problems}") from None


def store_profile(warehouse: Warehouse, account_id: str, profile: AccountProfile, now: datetime) -> None:
    with warehouse.connect() as conn:
        conn.insert_rows("act.account_profiles", ("account_id", "profile_json", "updated_at"),
                         [[account_id, profile.model_dump_json(), utc_naive(now)]],
                         conflict_columns=("account_id",), update_columns=("profile_json", "updated_at"))
        conn.execute("update act.accounts set allow_urls = ? where account_id = ?",
                     [profile.links_allowed, account_id])


def load_profile(conn: Connection, account_id: str) -> AccountProfile | None:
    raw = conn.scalar("select profile_json from act.account_profiles where account_id = ?", [account_id])
    return AccountProfile.model_validate(json.loads(raw)) if raw else None
