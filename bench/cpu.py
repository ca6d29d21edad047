"""CPU time each server process spends per turn, read from /proc around a run of turns, and
the servers' memory before and after the run.

`python -m bench.cpu [--turns N] [--concurrency C]` serves the trained model (models/) on
embedded defaults and prints, for programme, greeting and tier-status turns, latency and the
milliseconds of CPU the Rasa process and the action server used per turn: a quick check of
one change. `make bench` reports the same figures beside stock Rasa's.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command's closing parenthesis, utime and stime are the 12th and 13th fields.
    return (int(fields[11]) + int(fields[12])) / TICKS


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--turns", type=int, default=800)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--model", type=Path, default=Path("models/assistant.tar.gz"))
    parser.add_argument("--growth", type=int, default=0, metavar="TURNS",
                        help="also time turn 1, 100 and TURNS (at least 20) of three conversations of "
                             "TURNS turns")
    parser.add_argument("--kinds", nargs="+", choices=("programme", "greeting", "tier_status"),
                        help="only these kinds of turn (all three by default)")
    args = parser.parse_args(argv)
    from bench.http import GROWTH_WINDOW
    if 0 < args.growth < 2 * GROWTH_WINDOW:
        parser.error(f"--growth: a conversation needs at least {2 * GROWTH_WINDOW} turns "
                     f"(its first {GROWTH_WINDOW} and last {GROWTH_WINDOW})")

    import datetime as dt
    import tempfile

    from bench.http import demo_environment, growth, interleaved, load, post, public, rss_mib, wait_answering
    from bench.run import GREETING, PROGRAMME, TIER
    from bot.serve import Servers, free_port
    from core.identity import issue_token

    secret = "bench-secret-of-thirty-two-bytes"
    with tempfile.TemporaryDirectory(prefix="bench-cpu-") as tmp:
        out = Path(tmp)
        env = demo_environment(out, secret, "bench-action-token")
        servers = Servers(args.model, free_port(), free_port(), env=env, log_dir=out / "logs",
                          own_session=True).start()
        try:
            rest = f"http://127.0.0.1:{servers.rasa_port}/webhooks/rest/webhook"
            desk = f"http://127.0.0.1:{servers.rasa_port}/webhooks/merchant/webhook"
            wait_answering(rest, 300)
            action_pid, rasa_pid = (p.pid for p in servers.processes)
            memory = {"rasa": [rss_mib(rasa_pid)], "actions": [rss_mib(action_pid)]}

            def agent(sender: str) -> dict:
                token = issue_token(secret, f"agent-{sender}", "agent", dt.timedelta(hours=2))
                return {"Authorization": f"Bearer {token}"}

            kinds = {
                "programme": lambda s, i: post(rest, {"sender": s, "message": PROGRAMME[i % len(PROGRAMME)]}),
                "greeting": lambda s, i: post(rest, {"sender": s, "message": GREETING}),
                "tier_status": lambda s, i: post(desk, {"message": TIER}, agent(s)),
            }
            load(kinds["programme"], args.concurrency, 64)  # warm-up
            pids = {"rasa": rasa_pid, "actions": action_pid}
            programme = kinds["programme"]
            if args.kinds:
                kinds = {name: kinds[name] for name in args.kinds}
            results = interleaved(kinds, args.concurrency, args.turns, 2, {name: pids for name in kinds})
            for name, result in results.items():
                print(name, {k: v for k, v in public(result).items() if k != "concurrency"}, flush=True)
            memory["rasa"].append(rss_mib(rasa_pid))
            memory["actions"].append(rss_mib(action_pid))
            print("memory MiB, after the first answer -> after these turns",
                  {name: f"{start} -> {end} ({(end / start - 1) * 100:+.1f}%)"
                   for name, (start, end) in memory.items()}, flush=True)
            if args.growth:
                print("growth", growth(programme, turns=args.growth), flush=True)
        finally:
            servers.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
