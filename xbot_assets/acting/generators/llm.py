"""The language-model generator: a persona prompt in, a validated draft out, through the `openai` SDK against any
OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp).

- Structured output: the answer is a JSON object (`DraftOutput`: the text or the thread's parts, the topic, the
  hook, the claim) asked for with a JSON schema; a server that refuses JSON-schema mode is asked for a JSON object,
  and one that refuses that for plain JSON — the same pydantic validation every time. Invalid output is asked again
  at most `invalid_retries` times, then the slot is skipped with the reason (`GenerationFailed`).
- Timeouts and retries of the transport are the SDK's own (`timeout`, `max_retries`).
- Faults: a refusal (structured outputs' `message.refusal`) or a 400 skips that attempt with the reason, never asked
  again; a server that times out, cannot be reached, answers 5xx or 429 after the SDK's retries, or refuses the key
  or the model (401/403/404) is not asked again by this generator (one planning run): the rest of the run's
  attempts are skipped with the first failure as the reason, at once, and an alert is recorded in `act.alerts`.
- Every call's tokens and estimated cost go to `act.llm_calls`; `XBOT_LLM_DAILY_BUDGET_USD` refuses a call that
  could take the day's spend past it (the slot is skipped with the reason; the offline generator does not stand in).
- The call machinery above (formats, budget, records, faults) is `ModelCalls`, shared with the labeller of
  `learn/formulas` (`llm_labels.py`); a `CallSpec` names the caller, its prompt version, temperature and schema.

Settings: OPENAI_BASE_URL, OPENAI_API_KEY (through the environment only, never stored), XBOT_LLM_MODEL
(gpt-4o-mini), XBOT_LLM_TIMEOUT_SECONDS (30), XBOT_LLM_MAX_RETRIES (2), XBOT_LLM_INVALID_RETRIES (2),
XBOT_LLM_PRICE_INPUT_PER_1M (0.15) and XBOT_LLM_PRICE_OUTPUT_PER_1M (0.60) USD, XBOT_LLM_DAILY_BUDGET_USD (unset).
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from xbot_assets.acting.alerts import record_alert
from xbot_assets.acting.generators.base import GenerationFailed
from xbot_assets.acting.generators.personas import HOOKS, PERSONAS, Persona
from xbot_assets.clock import WallClock
from xbot_assets.settings import env_float, env_int
from xbot_assets.warehouse.connection import Connection, Warehouse

T = TypeVar("T")

LLM_CALL_COLUMNS = ("call_id", "account_id", "model", "generator_name", "prompt_version", "started_at",
                    "duration_ms", "mode", "prompt_tokens", "completion_tokens", "cost_usd", "outcome", "error")


class DraftOutput(BaseModel):
    """What the model must answer with."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(None, description="the post, for a single post")
    parts: list[str] | None = Field(None, description="the thread's posts in order, for a thread")
    topic: str = Field(min_length=1, max_length=80)
    hook: str = Field(description="the hook type: " + ", ".join(HOOKS))
    claim: str = Field(min_length=1, max_length=280, description="the one claim the post makes")

    @model_validator(mode="after")
    def _one_form(self) -> DraftOutput:
        if (self.text is None) == (self.parts is None):
            raise ValueError("give either text (a single post) or parts (a thread), not both or neither")
        if self.parts is not None and not (2 <= len(self.parts) <= 10 and all(p.strip() for p in self.parts)):
            raise ValueError("a thread needs 2 to 10 non-empty parts")
        if self.text is not None and not self.text.strip():
            raise ValueError("text is empty")
        return self


def output_schema() -> dict[str, Any]:
    """The JSON schema sent in strict mode: every property required, nullable where the form allows."""
    return {
        "type": "object", "additionalProperties": False,
        "required": ["text", "parts", "topic", "hook", "claim"],
        "properties": {
            "text": {"type": ["string", "null"]},
            "parts": {"type": ["array", "null"], "items": {"type": "string"}},
            "topic": {"type": "string"}, "hook": {"type": "string", "enum": list(HOOKS)},
            "claim": {"type": "string"},
        },
    }


