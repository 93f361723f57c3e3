"""The labeller of `learn/formulas` (issue 17: hooks "rules first, the model where configured", formulas "with the
model where configured and from the hook/length/number patterns otherwise"): a language model labels a batch of
the account's post texts with each one's hook type (`ingest.hooks.HOOK_TYPES`) and its structure, an ordered list
of parts of `learning.formulas.STRUCTURE_PARTS` that opens with the lead of its hook ("[surprising stat]") and goes
on with any of the other parts ("[specific number]", "[contrarian take]", "[evidence]", "[question to the reader]",
"[call to action]"), each at most once.

- At most 20 texts a call; the answer is JSON (a schema with the hooks and parts as enums) validated with pydantic:
  every index answered once, every value in the vocabulary. Invalid output is asked again at most
  XBOT_LLM_INVALID_RETRIES times, then the batch is read by the rules, with the reason.
- The calls are the generator's (`llm.ModelCalls`: the response_format fallback, the daily budget, `act.llm_calls`
  with generator_name 'labeller' and the prompt's version hash, refusals, and an unusable server not asked again in
  the run, with one alert). A budget refusal stops this account's labelling for the run.
- Only the model's labels are stored, in `act.post_labels` (source 'model'): a post read by the rules is asked about
  again by a later run, a labelled one never. Each run asks about at most XBOT_LABELLER_MAX_POSTS posts per account,
  newest first (`learned.formulas.unlabelled_posts`); `raw.posts.hook` is never changed (the hook arms learn the
  hook that was the decision).

Settings: XBOT_LABELLER = rules (default: no model) | llm (OPENAI_BASE_URL, OPENAI_API_KEY and the XBOT_LLM_*
settings of the generator), XBOT_LABELLER_MAX_POSTS (200).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationInfo, model_validator

from xbot_assets.acting.generators.base import GenerationFailed
from xbot_assets.acting.generators.llm import BudgetExceeded, CallSpec, LLMSettings, ModelCalls, short_error
from xbot_assets.ingest.hooks import HOOK_TYPES
from xbot_assets.learned.formulas import unlabelled_posts
from xbot_assets.learning.formulas import EXTRA_PARTS, LEADS, STRUCTURE_PARTS
from xbot_assets.settings import env_int
from xbot_assets.warehouse.connection import Warehouse

BATCH_SIZE = 20
LABELLER_NAME = "labeller"
LABEL_COLUMNS = ("decision_id", "account_id", "hook", "structure", "source", "model", "prompt_version", "labelled_at")
TEMPERATURE = 0.0  # a label is a reading, not a creative choice: the same text should get the same label

_PART_MEANINGS = {"[specific number]": "a concrete number beyond the lead",
                  "[contrarian take]": "a turn against a common view",
                  "[evidence]": "a study, data or a measurement",
                  "[question to the reader]": "it closes by asking the reader something",
                  "[call to action]": "it closes by telling the reader what to do"}
SYSTEM_PROMPT = (
    "You label posts from X for a system that learns which post structures work.\n"
    "For each post give its hook type (how its opening line grabs a reader), one of: " + ", ".join(HOOK_TYPES) + ".\n"
    "And its structure: the parts it is built from, in order. The structure opens with the lead of its hook: "
    + "; ".join(f"{hook} -> {lead}" for hook, lead in LEADS.items()) + ".\n"
    "Then any of these parts the post carries, each at most once, in the order they appear: "
    + "; ".join(f"{part} ({meaning})" for part, meaning in _PART_MEANINGS.items()) + ".\n"
    "Answer with one JSON object only: {\"labels\": [{\"index\": the post's index, \"hook\": the hook type, "
    "\"structure\": [the parts]}]}, one entry per post."
)
# Changes exactly when the prompt or the temperature does, like a persona's version: stored with every label.
PROMPT_VERSION = LABELLER_NAME + "@" + hashlib.sha256(f"{SYSTEM_PROMPT}\n{TEMPERATURE}".encode()).hexdigest()[:10]


@dataclass(frozen=True)
class LabellerSettings:
    kind: str = "rules"
    max_posts: int = 200

    @classmethod
    def from_env(cls) -> LabellerSettings:
        kind = (os.environ.get("XBOT_LABELLER") or "rules").strip().lower()
        if kind not in ("rules", "llm"):
            raise ValueError(f"setting XBOT_LABELLER={kind!r} is not 'rules' or 'llm'")
        return cls(kind, env_int("XBOT_LABELLER_MAX_POSTS", 200))


class Label(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: int
    hook: Literal[HOOK_TYPES]  # type: ignore[valid-type]
    structure: list[str]

    @model_validator(mode="after")
    def _parts(self) -> Label:
        unknown = [p for p in self.structure if p not in STRUCTURE_PARTS]
        if unknown:
            raise ValueError(f"post {self.index}: parts outside the vocabulary: {unknown}")
        if not self.structure or self.structure[0] != LEADS[self.hook]:
            raise ValueError(f"post {self.index}: a {self.hook} structure opens with {LEADS[self.hook]}")
        rest = self.structure[1:]
        if any(p not in EXTRA_PARTS for p in rest) or len(set(rest)) != len(rest) or LEADS[self.hook] in rest:
            raise ValueError(f"post {self.index}: after the lead only {', '.join(EXTRA_PARTS)}, each at most once")
        return self


class LabelsOutput(BaseModel):
    """What the model must answer with; `context={"n": ...}`: how many posts were asked about."""

    model_config = ConfigDict(extra="forbid")

    labels: list[Label]

    @model_validator(mode="after")
    def _every_post_once(self, info: ValidationInfo) -> LabelsOutput:
        n = (info.context or {}).get("n", len(self.labels))
        indexes = sorted(label.index for label in self.labels)
        if indexes != list(range(n)):
            raise ValueError(f"answer every index 0 to {n - 1} exactly once (got {indexes})")
        return self


def labels_schema() -> dict[str, Any]:
    """The JSON schema sent in strict mode: the hook types and the parts as enums."""
    label = {"type": "object", "additionalProperties": False, "required": ["index", "hook", "structure"],
             "properties": {"index": {"type": "integer"}, "hook": {"type": "string", "enum": list(HOOK_TYPES)},
                            "structure": {"type": "array",
                                          "items": {"type": "string", "enum": list(STRUCTURE_PARTS)}}}}
    return {"type": "object", "additionalProperties": False, "required": ["labels"],
            "properties": {"labels": {"type": "array", "items": label}}}


def label_messages(texts: Sequence[str]) -> list[dict[str, str]]:
    posts = "\n".join(f'<post index="{i}">{_one_line(t)}</post>' for i, t in enumerate(texts))
    return [{"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": f"Label these {len(texts)} posts:\n{posts}"}]


def _one_line(text: str) -> str:
    # A post's own markup must not close or open a <post> element of the prompt.
    return re.sub(r"</?post\b", "post", " ".join(text.split()), flags=re.I)


@dataclass(frozen=True)
class PostLabel:
    decision_id: str
    hook: str
    structure: str  # the parts joined with " + ", as learning.formulas writes a structure


@dataclass
class LabelRun:
    """One account's labelling in one run: the model's labels, how many posts asked about fell back to the rules,
    and why."""

    labels: list[PostLabel] = field(default_factory=list)
    by_rules: int = 0
    reasons: list[str] = field(default_factory=list)


@dataclass
class _Tally:  # what ModelCalls.call adds up
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    notes: list[str] = field(default_factory=list)
    attempts: int = 0


class LLMLabeller(ModelCalls):
    """One run's labeller (every account of the run: a server found unusable is not asked again for any)."""

    SPEC = CallSpec(LABELLER_NAME, PROMPT_VERSION, TEMPERATURE, "post_labels", labels_schema(),
                    answer_tokens=60 * BATCH_SIZE)

    def __init__(self, client, settings: LLMSettings, warehouse: Warehouse | None = None, account_id: str = "main",
                 clock=None, job_name: str = "learn/formulas"):
        super().__init__(client, settings, warehouse, account_id, clock, purpose="labelling for learn/formulas",
                         job_name=job_name, alert_prefix="labeller_unavailable", skipped="labelled")
        self.unconfigured: str | None = None  # no client (no key): alerted once, at the first account asked

    @classmethod
    def from_env(cls, warehouse: Warehouse | None, clock=None, job_name: str = "learn/formulas") -> LLMLabeller:
        import openai

        settings = LLMSettings.from_env()
        try:  # OPENAI_* from the environment
            client = openai.OpenAI(timeout=settings.timeout_seconds, max_retries=settings.max_retries)
        except openai.OpenAIError as exc:  # no key: the SDK says which setting is missing, never a secret
            labeller = cls(None, settings, warehouse, clock=clock, job_name=job_name)
            labeller.unconfigured = f"llm: the client could not be made ({short_error(exc)})"
            return labeller
        return cls(client, settings, warehouse, clock=clock, job_name=job_name)

    def label(self, texts: Sequence[str]) -> list[Label]:
        """The labels of up to 20 texts, in their order; GenerationFailed with the reason when there are none."""
        if self.unavailable:
            raise GenerationFailed(f"llm: not asked, the model's server failed earlier in this run "
                                   f"({self.unavailable})")
        if not 0 < len(texts) <= BATCH_SIZE:
            raise ValueError(f"a batch is 1 to {BATCH_SIZE} texts, not {len(texts)}")
        output = self.ask_validated(
            self.SPEC, label_messages(texts), _Tally(),
            lambda text: LabelsOutput.model_validate_json(text, context={"n": len(texts)}), "labels")
        return sorted(output.labels, key=lambda label: label.index)

    def label_posts(self, account_id: str, posts: Sequence[tuple[str, str]]) -> LabelRun:
        """(decision_id, text) pairs in batches of 20; a batch the model cannot label is left to the rules."""
        self.account_id = account_id  # the calls, the budget and an alert are the account's
        if self.unconfigured and posts:
            self._stop_asking(self.unconfigured, self.clock())
            self.unconfigured = None
        run = LabelRun()
        for start in range(0, len(posts), BATCH_SIZE):
            batch = posts[start:start + BATCH_SIZE]
            try:
                labels = self.label([text for _, text in batch])
            except GenerationFailed as exc:
                run.by_rules += len(batch)
                run.reasons.append(str(exc))
                if self.unavailable or isinstance(exc, BudgetExceeded):  # every later batch would meet the same
                    run.by_rules += len(posts) - start - len(batch)
                    break
                continue
            run.labels += [PostLabel(decision_id, label.hook, " + ".join(label.structure))
                           for (decision_id, _), label in zip(batch, labels, strict=True)]
        return run


def write_labels(warehouse: Warehouse, account_id: str, labels: Sequence[PostLabel], model: str,
                 now: datetime) -> None:
    with warehouse.connect() as conn:
        conn.insert_rows("act.post_labels", LABEL_COLUMNS, [
            [label.decision_id, account_id, label.hook, label.structure, "model", model, PROMPT_VERSION, now]
            for label in labels], conflict_columns=["decision_id"])  # a label once given is kept


def label_account(warehouse: Warehouse, labeller: LLMLabeller, account_id: str, max_posts: int,
                  now: datetime) -> LabelRun:
    """Label the account's unlabelled gated posts (at most `max_posts`, newest first) and store the model's labels."""
    with warehouse.connect() as conn:
        posts = unlabelled_posts(conn, account_id, max_posts)
    run = labeller.label_posts(account_id, posts)
    write_labels(warehouse, account_id, run.labels, labeller.settings.model, now)
    return run
