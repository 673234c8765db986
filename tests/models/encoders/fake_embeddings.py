"""A fake OpenAI-compatible ``/v1/embeddings`` server on 127.0.0.1 (never the network).

Each text's vector is :func:`fake_vector` (its length, words, vowels and a hash byte), in
``dim`` or the request's ``dimensions`` floats; ``usage.prompt_tokens`` counts words. The
first ``fail_first`` requests answer ``fail_status`` (then it answers normally), and
``omit_usage`` drops the usage block. Every request body is kept in ``requests``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

__all__ = ["FakeEmbeddingsServer", "fake_vector"]


def fake_vector(text: str, dim: int = 4) -> list[float]:
    """``[chars, words, vowels, first hash byte / 255]``, cycled to ``dim`` floats."""
    base = [float(len(text)), float(len(text.split())),
            float(sum(c in "aeiou" for c in text.lower())),
            hashlib.sha256(text.encode()).digest()[0] / 255.0]  # fmt: skip
    return [base[i % 4] for i in range(dim)]


class FakeEmbeddingsServer:
    def __init__(self, dim: int = 4) -> None:
        self.dim = dim
        self.fail_first = 0
        self.fail_status = 503
        self.omit_usage = False
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                with server._lock:
                    server.requests.append(body)
                    fail = len(server.requests) <= server.fail_first
                if fail:
                    self._send(server.fail_status, {"error": {"message": "scripted failure",
                                                              "type": "server_error"}})
                    return
                texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
                dim = body.get("dimensions") or server.dim
                data = [{"object": "embedding", "index": i, "embedding": fake_vector(t, dim)}
                        for i, t in enumerate(texts)]  # fmt: skip
                answer = {"object": "list", "model": body["model"], "data": data[::-1]}
                if not server.omit_usage:
                    words = sum(len(t.split()) for t in texts)
                    answer["usage"] = {"prompt_tokens": words, "total_tokens": words}
                self._send(200, answer)

            def _send(self, status: int, payload: dict) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
