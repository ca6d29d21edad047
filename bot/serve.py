"""Run the action server and the Rasa server together: `python -m bot.serve`.

Stays in the foreground until Ctrl-C (or until either server exits), then stops both.
Ports come from RASA_PORT (5005) and ACTION_PORT (5055).
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, List, Optional

from core import settings
from core.settings import PROJECT


def server_env(rasa_port: int, action_port: int, base: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The environment both servers run with: the embedded defaults unless set already."""
    env = settings.environment() if base is None else dict(base)
    env.setdefault("PYTHONPATH", str(PROJECT))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    # TensorFlow runs the classifier for one message at a time: on thread pools of its own
    # (by default as many threads as cores, each pool) a message took about twice the CPU and
    # more time than on the calling thread alone (docs/measurements.md, "CPU per turn").
    env.setdefault("TF_INTER_OP_PARALLELISM_THREADS", "1")
    env.setdefault("TF_INTRA_OP_PARALLELISM_THREADS", "1")
    env.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    env.setdefault("ACTION_ENDPOINT_URL", f"http://127.0.0.1:{action_port}/webhook")
    if not env.get("TRACKER_STORE_URL"):
        # The embedded default: a SQLite file (TRACKER_STORE_DB, else var/trackers.db).
        env["TRACKER_STORE_URL"] = settings.tracker_store_url(env)
        Path(env["TRACKER_STORE_URL"][len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    env.setdefault("LOCK_STORE_TYPE", "in_memory")
    if env["LOCK_STORE_TYPE"] == "redis":
        # Rasa's own Redis lock store loses queued messages when several servers share it.
        env["LOCK_STORE_TYPE"] = "bot.lock_store.AtomicRedisLockStore"
    # How long a queued message keeps its place in a conversation's lock (Rasa: 60 s). A burst
    # of messages to one conversation on a loaded machine can wait longer than that, and Rasa
    # drops a message whose place expired; a crashed server's lock still frees itself.
    env.setdefault("TICKET_LOCK_LIFETIME", "180")
    env.setdefault("REDIS_HOST", "127.0.0.1")
    env.setdefault("REDIS_PORT", "6379")
    env.setdefault("REDIS_DB", "1")
    if not env.get("ASSISTANT_JWT_SECRET"):
        env["ASSISTANT_JWT_SECRET"] = _development_secret("jwt_secret")
    if not env.get("ACTION_SERVER_TOKEN"):
        env["ACTION_SERVER_TOKEN"] = _development_secret("action_token")
    return env


def _development_secret(name: str) -> str:
    """A per-installation secret for local use, kept in var/ (set your own in production)."""
    import secrets

    path = PROJECT / "var" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created owner-only from the start, never readable by others even briefly.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip()


def free_port() -> int:
    """A loopback port nobody listens on now (for servers started by tests, bench and eval)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Servers:
    """The two server processes, started together and stopped together."""

    def __init__(self, model: Path, rasa_port: int, action_port: int,
                 env: Optional[Dict[str, str]] = None, log_dir: Optional[Path] = None,
                 own_session: bool = False) -> None:
        self.model, self.rasa_port, self.action_port = Path(model), rasa_port, action_port
        self.env = server_env(rasa_port, action_port, env)
        self.log_dir = log_dir
        self.own_session = own_session
        self.processes: List[subprocess.Popen] = []
        self.actions: Optional[subprocess.Popen] = None
        self.rasa: Optional[subprocess.Popen] = None

    def _spawn(self, name: str, cmd: List[str]) -> subprocess.Popen:
        out = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            out = open(self.log_dir / f"{name}.log", "ab")
        proc = subprocess.Popen(cmd, cwd=PROJECT, env=self.env, stdout=out,
                                stderr=subprocess.STDOUT if out else None,
                                start_new_session=self.own_session)
        self.processes.append(proc)
        return proc

    def start(self) -> "Servers":
        """Bring the database schema up to date, start the action server, then the Rasa server."""
        from core.db.migrate import upgrade

        # Both servers use the database; migrating here means neither races the other to it.
        url = settings.database_url(self.env)
        try:
            upgrade(url)
        except Exception as e:  # noqa: BLE001 - programme answers do not need the database
            print(f"warning: database not migrated ({e.__class__.__name__}); tier status and "
                  f"handoff will retry when it is reachable", file=sys.stderr)
        self.start_action_server()
        self.start_rasa_server()
        return self

    def start_action_server(self) -> subprocess.Popen:
        """Start (or start again, after a crash) the action server."""
        self.actions = self._spawn("actions", [sys.executable, "-m", "actions.server", "--actions",
                                               "actions", "--port", str(self.action_port)])
        return self.actions

    def start_rasa_server(self) -> subprocess.Popen:
        """Start (or start again) the Rasa server."""
        self.rasa = self._spawn("rasa", self.rasa_command())
        return self.rasa

    def running(self) -> List[subprocess.Popen]:
        """The current process of each server (not ones stopped and started again)."""
        return [p for p in (self.actions, self.rasa) if p is not None]

    def rasa_command(self) -> List[str]:
        """The Rasa server's command line."""
        command = [sys.executable, "-m", "bot.rasa_server", "run", "--model", str(self.model),
                   "--port", str(self.rasa_port), "--endpoints", "endpoints.yml",
                   "--credentials", "credentials.yml"]
        # Rasa's HTTP API (trackers, events, model loading) stays off unless a token is set.
        if self.env.get("RASA_API_TOKEN"):
            command += ["--enable-api", "--auth-token", self.env["RASA_API_TOKEN"]]
        return command

    def wait_ready(self, timeout: float = 180.0) -> float:
        """Block until both servers answer over HTTP; return the seconds it took."""
        started = time.monotonic()
        urls = [f"http://127.0.0.1:{self.action_port}/health", f"http://127.0.0.1:{self.rasa_port}/"]
        while urls:
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"servers not ready after {timeout:.0f} s: {urls}")
            for proc in self.running():
                if proc.poll() is not None:
                    raise RuntimeError(f"server exited early (exit {proc.returncode}): {proc.args!r}")
            try:
                with urllib.request.urlopen(urls[0], timeout=2):
                    urls.pop(0)
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        return time.monotonic() - started

    def stop(self, timeout: float = 15.0) -> None:
        """Stop both servers: SIGTERM, then SIGKILL for any that linger."""
        for proc in self.processes:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + timeout
        for proc in self.processes:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> "Servers":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: Optional[List[str]] = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=PROJECT / "models" / "assistant.tar.gz")
    args = parser.parse_args(argv)
    if not args.model.exists():
        print(f"error: no model at {args.model}; run `make run` to train one", file=sys.stderr)
        return 1
    rasa_port, action_port = settings.server_ports()
    servers = Servers(args.model, rasa_port, action_port)
    # SIGTERM (a process manager) and SIGINT stop the servers like Ctrl-C does; SIGINT is
    # installed explicitly because a shell that starts us in the background ignores it.
    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        servers.start()
        took = servers.wait_ready()
        print(f"\nMerchant assistant ready in {took:.1f} s\n"
              f"  REST channel: http://localhost:{rasa_port}/webhooks/rest/webhook\n"
              f"  merchant channel (token): http://localhost:{rasa_port}/webhooks/merchant/webhook\n"
              f"    token: ASSISTANT_JWT_SECRET=$(cat var/jwt_secret) "
              f".venv/bin/python -m actions.cli token --sub M1003 --role merchant\n"
              f"  web chat page (token): http://localhost:{rasa_port}/webhooks/webchat/#token=<token>\n"
              f"  agent desk (agent token): http://localhost:{rasa_port}/webhooks/agent/tickets\n"
              f"  action server: http://localhost:{action_port}/webhook\n"
              f"Press Ctrl-C to stop.", flush=True)
        while all(p.poll() is None for p in servers.running()):
            time.sleep(0.5)
        print("a server exited; stopping the other", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping…", flush=True)
        return 0
    except (TimeoutError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        servers.stop()


if __name__ == "__main__":
    sys.exit(main())
