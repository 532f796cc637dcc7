"""Throughput and per-call benchmark: claimguard against the no-auth ceiling and peers.

``make bench`` (or ``.venv/bin/python -m bench.run``). Everything runs on 127.0.0.1:
a ForgedIssuer serves the keys, each app runs under gunicorn with one sync worker
(as in the figures of the field survey), and wrk loads it with 32 connections. Rounds
interleave the variants so every ratio compares runs taken minutes apart, at most, on
the same noisy machine. Every run is bounded by ``--duration``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import requests

from claimguard.testing import ForgedIssuer
from claimguard.testing import ForgedKey

ROOT = Path(__file__).resolve().parent.parent
ROLES = "https://my-app.example.com/roles"
AUDIENCE = "https://products.example.com"
PORT = 18321
LUA_ONE = """
local token = io.open("{tokens}"):read("*l")
wrk.headers["Authorization"] = "Bearer " .. token
"""
LUA_MANY = """
local tokens = {{}}
for line in io.lines("{tokens}") do tokens[#tokens + 1] = line end
local i = math.random(#tokens)
request = function()
  i = i % #tokens + 1
  return wrk.format("GET", "/products", {{["Authorization"] = "Bearer " .. tokens[i]}})
end
"""


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk (Debian package)…", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True)  # noqa: S607
        found = shutil.which("wrk")
    if not found:
        sys.exit("wrk is needed: apt-get install wrk")
    return found


def _mint_batch(args: tuple[dict[str, Any], int, int]) -> list[str]:
    """Mint ``count`` distinct tokens with a pickled key (runs in a worker process)."""
    state, start, count = args
    issuer_url, kid, pem = state["issuer"], state["kid"], state["pem"]
    from cryptography.hazmat.primitives import serialization

    from claimguard.keys import algorithm

    key = serialization.load_pem_private_key(pem, password=None)
    now = int(time.time())
    rs256 = algorithm("RS256")
    from claimguard.testing.issuer import b64url

    header = b64url(json.dumps({"alg": "RS256", "typ": "at+jwt", "kid": kid}).encode())
    tokens = []
    for n in range(start, start + count):
        payload = {
            "iss": issuer_url,
            "sub": f"auth0|user{n}",
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + 7200,
            "client_id": "bench-client",
            "jti": f"jti-{n}",
            ROLES: ["viewer"],
        }
        signing_input = f"{header}.{b64url(json.dumps(payload).encode())}"
        signature = rs256.sign(signing_input.encode(), key)
        tokens.append(f"{signing_input}.{b64url(signature)}")
    return tokens


def mint_tokens(issuer: ForgedIssuer, count: int) -> list[str]:
    from cryptography.hazmat.primitives import serialization

    key: ForgedKey = issuer.current_key
    pem = key.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    state = {"issuer": issuer.issuer, "kid": key.kid, "pem": pem}
    batches = [(state, start, 1000) for start in range(0, count, 1000)]
    with ProcessPoolExecutor() as pool:
        return [token for batch in pool.map(_mint_batch, batches) for token in batch]


class App:
    def __init__(
        self, kind: str, issuer: ForgedIssuer, extra_env: dict[str, str], workers: int = 1
    ) -> None:
        env = {
            **os.environ,
            "BENCH_KIND": kind,
            "BENCH_ISSUER": issuer.issuer,
            "BENCH_AUDIENCE": AUDIENCE,
            "BENCH_JWKS_URL": issuer.jwks_url,
            "BENCH_ROLES_CLAIM": ROLES,
            **extra_env,
        }
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            f"--workers={workers}",
            "--worker-class=sync",
            f"--bind=127.0.0.1:{PORT}",
            "--log-level=warning",
            "--backlog=2048",
            "--no-control-socket",
            "bench.apps:create_app()",
        ]
        self.process = subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                requests.get(f"http://127.0.0.1:{PORT}/products", timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{kind} did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=15)


def run_wrk(wrk: str, script: str, duration: float, connections: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        output = subprocess.run(  # noqa: S603
            [
                wrk,
                f"-c{connections}",
                "-t2",
                f"-d{int(duration)}s",
                "--latency",
                "-s",
                handle.name,
                f"http://127.0.0.1:{PORT}/products",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=duration + 30,
        ).stdout
    finally:
        os.unlink(handle.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": rps,
        "p50": _latency(output, "50%"),
        "p99": _latency(output, "99%"),
        "errors": float(non2xx.group(1)) if non2xx else 0.0,
    }


def _latency(output: str, percentile: str) -> float:
    match = re.search(rf"{re.escape(percentile)}\s+([\d.]+)(us|ms|s)", output)
    if not match:
        return float("nan")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
    return float(match.group(1)) * scale


VARIANTS = [
    # name, app kind, token mode, gunicorn workers
    ("no auth, repeated token", "noauth", "one", 1),
    ("claimguard, repeated token", "claimguard", "one", 1),
    ("quickstart, repeated token", "quickstart", "one", 1),
    ("authlib, repeated token", "authlib", "one", 1),
    # The distinct-token runs drive wrk through a Lua request() function, which costs
    # the load generator CPU on this 2-core machine: their ceiling is measured the same way.
    ("no auth, distinct tokens", "noauth", "many", 1),
    ("claimguard, distinct tokens", "claimguard", "many", 1),
    ("quickstart, distinct tokens", "quickstart", "many", 1),
    ("authlib, distinct tokens", "authlib", "many", 1),
]
#: With ``--workers 2``: one worker per core, claimguard against no auth only.
TWO_WORKERS = [
    ("no auth, repeated token, 2 workers", "noauth", "one", 2),
    ("claimguard, repeated token, 2 workers", "claimguard", "one", 2),
    ("no auth, distinct tokens, 2 workers", "noauth", "many", 2),
    ("claimguard, distinct tokens, 2 workers", "claimguard", "many", 2),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=20000, help="distinct tokens minted")
    parser.add_argument("--skip-micro", action="store_true")
    parser.add_argument(
        "--save",
        metavar="PATH",
        help="also write the results as JSON to PATH (what bench.chart draws), "
        "e.g. bench/results/latest.json",
    )
    parser.add_argument(
        "--apps",
        default="noauth,claimguard,quickstart,authlib",
        help="comma-separated app kinds to run (noauth is always kept: it is the baseline)",
    )
    parser.add_argument(
        "--workers",
        default="1,2",
        help="gunicorn worker counts: 1 runs every app; 2 adds no auth and claimguard "
        "with two workers (one per core on a 2-core machine)",
    )
    args = parser.parse_args()
    wrk = ensure_wrk()
    worker_counts = {int(count) for count in args.workers.split(",")}

    with (
        ForgedIssuer(audience=AUDIENCE, roles_claim=ROLES) as issuer,
        tempfile.TemporaryDirectory() as tmp,
    ):
        print(f"minting {args.tokens} distinct RS256 tokens…", flush=True)
        tokens = mint_tokens(issuer, args.tokens)
        many = Path(tmp) / "many.txt"
        many.write_text("\n".join(tokens) + "\n")
        one = Path(tmp) / "one.txt"
        one.write_text(tokens[0] + "\n")
        scripts = {
            "one": LUA_ONE.format(tokens=one),
            "many": LUA_MANY.format(tokens=many),
        }
        kinds = {*args.apps.split(","), "noauth"}
        variants = [
            variant
            for variant in VARIANTS * (1 in worker_counts) + TWO_WORKERS * (2 in worker_counts)
            if variant[1] in kinds
        ]
        results: dict[str, list[dict[str, float]]] = {name: [] for name, _, _, _ in variants}
        for round_number in range(1, args.rounds + 1):
            for name, kind, mode, workers in variants:
                app = App(kind, issuer, {}, workers)
                try:
                    run_wrk(wrk, scripts[mode], 2, args.connections)  # warm-up
                    result = run_wrk(wrk, scripts[mode], args.duration, args.connections)
                finally:
                    app.stop()
                results[name].append(result)
                print(
                    f"round {round_number} {name:40s} {result['rps']:8.0f} req/s "
                    f"p50 {result['p50']:6.2f} ms p99 {result['p99']:6.2f} ms "
                    f"non-2xx {result['errors']:.0f}",
                    flush=True,
                )
        report(results, args.rounds)
        if args.save:
            save(Path(args.save), results, args.rounds, args.duration)
    if not args.skip_micro:
        from bench import micro

        micro.main()


def report(results: dict[str, list[dict[str, float]]], rounds: int) -> None:
    print(
        "\n| variant | req/s (median) | spread across rounds | p50 ms | p99 ms | x no auth "
        "| x no auth, range | µs per request over no auth |"
    )
    print("|---|---|---|---|---|---|---|---|")
    ratios: dict[str, float] = {}
    for name, runs in results.items():
        mode = name.split(", ", 1)[1]
        ceiling = [run["rps"] for run in results[f"no auth, {mode}"]]
        rps = [run["rps"] for run in runs]
        per_round = [value / base for value, base in zip(rps, ceiling, strict=True)]
        ratios[name] = statistics.median(per_round)
        spread = (max(rps) - min(rps)) / statistics.median(rps) * 100
        # The worker is the bottleneck: 1/throughput is its time per request (with two
        # workers, per request per worker pair).
        extra = statistics.median(
            1e6 / value - 1e6 / base for value, base in zip(rps, ceiling, strict=True)
        )
        print(
            f"| {name} | {statistics.median(rps):.0f} | ±{spread / 2:.1f}% | "
            f"{statistics.median(run['p50'] for run in runs):.2f} | "
            f"{statistics.median(run['p99'] for run in runs):.2f} | {ratios[name]:.2f} | "
            f"{min(per_round):.2f}-{max(per_round):.2f} | {extra:+.0f} |"
        )
    for mode in ("repeated token", "distinct tokens"):
        if f"quickstart, {mode}" not in ratios or f"authlib, {mode}" not in ratios:
            continue
        ours = ratios[f"claimguard, {mode}"]
        print(
            f"\n{mode}: claimguard {ours:.2f}x no auth "
            f"({_range(results, f'claimguard, {mode}')}), "
            f"{ours / ratios[f'quickstart, {mode}']:.2f}x the quickstart pattern "
            f"({_range(results, f'claimguard, {mode}', f'quickstart, {mode}')}), "
            f"{ours / ratios[f'authlib, {mode}']:.2f}x Authlib "
            f"({_range(results, f'claimguard, {mode}', f'authlib, {mode}')}) "
            f"(medians of {rounds} per-round ratios, range across rounds)"
        )
    for mode in ("repeated token", "distinct tokens"):
        two = f"claimguard, {mode}, 2 workers"
        if two not in ratios:
            continue
        print(
            f"\n{mode}, 2 workers: claimguard {ratios[two]:.2f}x no auth ({_range(results, two)})"
        )
        for kind in ("no auth", "claimguard"):
            if f"{kind}, {mode}" in results:
                scaling = _median_ratio(results, f"{kind}, {mode}, 2 workers", f"{kind}, {mode}")
                print(f"  {kind}: 2 workers serve {scaling:.2f}x the requests of 1")


def summarize(results: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Per variant: the median req/s and the median, lowest and highest per-round ratio
    to the no-auth run of the same traffic shape and worker count."""
    summary = {}
    for name, runs in results.items():
        mode = name.split(", ", 1)[1]
        per_round = _per_round(results, name, f"no auth, {mode}")
        summary[name] = {
            "rps": round(statistics.median(run["rps"] for run in runs), 1),
            "ratio": round(statistics.median(per_round), 3),
            "low": round(min(per_round), 3),
            "high": round(max(per_round), 3),
        }
    return summary


def save(
    path: Path, results: dict[str, list[dict[str, float]]], rounds: int, duration: float
) -> None:
    """Write the results as JSON: the summary ``bench.chart`` draws, and every run."""
    document = {
        "measured": time.strftime("%Y-%m-%d"),
        "command": f"bench.run --rounds {rounds} --duration {duration:g}",
        "variants": summarize(results),
        "runs": results,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"\nresults saved to {path} (draw them: python -m bench.chart {path} OUT.svg)")


def _per_round(results: dict[str, list[dict[str, float]]], name: str, base: str) -> list[float]:
    return [
        run["rps"] / other["rps"] for run, other in zip(results[name], results[base], strict=True)
    ]


def _median_ratio(results: dict[str, list[dict[str, float]]], name: str, base: str) -> float:
    return statistics.median(_per_round(results, name, base))


def _range(results: dict[str, list[dict[str, float]]], name: str, peer: str | None = None) -> str:
    """The lowest and highest per-round ratio of ``name`` to no auth, or to ``peer``."""
    mode = name.split(", ", 1)[1]
    values = _per_round(results, name, f"no auth, {mode}")
    if peer is not None:
        values = [
            ours / theirs
            for ours, theirs in zip(
                values, _per_round(results, peer, f"no auth, {mode}"), strict=True
            )
        ]
    return f"{min(values):.2f}-{max(values):.2f}"


if __name__ == "__main__":
    main()
