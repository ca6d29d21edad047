"""A fake WeCom server API on loopback: access tokens (gettoken) and the send API (message/send)."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Set
from urllib.parse import parse_qs, urlsplit

from tests.wecom import APP_SECRET, CORP_ID


class FakeWeCom:
    """WeCom's API for one organisation and app: issues tokens for the app's secret, records what
    is sent with a valid token; tokens can be made expired (42001) or invalid (40014)."""

    def __init__(self, corp_id: str = CORP_ID, app_secret: str = APP_SECRET) -> None:
        self.sent: List[Dict[str, Any]] = []
        self.tokens_issued = 0
        self.expires_in = 7200
        self.valid: Set[str] = set()
        self.expired: Set[str] = set()
        self.refused_sends = 0
        # Every token counts as expired as soon as it is used (a clock far off, say).
        self.always_expired = False
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, body: Dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # http.server's naming
                url = urlsplit(self.path)
                args = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path != "/cgi-bin/gettoken":
                    self.send_error(404)
                elif args.get("corpid") != corp_id or args.get("corpsecret") != app_secret:
                    self._answer({"errcode": 40001, "errmsg": "invalid credential"})
                else:
                    with outer._lock:
                        outer.tokens_issued += 1
                        token = f"access-token-{outer.tokens_issued}"
                        outer.valid.add(token)
                    self._answer({"errcode": 0, "errmsg": "ok", "access_token": token,
                                  "expires_in": outer.expires_in})

            def do_POST(self) -> None:
                url = urlsplit(self.path)
                token = (parse_qs(url.query).get("access_token") or [""])[0]
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if url.path != "/cgi-bin/message/send":
                    self.send_error(404)
                    return
                with outer._lock:
                    if token in outer.expired or outer.always_expired:
                        outer.refused_sends += 1
                        answer = {"errcode": 42001, "errmsg": "access_token expired"}
                    elif token not in outer.valid:
                        outer.refused_sends += 1
                        answer = {"errcode": 40014, "errmsg": "invalid access_token"}
                    else:
                        outer.sent.append(body)
                        answer = {"errcode": 0, "errmsg": "ok", "invaliduser": ""}
                self._answer(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        # A short poll: shutting down waits for the serving loop's next turn.
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True).start()

    def expire_tokens(self) -> None:
        """Every token issued so far has expired (42001)."""
        with self._lock:
            self.expired |= self.valid
            self.valid = set()

    def revoke_tokens(self) -> None:
        """Every token issued so far is invalid (40014)."""
        with self._lock:
            self.valid = set()

    def to(self, user: str) -> List[Dict[str, Any]]:
        """What was sent to one member."""
        return [m for m in self.sent if m.get("touser") == user]

    def texts(self, user: str) -> str:
        """The texts sent to one member."""
        return "\n".join(m.get("text", {}).get("content", "") for m in self.to(user))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
