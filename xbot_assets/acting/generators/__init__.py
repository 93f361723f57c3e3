"""Text generators: a generator persona and a content type in, a draft (text or thread parts, topic) out.

`offline` writes from one template family per persona with no model and no key (pure); `personas` holds the twelve
personas' prompts, versioned; `llm` writes through the openai SDK against any OpenAI-compatible server, validates
the JSON answer with pydantic and records every call's tokens and cost in `act.llm_calls` (it imports `settings` and
`warehouse`). Imported by the planner (`acting.planner`) and by `evaluation` (the static history).
"""
