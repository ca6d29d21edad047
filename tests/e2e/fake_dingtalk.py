"""A fake DingTalk on loopback: the session webhooks the assistant replies to."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List


class FakeDingTalk:
    """Session webhooks: records what the assistant posts, per session."""

    def __init__(self) -> None:
        self.received: Dict[str, List[Dict[str, Any]]] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.received.setdefault(self.path, []).append(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"errcode":0,"errmsg":"ok"}')

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def webhook(self, session: str) -> str:
        return f"http://127.0.0.1:{self.port}/robot/sendBySession?session={session}"

    def _posted(self, session: str) -> List[Dict[str, Any]]:
        return self.received.get(f"/robot/sendBySession?session={session}", [])

    def texts(self, session: str) -> str:
        """The texts (or markdown) posted to one session."""
        return "\n".join(m.get("text", {}).get("content") or m.get("markdown", {}).get("text", "")
                         for m in self._posted(session))

    def posted(self, session: str) -> str:
        """Everything posted to one session, as JSON text."""
        return json.dumps(self._posted(session), ensure_ascii=False)