@dataclass(frozen=True)
class LLMSettings:
    model: str = "gpt-4o-mini"
    timeout_seconds: float = 30.0
    max_retries: int = 2
    invalid_retries: int = 2
    price_input_per_1m: float = 0.15
    price_output_per_1m: float = 0.60
    daily_budget_usd: float | None = None

    @classmethod
    def from_env(cls) -> LLMSettings:
        budget = os.environ.get("XBOT_LLM_DAILY_BUDGET_USD", "").strip()
        return cls(
            model=os.environ.get("XBOT_LLM_MODEL") or "gpt-4o-mini",
            timeout_seconds=env_float("XBOT_LLM_TIMEOUT_SECONDS", 30.0),
            max_retries=env_int("XBOT_LLM_MAX_RETRIES", 2),
            invalid_retries=env_int("XBOT_LLM_INVALID_RETRIES", 2),
            price_input_per_1m=env_float("XBOT_LLM_PRICE_INPUT_PER_1M", 0.15),
            price_output_per_1m=env_float("XBOT_LLM_PRICE_OUTPUT_PER_1M", 0.60),
            daily_budget_usd=float(budget) if budget else None,
        )

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.price_input_per_1m + completion_tokens * self.price_output_per_1m) / 1e6


@dataclass
class LLMDraft:
    """A validated draft and what it took."""

    output: DraftOutput
    generator_name: str
    prompt_version: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    attempts: int = 1
    notes: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.output.text if self.output.text is not None else self.output.parts[0]

    @property
    def thread_parts(self) -> tuple[str, ...]:
        return tuple(self.output.parts or ())


def messages(persona: Persona, content_type: str, topic: str, audience: str | None, examples: Sequence[str],
             thread: bool, rules: Sequence[str] = (), hook: str | None = None,
             formulas: Sequence[dict] = ()) -> list[dict[str, str]]:
    """The chat: the persona's prompt, the account's rules, up to three viral examples (structure only), the ask,
    the hook the planner chose and the account's own best formulas (learn/formulas) with their evidence."""
    system = persona.prompt + "\n" + "\n".join(f"- {r}" for r in rules)
    system += ("\nAnswer with one JSON object only: {\"text\": string or null, \"parts\": list of strings or null, "
               "\"topic\": string, \"hook\": one of " + ", ".join(HOOKS) + ", \"claim\": string}.")
    ask = [f"Write one {'thread (2-5 posts)' if thread else 'single post'} of type {content_type} about {topic}."]
    if audience:
        ask.append(f"Audience: {audience}.")
    if hook:
        ask.append(f"Open with a {hook} hook, and answer \"hook\": \"{hook}\".")
    if formulas:
        ask.append("Structures that worked for this account's own posts (follow one that fits the hook):")
        ask += [_formula_line(f) for f in formulas[:3]]
    if examples:
        ask.append("Posts that did well recently, for their structure only. Do not copy or paraphrase them:")
        ask += [f"<example>{e}</example>" for e in examples[:3]]
    ask.append("Each post at most 280 characters; no links unless asked; no hashtags.")
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(ask)}]


def _formula_line(formula: dict) -> str:
    evidence = f"{formula.get('posts', 0)} posts"
    if formula.get("engagement_rate") is not None:
        evidence += f", ER {float(formula['engagement_rate']):.1%}"
    return f"- {formula['name']}: {formula['structure']} ({evidence}). Example: <example>{formula['example']}</example>"


class BudgetExceeded(GenerationFailed):
    """The call could take the day's spend past XBOT_LLM_DAILY_BUDGET_USD: every later call of the day would too."""


