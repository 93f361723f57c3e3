"""A local OpenAI-compatible server for the tests (127.0.0.1 only): `POST /v1/chat/completions` as the SDK expects
it, with usage numbers, JSON-schema and JSON-object modes (either can be refused as a server without them would),
and scripted answers: a content string, malformed output, a refusal (structured outputs' `message.refusal`, content
null), any error status (429 and 5xx with retry headers), a slow answer; or a `writer(request body) -> content` that
answers each unscripted request from its prompt. An unscripted label request (the labeller's "Label these N posts",
its texts in `<post index="i">` elements) is answered by `label(text) -> (hook, structure parts)` for each text. A
wrong key is quoted back in the 401, as OpenAI's servers do, so tests can see that it is never stored."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class OpenAIState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        # items: {"content": str} | {"refusal": str} | {"status": int} | {"slow": seconds, "content": str}
        self.script: deque = deque()
        self.requests: list[dict] = []
        self.writer = None  # Callable[[dict], str] | None: answers unscripted requests when set
        self.label = lambda text: ("question", ["[question]", "[evidence]"])  # label requests' answer per text
        self.supports_json_schema = True
        self.supports_json_object = True
        self.default_content = json.dumps({"text": "Morning light sets your body clock: 10 minutes outside before "
                                                   "9 am beats any supplement.", "parts": None,
                                           "topic": "morning light", "hook": "how-to",
                                           "claim": "morning light advances the circadian clock"})

        self.thread_content = json.dumps({"text": None, "parts": [
            "Caffeine has a 5-hour half-life: a 3 pm coffee is still half there at 8.",
            "That is why late coffee costs deep sleep even when you fall asleep fine.",
            "Move the last cup before noon for one week and compare."], "topic": "caffeine timing",
            "hook": "surprising number", "claim": "afternoon caffeine reduces deep sleep"})

    def answer(self, *items: dict) -> None:
        self.script.extend(items)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        state: OpenAIState = self.server.state  # type: ignore[attr-defined]
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
        if self.path.rstrip("/") != "/v1/chat/completions":
            return self._send(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})
        if self.headers.get("authorization") != "Bearer test-key":
            sent = (self.headers.get("authorization") or "").removeprefix("Bearer ")
            return self._send(401, {"error": {"message": f"Incorrect API key provided: {sent}",
                                              "type": "invalid_request_error", "code": "invalid_api_key"}})
        with state.lock:
            state.requests.append(body)
            asked = " ".join(m.get("content") or "" for m in body.get("messages", []) if m.get("role") == "user")
            default = state.thread_content if "Write one thread" in asked else state.default_content
            if state.script:
                item = state.script.popleft()
            elif asked.startswith("Label these"):
                item = {"content": label_answer(asked, state.label)}
            else:
                item = {"content": state.writer(body) if state.writer else default}
        kind = (body.get("response_format") or {}).get("type")
        if kind == "json_schema" and not state.supports_json_schema or kind == "json_object" and not \
                state.supports_json_object:
            return self._send(400, {"error": {"message": f"response_format type {kind} is not supported by this "
                                              "server", "type": "invalid_request_error", "param": "response_format"}})
        if "status" in item:
            status = item["status"]
            message = {429: "Rate limit reached", 400: "Invalid prompt: flagged as potentially violating our usage "
                       "policy", 403: "Project does not have access to model test-model"}.get(status,
                                                                                         "The server had an error")
            kind = "invalid_request_error" if status < 500 and status != 429 else "server_error"
            return self._send(status, {"error": {"message": message, "type": kind}},
                              {"retry-after": "0", "x-should-retry": "true"} if status == 429 or status >= 500 else {})
        if "slow" in item:
            time.sleep(item["slow"])
        prompt = " ".join(m.get("content") or "" for m in body.get("messages", []))
        content = item.get("content")
        message = {"role": "assistant", "content": content, "refusal": item.get("refusal")}
        said = content if content is not None else item.get("refusal") or ""
        usage = {"prompt_tokens": max(1, len(prompt) // 4), "completion_tokens": max(1, len(said) // 4)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        try:
            self._send(200, {"id": f"chatcmpl-{len(state.requests)}", "object": "chat.completion", "created": 0,
                             "model": body.get("model", "test-model"), "usage": usage,
                             "choices": [{"index": 0, "finish_reason": "stop", "message": message}]})
        except (BrokenPipeError, ConnectionResetError):  # a slow answer to a client that gave up
            self.close_connection = True


def label_answer(asked: str, label) -> str:
    """The labeller's answer: `label(text)` for each `<post index="i">text</post>` of the request."""
    posts = re.findall(r'<post index="(\d+)">(.*?)</post>', asked, re.S)
    answers = [dict(zip(("hook", "structure"), label(text), strict=True)) for _, text in posts]
    return json.dumps({"labels": [{"index": int(i), **a} for (i, _), a in zip(posts, answers, strict=True)]})


class FakeOpenAIServer:
    def __init__(self) -> None:
        self.state = OpenAIState()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.state = self.state  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
