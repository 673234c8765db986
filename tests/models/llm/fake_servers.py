"""Fake Anthropic (Messages, count_tokens, Message Batches) and OpenAI chat-completions
servers on 127.0.0.1, for tests that must never reach the network.

Each server runs a ``ThreadingHTTPServer`` on a free port in a daemon thread and is a
context manager::

    with FakeAnthropicServer(api_key="sk-test") as server:
        backend = AnthropicBackend(api_key="sk-test", base_url=server.url)
        server.script = fail_first(2, status=529)
        ...
        server.calls("/v1/messages")  # every request received: headers + JSON body

Default answers are deterministic: the identifiers of the prompt's candidate lines (``[3]
Title`` or ``3. Title``), reversed, as ``[3] > [2] > [1]``. Usage counts words:
``input_tokens`` = words of system + user, ``output_tokens`` = words of the answer; with
``cache_control`` on the system block, the first request writes the system words to the
cache (``cache_creation_input_tokens``) and later ones read them
(``cache_read_input_tokens``), neither counted in ``input_tokens``. The OpenAI fake, with
``auto_cache=True``, reports a system prompt seen before in
``prompt_tokens_details.cached_tokens`` (still counted in ``prompt_tokens``, as OpenAI does).

A *script* ``(Call) -> Reply | None`` decides each paid call (``/v1/messages``, each batch
item, ``/v1/chat/completions``); None keeps the default answer. Ready-made scripts:
:func:`fail_first`, :func:`fail_when`, and the :class:`Reply` helpers (``rate_limited``,
``overloaded``, ``server_error``, ``bad_request``, ``hang``, ``malformed``, ``answer``,
``truncated``).
"""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "Call",
    "FakeAnthropicServer",
    "FakeOpenAIServer",
    "Reply",
    "candidate_ids",
    "default_answer",
    "fail_first",
    "fail_when",
    "word_count",
]

_CANDIDATE_LINE = re.compile(r"^[ \t]*(?:\[([A-Za-z0-9_:.-]+)\]|(\d+)\.)[ \t]", re.MULTILINE)
#: the longest a hang may last, whatever a test asks (keeps a broken test bounded)
MAX_HANG_S = 10.0


def word_count(text: str) -> int:
    """Tokens as the fakes count them: whitespace-separated words."""
    return len(text.split())


def candidate_ids(user: str) -> list[str]:
    """Identifiers of the candidate lines of a prompt, in shown order.

    Candidate lines are those :func:`analysis.rerank.prompts.format_candidates` writes:
    ``[3] Title`` (bracket style) or ``3. Title`` (number style).
    """
    return [a or b for a, b in _CANDIDATE_LINE.findall(user)]


def default_answer(system: str, user: str) -> str:
    """The fakes' deterministic answer: candidate ids reversed, as ``[3] > [2] > [1]``."""
    return " > ".join(f"[{i}]" for i in reversed(candidate_ids(user)))