@dataclass(frozen=True)
class CallSpec:
    """What one kind of call sends: who asks (act.llm_calls.generator_name), the prompt's version, the sampling
    temperature and the JSON schema (with its name); `answer_tokens` is the budget check's worst case for the answer."""

    name: str
    prompt_version: str
    temperature: float
    schema_name: str
    schema: dict[str, Any]
    answer_tokens: int = 600


class ModelCalls:
    """The call machinery every use of the model shares (the generator, the labeller): the response_format fallback
    json_schema → json_object → plain, the daily budget, `act.llm_calls`, refusals, and the stop for the rest of the
    run after an unusable server (with one alert). `purpose`, `job_name` and `alert_prefix` say who stopped asking;
    `skipped` ends the budget's reason ("not generated")."""

    MODES = ("json_schema", "json_object", "plain")

    def __init__(self, client, settings: LLMSettings, warehouse: Warehouse | None = None, account_id: str = "main",
                 clock=None, *, purpose: str = "planning", job_name: str = "plan_job",
                 alert_prefix: str = "llm_unavailable", skipped: str = "generated"):
        self.client = client
        self.settings = settings
        self.warehouse = warehouse
        self.account_id = account_id
        self.clock = clock or WallClock().now
        self.mode = "json_schema"  # the best the server accepts; lowered once when it refuses one
        self.unavailable: str | None = None  # why the server is not asked again in this run
        self.purpose, self.job_name, self.alert_prefix, self.skipped = purpose, job_name, alert_prefix, skipped

    def spent_today(self, at: datetime) -> float:
        if self.warehouse is None:
            return 0.0
        with self.warehouse.connect() as conn:
            return float(conn.scalar(
                "select coalesce(sum(cost_usd), 0) from act.llm_calls where account_id = ? and started_at >= ?",
                [self.account_id, at.replace(hour=0, minute=0, second=0, microsecond=0)]) or 0.0)

    def _record(self, values: dict[str, Any]) -> None:
        if self.warehouse is None:
            return
        with self.warehouse.connect() as conn:
            conn.insert_rows("act.llm_calls", LLM_CALL_COLUMNS, [[values.get(c) for c in LLM_CALL_COLUMNS]])

    def call(self, spec: CallSpec, chat: list[dict[str, str]], tally) -> str:
        """One answer's content; `tally` (prompt_tokens, completion_tokens, cost_usd, notes) adds up what it took.
        Raises GenerationFailed with the reason when there is no answer to validate."""
        import openai

        now, secret = self.clock(), getattr(self.client, "api_key", None)  # a 401 may quote the key back
        budget = self.settings.daily_budget_usd
        if budget is not None:
            spent = self.spent_today(now)
            worst = self.settings.cost(sum(len(m["content"]) for m in chat) // 3 + 50, spec.answer_tokens)
            if spent + worst > budget:
                raise BudgetExceeded(f"llm daily budget: ${spent:.4f} of ${budget:.2f} spent today, this call "
                                       f"could cost ${worst:.4f}; not {self.skipped}")
        while True:
            started = time.perf_counter()
            record = {"call_id": uuid.uuid4().hex, "account_id": self.account_id, "model": self.settings.model,
                      "generator_name": spec.name, "prompt_version": spec.prompt_version, "started_at": now,
                      "mode": self.mode}
            try:
                response = self.client.chat.completions.create(
                    model=self.settings.model, messages=chat, temperature=spec.temperature, **self._format(spec))
            except openai.BadRequestError as exc:
                error = short_error(exc, secret)
                record.update(duration_ms=(time.perf_counter() - started) * 1000, prompt_tokens=0,
                              completion_tokens=0, cost_usd=0.0, outcome="refused", error=error)
                self._record(record)
                if self.mode != "plain" and _format_refused(exc):
                    lower = self.MODES[self.MODES.index(self.mode) + 1]
                    tally.notes.append(f"the server refused {self.mode} output; using {lower}")
                    self.mode = lower
                    continue
                raise GenerationFailed(f"llm: the server refused the request ({error})") from None
            except openai.APIError as exc:  # timeouts, connection errors, 429/5xx after the SDK's own retries
                error = short_error(exc, secret)
                record.update(duration_ms=(time.perf_counter() - started) * 1000, prompt_tokens=0,
                              completion_tokens=0, cost_usd=0.0, outcome="error", error=error)
                self._record(record)
                reason = f"llm: {type(exc).__name__}: {error}"
                if _server_unusable(exc):
                    self._stop_asking(reason, now)
                raise GenerationFailed(reason) from None
            usage = response.usage
            prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
            completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
            cost = self.settings.cost(prompt_tokens, completion_tokens)
            tally.prompt_tokens += prompt_tokens
            tally.completion_tokens += completion_tokens
            tally.cost_usd += cost
            message = response.choices[0].message
            refusal = getattr(message, "refusal", None)
            refusal = short_error(refusal, secret) if refusal else None
            record.update(duration_ms=(time.perf_counter() - started) * 1000, prompt_tokens=prompt_tokens,
                          completion_tokens=completion_tokens, cost_usd=cost,
                          outcome="refused" if refusal else "answered", error=refusal)
            self._record(record)
            if refusal:  # an answer, not malformed output: asking the same again would be refused again
                raise GenerationFailed(f"llm: the model refused: {refusal}")
            return message.content or ""

    def ask_validated(self, spec: CallSpec, chat: list[dict[str, str]], tally, parse: Callable[[str], T],
                      what: str) -> T:
        """`parse` of the answer's JSON, asking at most `invalid_retries` more times while it raises ValueError (a
        pydantic ValidationError is one): each time the model is shown what was wrong. `tally.attempts` counts the
        asks. GenerationFailed with every reason when no answer was valid."""
        problems: list[str] = []
        for attempt in range(1, self.settings.invalid_retries + 2):
            tally.attempts = attempt
            content = self.call(spec, chat, tally)
            try:
                return parse(json_text(content))
            except ValueError as exc:
                problems.append(short_error(exc))
                chat = [*chat, {"role": "assistant", "content": content or ""},
                        {"role": "user", "content": f"That was not valid: {short_error(exc)}. Answer again with the "
                                                    "JSON object only."}]
        raise GenerationFailed(f"llm: no valid {what} after {len(problems)} attempts ({'; '.join(problems)})")

    def _stop_asking(self, reason: str, now: datetime) -> None:
        """Every further call of this run would wait for the same failure (and hold the step's lock)."""
        self.unavailable = reason
        if self.warehouse is not None:
            record_alert(self.warehouse, f"{self.alert_prefix}:{self.account_id}:{now:%Y-%m-%dT%H}", now,
                         f"{self.purpose} for {self.account_id} stopped asking the language model for this run: "
                         f"{reason}", job_name=self.job_name)

    def _format(self, spec: CallSpec) -> dict[str, Any]:
        if self.mode == "json_schema":
            return {"response_format": {"type": "json_schema", "json_schema": {
                "name": spec.schema_name, "schema": spec.schema, "strict": True}}}
        if self.mode == "json_object":
            return {"response_format": {"type": "json_object"}}
        return {}


class LLMGenerator(ModelCalls):
    """One account's generator: an `openai.OpenAI` client, the settings, and where calls are recorded (the
    calls' defaults of `ModelCalls` are planning's)."""

    @classmethod
    def from_env(cls, warehouse: Warehouse | None, account_id: str) -> LLMGenerator:
        from openai import OpenAI

        settings = LLMSettings.from_env()
        client = OpenAI(timeout=settings.timeout_seconds, max_retries=settings.max_retries)  # OPENAI_* from env
        return cls(client, settings, warehouse, account_id)

    def generate(self, generator_name: str, content_type: str, topic: str, *, thread: bool = False,
                 audience: str | None = None, examples: Sequence[str] = (), rules: Sequence[str] = (),
                 hook: str | None = None, formulas: Sequence[dict] | None = None) -> LLMDraft:
        persona = PERSONAS.get(generator_name)
        if persona is None:
            raise GenerationFailed(f"llm: no persona {generator_name!r}")
        if self.unavailable:
            raise GenerationFailed(f"llm: not asked, the model's server failed earlier in this run "
                                   f"({self.unavailable})")
        chat = messages(persona, content_type, topic, audience, examples, thread, rules, hook, formulas or ())
        spec = CallSpec(persona.name, persona.version, persona.temperature, "post", output_schema())
        draft = LLMDraft(output=None, generator_name=generator_name, prompt_version=persona.version,  # type: ignore
                         model=self.settings.model)

        def parse(text: str) -> DraftOutput:
            output = DraftOutput.model_validate_json(text)
            if thread and output.parts is None or not thread and output.text is None:
                raise ValueError("wrong form (a thread was asked for)" if thread else "wrong form (a single post)")
            return output

        draft.output = self.ask_validated(spec, chat, draft, parse, "output")
        return draft


def llm_usage(conn: Connection, at: datetime) -> dict[str, dict[str, Any]]:
    """Per account: the language model's calls, tokens and estimated spend today (UTC, against the daily budget)
    and this calendar month (for `xbot status`)."""
    if not conn.table_exists("act", "llm_calls"):
        return {}
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    budget = LLMSettings.from_env().daily_budget_usd
    usage: dict[str, dict[str, Any]] = {}
    for since, key in ((day.replace(day=1), "month"), (day, "today")):
        for account_id, calls, failed, prompt, completion, cost in conn.fetchall(
                "select account_id, count(*), sum(case when outcome = 'answered' then 0 else 1 end), "
                "coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0), coalesce(sum(cost_usd), 0) "
                "from act.llm_calls where started_at >= ? group by account_id order by account_id", [since]):
            entry = usage.setdefault(account_id, {"daily_budget_usd": budget})
            entry[key] = {"calls": int(calls), "failed_calls": int(failed or 0), "prompt_tokens": int(prompt),
                          "completion_tokens": int(completion), "spend_usd": round(float(cost), 6)}
    for entry in usage.values():
        entry.setdefault("today", {"calls": 0, "failed_calls": 0, "prompt_tokens": 0, "completion_tokens": 0,
                                   "spend_usd": 0.0})
    return usage


def _server_unusable(exc: Exception) -> bool:
    """A failure every later call would meet too: no answer, a 5xx or 429 after the SDK's retries, the key or the
    model refused. A 400 (or 422) refuses this request only."""
    import openai

    if not isinstance(exc, openai.APIStatusError):
        return True  # timeout, connection refused or cut
    return exc.status_code in (401, 403, 404, 429) or exc.status_code >= 500


def _format_refused(exc: Exception) -> bool:
    text = str(exc).lower()
    return "response_format" in text or "json_schema" in text or "json_object" in text


def json_text(content: str) -> str:
    """Plain mode: the JSON object inside a reply that may wrap it in prose or a code fence."""
    content = (content or "").strip()
    if content.startswith("{"):
        return content
    start, end = content.find("{"), content.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("no JSON object in the answer")
    return content[start:end + 1]


# What looks like an API key in a server's error ("Incorrect API key provided: sk-abc***xyz"): never stored.
_KEY_LIKE = re.compile(r"\b(sk|rk|pk)-[A-Za-z0-9_*.\-]{4,}")


def short_error(exc: Exception | str, secret: str | None = None) -> str:
    """One line of at most 300 characters, without the API key (a 401 may quote it back)."""
    text = str(exc).replace("\n", " ")
    for key in {secret, os.environ.get("OPENAI_API_KEY")} - {None, ""}:
        text = text.replace(key, "[redacted]")
    return _KEY_LIKE.sub("[redacted]", text)[:300]

