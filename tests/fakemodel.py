"""Scripted stand-ins for model APIs on 127.0.0.1, for running real agent CLIs: Anthropic Messages
(FakeModel, for Claude Code), OpenAI Responses (FakeResponses, for Codex) and the Gemini API
(FakeGemini, for Gemini CLI).

The main conversation (a request that offers the Bash tool) is answered with a ``tool_use`` of
Bash running ``command`` until a ``tool_result`` comes back, then with a final text. Side requests
(no tools: titles, quota checks) get a short text. Every request is recorded, so a test can read
what the agent sent the model, e.g. the hook's deny reason inside the tool_result.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FINAL_TEXT = "All done."


@dataclass
class Request:
    method: str
    path: str
    body: dict[str, Any] | None


class _Handler(BaseHTTPRequestHandler):
    """What every fake's request handler shares: HTTP/1.1, no logging, the body read as JSON
    (or kept as text when it is not), and one way to answer."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else {}
        except ValueError:
            return {"_unparsed": raw.decode("utf-8", "replace")}

    def _send(self, status: int, kind: str, data: bytes, *headers: tuple[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@dataclass
class _Fake:
    """What every fake server shares: it listens on 127.0.0.1 in a thread of its own and records
    each request it is sent. With ``net`` (agentpins.LoopbackNet) its socket is made inside that
    network namespace, so only processes in it (the agent) reach it."""

    requests: list[Request] = field(default_factory=list)
    net: Any = None
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def origin(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def _listen(self, handler: type[BaseHTTPRequestHandler]) -> None:
        def listen() -> ThreadingHTTPServer:
            return ThreadingHTTPServer(("127.0.0.1", 0), handler)

        self._server = listen() if self.net is None else self.net.call(listen)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _record(self, req: Request) -> None:
        with self._lock:
            self.requests.append(req)


@dataclass
class FakeModel(_Fake):
    """The server; ``command`` is what the model asks Bash to run on its first turn."""

    command: str = "true"
    @property
    def url(self) -> str:
        return self.origin

    def start(self) -> FakeModel:
        model = self

        class Handler(_Handler):
            def do_GET(self) -> None:
                model._record(Request("GET", self.path, None))
                self._json(404, {"type": "error", "error": {"type": "not_found_error",
                                                            "message": "not here"}})

            def do_HEAD(self) -> None:
                model._record(Request("HEAD", self.path, None))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                body = self._body()
                model._record(Request("POST", self.path, body))
                path = self.path.split("?", 1)[0]
                if path.endswith("/v1/messages/count_tokens"):
                    self._json(200, {"input_tokens": 100})
                elif path.endswith("/v1/messages"):
                    blocks = model.reply(body)
                    if body.get("stream"):
                        self._sse(body, blocks)
                    else:
                        self._json(200, message(body, blocks))
                else:
                    self._json(404, {"type": "error", "error": {"type": "not_found_error",
                                                                "message": "not here"}})

            def _json(self, status: int, obj: dict[str, Any]) -> None:
                self._send(status, "application/json", json.dumps(obj).encode())

            def _sse(self, body: dict[str, Any], blocks: list[dict[str, Any]]) -> None:
                data = b"".join(
                    f"event: {name}\ndata: {json.dumps(obj)}\n\n".encode()
                    for name, obj in sse_events(body, blocks))
                self._send(200, "text/event-stream", data, ("Cache-Control", "no-cache"))

        self._listen(Handler)
        return self

    def reply(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The content blocks for one Messages request: the script."""
        tools = {t.get("name") for t in body.get("tools") or [] if isinstance(t, dict)}
        if "Bash" not in tools:
            return [{"type": "text", "text": "ok"}]
        if tool_results(body):
            return [{"type": "text", "text": FINAL_TEXT}]
        return [{"type": "tool_use", "id": "toolu_fake_1", "name": "Bash",
                 "input": {"command": self.command, "description": "Run the scripted command"}}]

    def conversation_requests(self) -> list[dict[str, Any]]:
        """The bodies of the main conversation's Messages requests, in order."""
        with self._lock:
            return [r.body for r in self.requests
                    if r.body is not None and r.path.split("?", 1)[0].endswith("/v1/messages")
                    and any(isinstance(t, dict) and t.get("name") == "Bash"
                            for t in r.body.get("tools") or [])]


def tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every tool_result block in a request's messages."""
    return [block for msg in body.get("messages") or [] if isinstance(msg.get("content"), list)
            for block in msg["content"]
            if isinstance(block, dict) and block.get("type") == "tool_result"]


def result_text(block: dict[str, Any]) -> str:
    content = block.get("content")
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content or [] if isinstance(part, dict))


def message(body: dict[str, Any], blocks: list[dict[str, Any]]) -> dict[str, Any]:
    stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
    return {"id": "msg_fake", "type": "message", "role": "assistant",
            "model": body.get("model", "claude-fake"), "content": blocks,
            "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": 100, "output_tokens": 10}}


def sse_events(body: dict[str, Any],
               blocks: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The Messages streaming events for ``blocks``, as (event name, data) pairs."""
    full = message(body, blocks)
    start = dict(full, content=[], stop_reason=None,
                 usage={"input_tokens": 100, "output_tokens": 1})
    yield "message_start", {"type": "message_start", "message": start}
    for i, block in enumerate(blocks):
        if block["type"] == "text":
            yield "content_block_start", {"type": "content_block_start", "index": i,
                                          "content_block": {"type": "text", "text": ""}}
            yield "content_block_delta", {"type": "content_block_delta", "index": i,
                                          "delta": {"type": "text_delta", "text": block["text"]}}
        else:
            yield "content_block_start", {"type": "content_block_start", "index": i,
                                          "content_block": dict(block, input={})}
            yield "content_block_delta", {"type": "content_block_delta", "index": i,
                                          "delta": {"type": "input_json_delta",
                                                    "partial_json": json.dumps(block["input"])}}
        yield "content_block_stop", {"type": "content_block_stop", "index": i}
    yield "message_delta", {"type": "message_delta",
                            "delta": {"stop_reason": full["stop_reason"], "stop_sequence": None},
                            "usage": {"output_tokens": 10}}
    yield "message_stop", {"type": "message_stop"}


# --------------------------------------------------------------------------- OpenAI Responses


@dataclass
class FakeResponses(_Fake):
    """A scripted stand-in for the OpenAI Responses API (``POST .../responses``, SSE), for Codex.

    ``turns`` are the model's tool calls, one per turn of the main conversation (a request that
    offers tools): each is (tool name, arguments object, or a function of the outputs so far
    that makes it). After the last turn the model answers
    ``FINAL_TEXT``. Each request's body is recorded, so a test reads what the agent sent back
    (a function_call_output holding the hook's reason or the command's output)."""

    turns: list[tuple[str, dict[str, Any] | Callable[[list[str]], dict[str, Any]]]] = field(
        default_factory=list)
    @property
    def url(self) -> str:
        return f"{self.origin}/v1"

    def start(self) -> FakeResponses:
        model = self

        class Handler(_Handler):
            def do_GET(self) -> None:
                model._record(Request("GET", self.path, None))
                path = self.path.split("?", 1)[0]
                if path.endswith("/models"):
                    self._send(200, "application/json", json.dumps({"models": []}).encode())
                else:
                    self._send(404, "application/json", b'{"error": {"message": "not here"}}')

            def do_POST(self) -> None:
                body = self._body()
                model._record(Request("POST", self.path, body))
                if not self.path.split("?", 1)[0].endswith("/responses"):
                    self._send(404, "application/json", b'{"error": {"message": "not here"}}')
                    return
                data = b"".join(f"event: {obj['type']}\ndata: {json.dumps(obj)}\n\n".encode()
                                for obj in model.events(body))
                self._send(200, "text/event-stream", data)

        self._listen(Handler)
        return self

    def conversation(self) -> list[dict[str, Any]]:
        """The bodies of the main conversation's requests (those that offer tools), in order."""
        with self._lock:
            return [r.body for r in self.requests if r.body is not None and r.body.get("tools")]

    def items(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The output items for one request: the script."""
        if not body.get("tools"):
            return [_text_item("ok")]
        done = sum(1 for item in body.get("input") or []
                   if isinstance(item, dict) and item.get("type") == "function_call_output")
        if done >= len(self.turns):
            return [_text_item(FINAL_TEXT)]
        name, arguments = self.turns[done]
        if callable(arguments):  # made from what the earlier calls returned
            arguments = arguments(function_outputs(body))
        return [{"type": "function_call", "id": f"fc_fake_{done}", "call_id": f"call_fake_{done}",
                 "name": name, "arguments": json.dumps(arguments)}]

    def events(self, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        rid = f"resp_fake_{len(self.requests)}"
        yield {"type": "response.created", "response": {"id": rid}}
        for item in self.items(body):
            yield {"type": "response.output_item.added", "item": item}
            yield {"type": "response.output_item.done", "item": item}
        yield {"type": "response.completed",
               "response": {"id": rid, "usage": {
                   "input_tokens": 100, "input_tokens_details": {"cached_tokens": 0},
                   "output_tokens": 10, "output_tokens_details": {"reasoning_tokens": 0},
                   "total_tokens": 110}}}


def _text_item(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "assistant", "id": "msg_fake",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}


def function_outputs(body: dict[str, Any]) -> list[str]:
    """The text of every function_call_output item a Responses request carries."""
    out = []
    for item in body.get("input") or []:
        if isinstance(item, dict) and item.get("type") == "function_call_output":
            value = item.get("output")
            if isinstance(value, list):
                value = "".join(p.get("text", "") for p in value if isinstance(p, dict))
            out.append(value if isinstance(value, str) else json.dumps(value))
    return out


# --------------------------------------------------------------------------- Gemini API


@dataclass
class FakeGemini(_Fake):
    """A scripted stand-in for the Gemini API (``POST .../models/M:streamGenerateContent?alt=sse``
    and ``:generateContent``), for Gemini CLI pointed at it by ``GOOGLE_GEMINI_BASE_URL``.

    ``turns`` are the model's function calls, one per turn of the main conversation (a request
    that offers tools): each is (function name, arguments). The turn is the number of
    functionResponse parts already in the conversation; after the last one the model answers
    ``FINAL_TEXT``. Requests without tools (side questions) get a short text."""

    turns: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    @property
    def url(self) -> str:
        return self.origin

    def start(self) -> FakeGemini:
        model = self

        class Handler(_Handler):
            def do_GET(self) -> None:
                model._record(Request("GET", self.path, None))
                self._send(404, "application/json", b'{"error": {"code": 404, "message": "not here"}}')

            def do_POST(self) -> None:
                body = self._body()
                model._record(Request("POST", self.path, body))
                path = self.path.split("?", 1)[0]
                if path.endswith(":countTokens"):
                    self._send(200, "application/json", b'{"totalTokens": 100}')
                elif path.endswith((":streamGenerateContent", ":generateContent")):
                    answer = model.answer(body)
                    if path.endswith(":streamGenerateContent"):
                        self._send(200, "text/event-stream",
                                   f"data: {json.dumps(answer)}\r\n\r\n".encode())
                    else:
                        self._send(200, "application/json", json.dumps(answer).encode())
                else:
                    self._send(404, "application/json",
                               b'{"error": {"code": 404, "message": "not here"}}')

        self._listen(Handler)
        return self

    def conversation(self) -> list[dict[str, Any]]:
        """The bodies of the main conversation's requests (those offering tools), in order."""
        with self._lock:
            return [r.body for r in self.requests if r.body is not None and r.body.get("tools")]

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        """One GenerateContentResponse: the script."""
        done = len(function_responses(body))
        if body.get("tools") and done < len(self.turns):
            name, args = self.turns[done]
            part: dict[str, Any] = {"functionCall": {"name": name, "args": args}}
        else:
            part = {"text": FINAL_TEXT if body.get("tools") else "ok"}
        return {"candidates": [{"content": {"role": "model", "parts": [part]},
                                "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 10,
                                  "totalTokenCount": 110},
                "modelVersion": "gemini-fake"}


def function_responses(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every functionResponse part in a Gemini request's contents, in order."""
    return [part["functionResponse"] for content in body.get("contents") or []
            if isinstance(content, dict) for part in content.get("parts") or []
            if isinstance(part, dict) and isinstance(part.get("functionResponse"), dict)]


# --------------------------------------------------------------------------- Anthropic, any tools


@dataclass
class ScriptedModel(FakeModel):
    """FakeModel with a script of tool calls: ``turns`` are (tool name, input), one per turn of
    the main conversation (counted by the tool_result blocks already in it), then FINAL_TEXT."""

    turns: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def reply(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        tools = {t.get("name") for t in body.get("tools") or [] if isinstance(t, dict)}
        if "Bash" not in tools:
            return [{"type": "text", "text": "ok"}]
        done = len(tool_results(body))
        if done >= len(self.turns):
            return [{"type": "text", "text": FINAL_TEXT}]
        name, tool_input = self.turns[done]
        return [{"type": "tool_use", "id": f"toolu_fake_{done + 1}", "name": name,
                 "input": tool_input}]