@dataclass(frozen=True)
class Call:
    """One request the server received.

    Attributes:
        method: ``GET`` or ``POST``.
        path: URL path without the query.
        headers: header names lower-cased.
        body: the parsed JSON body (None for GET).
        system: the system prompt text (joined text blocks), "" if none.
        user: the last user message's text.
        n: 0-based number of this call among the paid calls of the server.
        at: ``time.monotonic()`` when it arrived.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    system: str = ""
    user: str = ""
    n: int = 0
    at: float = 0.0


@dataclass(frozen=True)
class Reply:
    """How to answer one paid call. Defaults produce the normal answer.

    Attributes:
        status: HTTP status; >= 400 sends an API error body.
        headers: extra response headers (``retry-after`` ...).
        delay_s: wait before answering (a hang when longer than the client's timeout).
        text: the answer text instead of :func:`default_answer`.
        stop_reason: force ``max_tokens``/``length`` etc. (mapped per API).
        raw: send these bytes as the body, as is (malformed JSON).
        batch_result: in a batch, ``"errored"``, ``"expired"`` or ``"canceled"``.
        error_type: the API error type for ``status >= 400`` (default from the status).
        message: the API error message.
        reset: send the headers and half the body, then reset the connection (the answer
            was produced, and would be billed, but never arrives whole).
        usage: replace the reported usage fields with these (e.g. ten times max_tokens of
            output); ``omit_usage``: send no usage at all.
        content: the message's content blocks instead of one text block (e.g. a tool_use
            block: an answer with no text).
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    text: str | None = None
    stop_reason: str | None = None
    raw: bytes | None = None
    batch_result: str | None = None
    error_type: str | None = None
    message: str = "scripted failure"
    reset: bool = False
    usage: dict[str, int] | None = None
    omit_usage: bool = False
    content: list[dict[str, Any]] | None = None

    @staticmethod
    def rate_limited(retry_after: float | None = None, *, ms: bool = False) -> Reply:
        """429, with ``retry-after`` (seconds) or ``retry-after-ms`` when ``ms``."""
        headers = {}
        if retry_after is not None:
            if ms:
                headers["retry-after-ms"] = str(int(retry_after * 1000))
            else:
                headers["retry-after"] = f"{retry_after:g}"
        return Reply(status=429, headers=headers, message="rate limited")

    @staticmethod
    def overloaded() -> Reply:
        return Reply(status=529, message="Overloaded")

    @staticmethod
    def server_error(status: int = 500) -> Reply:
        return Reply(status=status, message="internal server error")

    @staticmethod
    def bad_request(message: str = "bad request") -> Reply:
        return Reply(status=400, message=message)

    @staticmethod
    def hang(seconds: float) -> Reply:
        return Reply(delay_s=seconds)

    @staticmethod
    def malformed() -> Reply:
        return Reply(raw=b'{"id": "msg_broken", "content": [')

    @staticmethod
    def answer(text: str, stop_reason: str | None = None) -> Reply:
        """A chosen answer text: hallucinated ids, duplicates, prose..."""
        return Reply(text=text, stop_reason=stop_reason)

    @staticmethod
    def connection_reset() -> Reply:
        """The answer is cut mid-body and the connection reset."""
        return Reply(reset=True)

    @staticmethod
    def no_usage() -> Reply:
        return Reply(omit_usage=True)

    @staticmethod
    def tool_use_only() -> Reply:
        """A message whose only content block is not text."""
        return Reply(content=[{"type": "tool_use", "id": "toolu_1", "name": "rank",
                               "input": {}}])  # fmt: skip

    @staticmethod
    def truncated(text: str = "[1]\n[2") -> Reply:
        """An answer cut by the token limit (stop reason max_tokens / length)."""
        return Reply(text=text, stop_reason="max_tokens")


Script = Callable[[Call], "Reply | None"]


def fail_first(n: int, reply: Reply | None = None, **kwargs: Any) -> Script:
    """The first ``n`` paid calls get ``reply`` (or ``Reply(**kwargs)``), the rest succeed."""
    failure = reply if reply is not None else Reply(**kwargs)
    return lambda call: failure if call.n < n else None


def fail_when(contains: str, reply: Reply) -> Script:
    """Calls whose user text contains ``contains`` always get ``reply``."""
    return lambda call: reply if contains in call.user else None


