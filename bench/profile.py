"""Where a protected request spends its time: ``.venv/bin/python -m bench.profile``.

Runs the benchmark's claimguard app in-process (WSGI calls, no server, no network
besides one JWKS fetch on loopback) under pyinstrument, for a repeated token and for
distinct tokens, and prints the call tree of the request path. It also prints the
per-request cost of the same endpoint without claimguard, measured the same way.
"""

from __future__ import annotations

import argparse
import os
import timeit
from collections.abc import Callable

from werkzeug.test import EnvironBuilder

from claimguard.testing import ForgedIssuer

ROLES = "https://my-app.example.com/roles"
AUDIENCE = "https://products.example.com"


def requester(kind: str, tokens: list[str]) -> Callable[[], None]:
    from bench import apps

    os.environ["BENCH_KIND"] = kind
    app = apps.create_app()
    environs = [
        EnvironBuilder(path="/products", headers={"Authorization": f"Bearer {token}"}).get_environ()
        for token in tokens
    ]
    position = iter(range(10**9))

    def start_response(*args: object) -> None:
        pass

    def request() -> None:
        environ = dict(environs[next(position) % len(environs)])
        for _ in app.wsgi_app(environ, start_response):
            pass

    request()
    return request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    from pyinstrument import Profiler

    with ForgedIssuer(audience=AUDIENCE, roles_claim=ROLES) as issuer:
        os.environ.update(
            BENCH_ISSUER=issuer.issuer,
            BENCH_AUDIENCE=AUDIENCE,
            BENCH_JWKS_URL=issuer.jwks_url,
            BENCH_ROLES_CLAIM=ROLES,
            BENCH_CACHE_SIZE="1000",
        )
        one = [issuer.mint(roles=["viewer"])]
        many = [issuer.mint(roles=["viewer"], sub=f"user{n}") for n in range(3000)]
        for label, tokens in (("repeated token", one), ("distinct tokens", many)):
            costs = {}
            for kind in ("noauth", "claimguard"):
                call = requester(kind, tokens)
                costs[kind] = min(timeit.repeat(call, number=2000, repeat=5)) / 2000 * 1e6
            extra = costs["claimguard"] - costs["noauth"]
            print(
                f"\n{label}: {costs['noauth']:.1f} us per request without claimguard, "
                f"{costs['claimguard']:.1f} us with it (+{extra:.1f})"
            )
            call = requester("claimguard", tokens)
            profiler = Profiler(interval=0.0001)
            profiler.start()
            for _ in range(args.requests):
                call()
            profiler.stop()
            print(profiler.output_text(unicode=True, color=False, show_all=False))


if __name__ == "__main__":
    main()
