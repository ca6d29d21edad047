"""The production layout on one machine: nginx in front of two Rasa servers (each with its
action server; a request goes to the one with fewer open, `least_conn`), sharing a
PostgreSQL tracker store and a Redis lock store, as docs/deployment.md describes it.
`make bench` measures it beside one Rasa server, `python -m bench.layout` alone;
tests/e2e/test_scale_out.py checks that no message is lost or reordered in it.
"""
from __future__ import annotations

import subprocess
import time
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Tuple

from sqlalchemy import create_engine, text

NGINX = Path("/usr/sbin/nginx")

# nginx's directive for each way of spreading requests over the Rasa servers.
BALANCING = {"least_conn": "least_conn;", "round_robin": ""}

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {state}/nginx.pid;
error_log {state}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
  log_format upstream '$upstream_addr $status';
  access_log {state}/nginx-access.log upstream;
  client_body_temp_path {state}/body;
  proxy_temp_path {state}/proxy;
  fastcgi_temp_path {state}/fastcgi;
  uwsgi_temp_path {state}/uwsgi;
  scgi_temp_path {state}/scgi;
  upstream rasa {{ {balance} server 127.0.0.1:{a}; server 127.0.0.1:{b}; keepalive 32; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://rasa;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_read_timeout 120s;
    }}
  }}
}}
"""


@contextmanager
def fresh_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A new PostgreSQL database (its URL), dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              f"WHERE datname = '{name}'"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@contextmanager
def production_layout(model: Path, env: Mapping[str, str], tracker_store_url: str,
                      redis: Tuple[str, int], state: Path, redis_db: int = 3,
                      balance: str = "least_conn") -> Iterator[Dict[str, Any]]:
    """Two Rasa servers with their action servers, on the conversations at `tracker_store_url`
    with the Redis lock store, behind nginx (`balance`: "least_conn", or "round_robin" for
    nginx's default, each server in turn); yields nginx's port, the state folder (nginx's
    access log names the server of each request) and each pair's process ids."""
    from bot.serve import Servers, free_port

    env = {k: v for k, v in env.items() if k != "ACTION_ENDPOINT_URL"}
    env.update({"TRACKER_STORE_URL": tracker_store_url, "LOCK_STORE_TYPE": "redis",
                "REDIS_HOST": redis[0], "REDIS_PORT": str(redis[1]), "REDIS_DB": str(redis_db)})
    pairs = [Servers(model, free_port(), free_port(), env=dict(env), log_dir=state / f"server{i}",
                     own_session=True) for i in range(2)]
    nginx = None
    try:
        for pair in pairs:
            pair.start()
        for pair in pairs:
            pair.wait_ready(timeout=300)
        port = free_port()
        conf = state / "nginx.conf"
        conf.write_text(NGINX_CONF.format(state=state, a=pairs[0].rasa_port, b=pairs[1].rasa_port,
                                          port=port, balance=BALANCING[balance]))
        nginx = subprocess.Popen([str(NGINX), "-c", str(conf), "-p", str(state)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield {"port": port, "state": state, "servers": [p.rasa_port for p in pairs],
               "pids": [{"actions": p.processes[0].pid, "rasa": p.processes[1].pid} for p in pairs]}
    finally:
        if nginx is not None:
            nginx.terminate()
            nginx.wait(10)
        for pair in pairs:
            pair.stop()


def measure(model: Path, env: Mapping[str, str], admin_url: str, redis: Tuple[str, int], state: Path,
            questions: List[str], concurrency: int, turns: int, rounds: int,
            balance: str = "least_conn") -> Dict[str, Any]:
    """Programme questions at `concurrency` conversations through the production layout (on a
    fresh PostgreSQL database): latency, throughput, errors, the share each Rasa server took
    and each process's CPU per turn."""
    from bench.http import interleaved, load, post, public, wait_answering

    state.mkdir(parents=True, exist_ok=True)
    with fresh_database(admin_url, "bench_layout") as url, \
            production_layout(model, env, url, redis, state, balance=balance) as layout:
        rest = f"http://127.0.0.1:{layout['port']}/webhooks/rest/webhook"
        wait_answering(rest, 300)

        def programme(sender: str, i: int) -> Tuple[bool, float]:
            return post(rest, {"sender": sender, "message": questions[i % len(questions)]})

        load(programme, concurrency, 64)  # warm-up, as for one server
        pids = {f"{kind}_{n}": pid for n, pair in enumerate(layout["pids"]) for kind, pid in pair.items()}
        result = public(interleaved({"programme": programme}, concurrency, turns, rounds,
                                    {"programme": pids})["programme"])
        result["requests_per_server"] = sorted(requests_per_server(state / "nginx-access.log").values())
        return result


def requests_per_server(access_log: Path) -> Dict[str, int]:
    """Requests each Rasa server was sent, by nginx's access log (warm-up and readiness checks
    included; a request nginx retried on the other server counts for both)."""
    served: Dict[str, int] = {}
    for line in access_log.read_text().splitlines():
        upstreams = line.rsplit(" ", 1)[0] if " " in line else ""
        for address in filter(None, (a.strip() for a in upstreams.split(","))):
            served[address] = served.get(address, 0) + 1
    return served


def main(argv: List[str] | None = None) -> int:
    """`python -m bench.layout`: the production layout alone, once per way of balancing."""
    import argparse
    import json
    import tempfile

    from bench.http import demo_environment
    from bench.run import PG_ADMIN, PROGRAMME, REDIS, ROUNDS

    parser = argparse.ArgumentParser(description="programme turns through the production layout")
    parser.add_argument("--turns", type=int, default=800)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--model", type=Path, default=Path("models/assistant.tar.gz"))
    parser.add_argument("--balance", nargs="+", choices=sorted(BALANCING), default=["least_conn"])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-layout-") as tmp:
        out = Path(tmp)
        env = demo_environment(out, "bench-secret-of-thirty-two-bytes", "bench-action-token")
        for balance in args.balance:
            result = measure(args.model, env, PG_ADMIN, REDIS, out / balance, PROGRAMME,
                             args.concurrency, args.turns, ROUNDS, balance=balance)
            print(balance, json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