_ANTHROPIC_ERROR = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _FakeBase:
    """Shared plumbing: the HTTP server, recording, auth, scripting, in-flight counting."""

    paid_paths: tuple[str, ...] = ()

    def __init__(self, *, api_key: str | None = None, script: Script | None = None) -> None:
        self.api_key = api_key
        self.script = script
        self.received: list[Call] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._paid = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> _FakeBase:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()  # wakes any hanging handler
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start the server first"
        return self._server.server_address[1]

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- what tests read -----------------------------------------------------------------

    def calls(self, path: str | None = None, method: str | None = None) -> list[Call]:
        """Received requests, optionally those to ``path`` (exact) and/or by ``method``."""
        with self._lock:
            return [
                c
                for c in self.received
                if (path is None or c.path == path) and (method is None or c.method == method)
            ]

    @property
    def paid_calls(self) -> int:
        """Paid calls answered or failed so far (messages, batch items, chat completions)."""
        with self._lock:
            return self._paid

    # -- request handling ----------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        path = handler.path.split("?", 1)[0]
        length = int(handler.headers.get("content-length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in handler.headers.items()}
        system, user = self._texts(body)
        paid = method == "POST" and path in self.paid_paths
        with self._lock:
            n = self._paid
            if paid:
                self._paid += 1
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
            call = Call(method, path, headers, body, system, user, n, time.monotonic())
            self.received.append(call)
        try:
            if not self._authorised(headers):
                self._send_error(handler, 401, "authentication_error", "invalid x-api-key")
                return
            self._route(handler, call)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout): nothing to answer
        finally:
            if paid:
                with self._lock:
                    self.in_flight -= 1

    def _authorised(self, headers: dict[str, str]) -> bool:
        if self.api_key is None:
            return True
        bearer = headers.get("authorization", "")
        return headers.get("x-api-key") == self.api_key or bearer == f"Bearer {self.api_key}"

    def _decide(self, call: Call) -> Reply:
        reply = self.script(call) if self.script is not None else None
        return reply if reply is not None else Reply()

    def _wait(self, reply: Reply) -> None:
        if reply.delay_s > 0:
            self._stop.wait(min(reply.delay_s, MAX_HANG_S))

    def _send(
        self,
        handler: BaseHTTPRequestHandler,
        status: int,
        payload: Any,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
        reset: bool = False,
    ) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("content-type", content_type)
        handler.send_header("content-length", str(len(data)))
        handler.send_header(self.request_id_header, f"req_{uuid.uuid4().hex[:16]}")
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        if reset:  # half the body, then a TCP reset (SO_LINGER 0)
            handler.wfile.write(data[: len(data) // 2])
            handler.wfile.flush()
            handler.close_connection = True
            sock = handler.connection
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
            return
        handler.wfile.write(data)
        handler.wfile.flush()

    # subclass hooks
    request_id_header = "request-id"

    def _texts(self, body: Any) -> tuple[str, str]:
        raise NotImplementedError

    def _route(self, handler: BaseHTTPRequestHandler, call: Call) -> None:
        raise NotImplementedError

    def _send_error(
        self, handler: BaseHTTPRequestHandler, status: int, kind: str, message: str, headers=None
    ) -> None:
        raise NotImplementedError


def _text_of(content: Any) -> str:
    """Text of a message ``content`` (a string or a list of text blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b.get("text", "") for b in content if isinstance(b, dict))
    return ""


class FakeAnthropicServer(_FakeBase):
    """Anthropic Messages, count_tokens and Message Batches API on 127.0.0.1.

    Args:
        api_key: when set, requests must carry it as ``x-api-key`` or ``Authorization:
            Bearer`` (else 401).
        script: decides each paid call (see the module docstring).
        batch_polls: ``GET /v1/messages/batches/{id}`` answers ``in_progress`` this many
            times before ``ended``.
        max_batch_requests: a batch create with more requests is refused with the API's
            400 ``invalid_request_error`` (the real cap is 100,000).
        max_batch_bytes: a batch create whose body has more bytes is refused with the
            API's 413 ``request_too_large`` (the real cap is 256 MB).
        hold_creates_from: batch creates from this one on (0-based) hang until
            :meth:`release_creates` (or :data:`MAX_HANG_S`), then are refused with 529: no
            batch is created (a client killed meanwhile never learns of one).

    Attributes:
        url: the base URL to give the client (``http://127.0.0.1:<port>``).
        batches: created batches by id: ``{"requests": [...], "polls": int}``.
        creates: batch create requests received (refused and held ones included).
        result_reads: results downloads, by batch id.
    """

    paid_paths = ("/v1/messages",)
    request_id_header = "request-id"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        script: Script | None = None,
        batch_polls: int = 1,
        max_batch_requests: int | None = None,
        max_batch_bytes: int | None = None,
        hold_creates_from: int | None = None,
    ) -> None:
        super().__init__(api_key=api_key, script=script)
        self.batch_polls = batch_polls
        self.max_batch_requests = max_batch_requests
        self.max_batch_bytes = max_batch_bytes
        self.hold_creates_from = hold_creates_from
        self.batches: dict[str, dict[str, Any]] = {}
        self.creates = 0
        self.result_reads: dict[str, int] = {}
        self._released = threading.Event()
        self._cached_systems: set[str] = set()

    def release_creates(self) -> None:
        """Let held batch creates go on (see ``hold_creates_from``)."""
        self._released.set()

    @property
    def url(self) -> str:
        return self.root

    def _texts(self, body: Any) -> tuple[str, str]:
        if not isinstance(body, dict):
            return "", ""
        params = body.get("params", body)
        messages = params.get("messages") or []
        user = _text_of(messages[-1].get("content")) if messages else ""
        return _text_of(params.get("system")), user

    def _send_error(self, handler, status, kind, message, headers=None) -> None:
        payload = {
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": f"req_{uuid.uuid4().hex[:16]}",
        }
        self._send(handler, status, payload, headers)

    def _route(self, handler: BaseHTTPRequestHandler, call: Call) -> None:
        path, method = call.path, call.method
        if method == "POST" and path == "/v1/messages":
            self._messages(handler, call)
        elif method == "POST" and path == "/v1/messages/count_tokens":
            tokens = word_count(call.system) + word_count(call.user)
            self._send(handler, 200, {"input_tokens": tokens})
        elif method == "POST" and path == "/v1/messages/batches":
            self._create_batch(handler, call)
        elif method == "GET" and path.startswith("/v1/messages/batches/"):
            parts = path[len("/v1/messages/batches/") :].split("/")
            batch = self.batches.get(parts[0])
            if batch is None:
                self._send_error(handler, 404, "not_found_error", f"no batch {parts[0]}")
            elif len(parts) == 1:
                self._poll_batch(handler, parts[0])
            elif parts[1:] == ["results"]:
                self._batch_results(handler, parts[0])
            else:
                self._send_error(handler, 404, "not_found_error", path)
        else:
            self._send_error(handler, 404, "not_found_error", f"{method} {path}")

    def message_json(self, call: Call, reply: Reply, params: dict[str, Any]) -> dict[str, Any]:
        """The Message object answering ``params`` (usage from word counts, see module doc)."""
        text = reply.text if reply.text is not None else default_answer(call.system, call.user)
        words = text.split()
        stop = reply.stop_reason or "end_turn"
        limit = int(params.get("max_tokens") or 0)
        if limit and len(words) > limit:
            text, stop = " ".join(words[:limit]), "max_tokens"
        system_words = word_count(call.system)
        system = params.get("system")
        cached = isinstance(system, list) and any(
            isinstance(b, dict) and b.get("cache_control") for b in system
        )
        creation = read = 0
        if cached:
            with self._lock:
                hit = call.system in self._cached_systems
                self._cached_systems.add(call.system)
            read, creation = (system_words, 0) if hit else (0, system_words)
            input_tokens = word_count(call.user)
        else:
            input_tokens = system_words + word_count(call.user)
        message = {
            "id": f"msg_{uuid.uuid4().hex[:20]}",
            "type": "message",
            "role": "assistant",
            "model": params.get("model", "claude-fake"),
            "content": reply.content if reply.content is not None
            else [{"type": "text", "text": text}],
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": word_count(text),
                "cache_creation_input_tokens": creation,
                "cache_read_input_tokens": read,
                "service_tier": "standard",
                **(reply.usage or {}),
            },
        }
        if reply.omit_usage:
            del message["usage"]
        return message

    def _messages(self, handler: BaseHTTPRequestHandler, call: Call) -> None:
        reply = self._decide(call)
        self._wait(reply)
        if reply.status >= 400:
            kind = reply.error_type or _ANTHROPIC_ERROR.get(reply.status, "api_error")
            self._send_error(handler, reply.status, kind, reply.message, reply.headers)
        elif reply.raw is not None:
            self._send(handler, reply.status, reply.raw, reply.headers)
        else:
            message = self.message_json(call, reply, call.body)
            self._send(handler, 200, message, reply.headers, reset=reply.reset)

    def _batch_json(self, batch_id: str) -> dict[str, Any]:
        batch = self.batches[batch_id]
        ended = batch["polls"] >= self.batch_polls
        n = len(batch["requests"])
        created = batch["created"]
        return {
            "id": batch_id,
            "type": "message_batch",
            "processing_status": "ended" if ended else "in_progress",
            "request_counts": {
                "processing": 0 if ended else n,
                "succeeded": n if ended else 0,
                "errored": 0,
                "canceled": 0,
                "expired": 0,
            },
            "created_at": created.isoformat(),
            "expires_at": (created + timedelta(hours=24)).isoformat(),
            "ended_at": datetime.now(UTC).isoformat() if ended else None,
            "cancel_initiated_at": None,
            "archived_at": None,
            "results_url": f"{self.root}/v1/messages/batches/{batch_id}/results" if ended else None,
        }

    def _create_batch(self, handler: BaseHTTPRequestHandler, call: Call) -> None:
        with self._lock:
            number = self.creates
            self.creates += 1
        if self.hold_creates_from is not None and number >= self.hold_creates_from:
            self._released.wait(MAX_HANG_S)
            self._send_error(handler, 529, "overloaded_error", "held, then refused")
            return
        requests = (call.body or {}).get("requests") or []
        ids = [r.get("custom_id") for r in requests]
        size = int(call.headers.get("content-length") or 0)
        if self.max_batch_bytes is not None and size > self.max_batch_bytes:
            message = f"Request exceeds the maximum allowed number of bytes ({size:,})."
            self._send_error(handler, 413, "request_too_large", message)
            return
        if self.max_batch_requests is not None and len(requests) > self.max_batch_requests:
            message = f"requests: at most {self.max_batch_requests:,} items ({len(requests):,})"
            self._send_error(handler, 400, "invalid_request_error", message)
            return
        if not requests or len(set(ids)) != len(ids):
            self._send_error(handler, 400, "invalid_request_error", "bad or duplicate custom_id")
            return
        batch_id = f"msgbatch_{uuid.uuid4().hex[:20]}"
        with self._lock:
            self.batches[batch_id] = {
                "requests": requests,
                "polls": 0,
                "created": datetime.now(UTC),
            }
        self._send(handler, 200, self._batch_json(batch_id))

    def _poll_batch(self, handler: BaseHTTPRequestHandler, batch_id: str) -> None:
        with self._lock:
            self.batches[batch_id]["polls"] += 1
        self._send(handler, 200, self._batch_json(batch_id))

    def _batch_results(self, handler: BaseHTTPRequestHandler, batch_id: str) -> None:
        with self._lock:
            self.result_reads[batch_id] = self.result_reads.get(batch_id, 0) + 1
        lines = []
        for item in reversed(self.batches[batch_id]["requests"]):  # order is not guaranteed
            params = item["params"]
            system, user = self._texts(params)
            with self._lock:
                n = self._paid
                self._paid += 1
            call = Call("BATCH", "/v1/messages", {}, params, system, user, n, time.monotonic())
            reply = self._decide(call)
            kind = reply.batch_result or ("errored" if reply.status >= 400 else "succeeded")
            if kind == "succeeded":
                result = {"type": "succeeded", "message": self.message_json(call, reply, params)}
            elif kind == "errored":
                error_kind = reply.error_type or _ANTHROPIC_ERROR.get(reply.status, "api_error")
                result = {
                    "type": "errored",
                    "error": {
                        "type": "error",
                        "error": {"type": error_kind, "message": reply.message},
                    },
                }
            else:
                result = {"type": kind}
            lines.append(json.dumps({"custom_id": item["custom_id"], "result": result}))
        data = ("\n".join(lines) + "\n").encode()
        self._send(handler, 200, data, content_type="application/binary")


class FakeOpenAIServer(_FakeBase):
    """OpenAI ``POST /v1/chat/completions`` on 127.0.0.1.

    Args:
        api_key: when set, requests must carry ``Authorization: Bearer <key>`` (else 401).
        script: decides each call (see the module docstring).
        auto_cache: report a system prompt seen before as cached (vLLM prefix caching,
            OpenAI's automatic caching), in ``prompt_tokens_details.cached_tokens``.
        latency_s: every completion takes this long (served concurrently, like a vLLM
            server batching its requests).
        gather: completions are held until this many have arrived (a round), then each
            takes ``latency_s``; a round left short is let go after :data:`MAX_HANG_S`. With
            ``gather = concurrency``, a client that keeps that many in flight shows it
            however slowly its threads start, so a test need not depend on machine speed.

    Attributes:
        url: the base URL to give the client (``http://127.0.0.1:<port>/v1``).
        spans: ``(arrived, answered)`` monotonic times of each completion, ``answered``
            taken just before the answer is sent (so a client's next request, sent after
            reading it, never overlaps it).
    """

    paid_paths = ("/v1/chat/completions",)
    request_id_header = "x-request-id"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        script: Script | None = None,
        auto_cache: bool = False,
        latency_s: float = 0.0,
        gather: int = 1,
    ) -> None:
        super().__init__(api_key=api_key, script=script)
        self.auto_cache = auto_cache
        self.latency_s = latency_s
        self.gather = gather
        self.spans: list[tuple[float, float]] = []
        self._seen_systems: set[str] = set()
        self._round = self._in_round = 0
        self._rounds = threading.Condition()

    def max_overlap(self) -> int:
        """The most completions the server held at once (from :attr:`spans`)."""
        with self._lock:
            spans = list(self.spans)
        return max((sum(a <= t < b for a, b in spans) for t, _ in spans), default=0)

    def _hold(self) -> None:
        """Wait for the round to fill (``gather``), then ``latency_s``."""
        with self._rounds:
            mine = self._round
            self._in_round += 1
            if self._in_round >= self.gather:
                self._round, self._in_round = self._round + 1, 0
                self._rounds.notify_all()
            else:
                self._rounds.wait_for(lambda: self._round != mine, timeout=MAX_HANG_S)
        if self.latency_s > 0:
            self._stop.wait(self.latency_s)

    @property
    def url(self) -> str:
        return f"{self.root}/v1"

    def _texts(self, body: Any) -> tuple[str, str]:
        if not isinstance(body, dict):
            return "", ""
        messages = body.get("messages") or []
        system = "".join(_text_of(m.get("content")) for m in messages if m.get("role") == "system")
        users = [m for m in messages if m.get("role") == "user"]
        return system, _text_of(users[-1].get("content")) if users else ""

    def _send_error(self, handler, status, kind, message, headers=None) -> None:
        payload = {"error": {"message": message, "type": kind, "param": None, "code": None}}
        self._send(handler, status, payload, headers)

    def _route(self, handler: BaseHTTPRequestHandler, call: Call) -> None:
        if not (call.method == "POST" and call.path == "/v1/chat/completions"):
            self._send_error(handler, 404, "not_found", f"{call.method} {call.path}")
            return
        reply = self._decide(call)
        self._wait(reply)
        if self.gather > 1 or self.latency_s > 0:
            self._hold()
        with self._lock:
            self.spans.append((call.at, time.monotonic()))
        if reply.status >= 400:
            self._send_error(
                handler, reply.status, reply.error_type or "error", reply.message, reply.headers
            )
            return
        if reply.raw is not None:
            self._send(handler, reply.status, reply.raw, reply.headers)
            return
        text = reply.text if reply.text is not None else default_answer(call.system, call.user)
        finish = {"max_tokens": "length"}.get(reply.stop_reason or "", reply.stop_reason) or "stop"
        words = text.split()
        limit = int(call.body.get("max_tokens") or 0)
        if limit and len(words) > limit:
            text, finish = " ".join(words[:limit]), "length"
        with self._lock:
            hit = self.auto_cache and call.system in self._seen_systems
            cached = word_count(call.system) if hit else 0
            if call.system:
                self._seen_systems.add(call.system)
        prompt = word_count(call.system) + word_count(call.user)
        completion = word_count(text)
        payload = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:20]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": call.body.get("model", "fake"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": finish,
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": cached},
                **(reply.usage or {}),
            },
        }
        if reply.omit_usage:
            del payload["usage"]
        self._send(handler, 200, payload, reply.headers, reset=reply.reset)
