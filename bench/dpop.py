"""What DPoP costs a request: ``.venv/bin/python -m bench.dpop``.

The request check that ``@requires_role`` runs (``verify_current_request``, in a
request context whose own set-up is timed alone and taken off), for one repeated access
token:

* sent as ``Bearer`` with DPoP off: the baseline;
* sent as ``Bearer`` where DPoP is ``allowed``;
* sent as ``DPoP`` with a new proof per request, signed ES256 or EdDSA, checked down to
  the replay store (in memory here; a Redis store adds one round trip).

Proofs are made before the timing (each with its own ``jti``, as a client sends them),
so only the server's side is measured. The last two lines time whole requests through
the app (the Flask test client: WSGI, routing, the view and its JSON answer), Bearer
against DPoP. The access token's own verification is cached in
every case, as it is for repeated calls: what DPoP adds is the proof. Figures are the
best of several repeats, in microseconds, and ratios against the baseline of the same
run.
"""

from __future__ import annotations

import timeit
from collections.abc import Callable
from typing import Any

from flask import Flask

from claimguard import ClaimGuard
from claimguard import requires_role
from claimguard.request_check import verify_current_request
from claimguard.requirements import Requirement
from claimguard.testing import DPoPKey
from claimguard.testing import ForgedIssuer
from claimguard.testing import make_proof

ROLES = "https://my-app.example.com/roles"
URL = "http://api.example.test/products"
CALLS = 2000
REPEATS = 5


def _app(issuer: ForgedIssuer, mode: str) -> Flask:
    app = Flask(__name__)
    issuer.configure(app)
    app.config["CLAIMGUARD_DPOP_MODE"] = mode
    ClaimGuard(app)

    @app.get("/products")
    @requires_role("viewer")
    def products() -> dict[str, list[str]]:
        return {"items": []}

    return app


def _per_call(run: Callable[[int], None]) -> float:
    """Microseconds per call: the best of ``REPEATS`` runs of ``CALLS`` calls."""
    timings = []
    for repeat in range(REPEATS):
        start = timeit.default_timer()
        run(repeat)
        timings.append(timeit.default_timer() - start)
    return min(timings) / CALLS * 1e6


def measure() -> dict[str, float]:
    requirement = (Requirement("roles", ("viewer",)),)
    with ForgedIssuer(roles_claim=ROLES) as issuer:
        bearer_token = issuer.mint(roles=["viewer"])
        off, allowed = _app(issuer, "off"), _app(issuer, "allowed")

        def bearer(app: Flask) -> Callable[[int], None]:
            headers = {"Authorization": f"Bearer {bearer_token}", "Host": "api.example.test"}

            def run(_: int) -> None:
                for _ in range(CALLS):
                    with app.test_request_context("/products", headers=headers):
                        verify_current_request(requirement)

            return run

        def context_only(_: int) -> None:
            headers = {"Authorization": f"Bearer {bearer_token}", "Host": "api.example.test"}
            for _ in range(CALLS):
                with off.test_request_context("/products", headers=headers):
                    pass

        def dpop(alg: str) -> Callable[[int], None]:
            key = DPoPKey.generate(alg)
            token = issuer.mint(roles=["viewer"], dpop_key=key)
            batches: list[list[dict[str, Any]]] = [
                [
                    {
                        "Authorization": f"DPoP {token}",
                        "DPoP": make_proof(key, "GET", URL, access_token=token),
                        "Host": "api.example.test",
                    }
                    for _ in range(CALLS)
                ]
                for _ in range(REPEATS)
            ]

            def run(repeat: int) -> None:
                for headers in batches[repeat]:
                    with allowed.test_request_context("/products", headers=headers):
                        verify_current_request(requirement)

            return run

        def full(app: Flask, alg: str | None) -> Callable[[int], None]:
            """Whole requests through the app (WSGI, routing, the view, JSON)."""
            client = app.test_client()
            if alg is None:
                batches = [
                    [{"Authorization": f"Bearer {bearer_token}"}] * CALLS for _ in range(REPEATS)
                ]
            else:
                key = DPoPKey.generate(alg)
                token = issuer.mint(roles=["viewer"], dpop_key=key)
                url = "http://localhost/products"  # the test client's Host
                batches = [
                    [
                        {
                            "Authorization": f"DPoP {token}",
                            "DPoP": make_proof(key, "GET", url, access_token=token),
                        }
                        for _ in range(CALLS)
                    ]
                    for _ in range(REPEATS)
                ]

            def run(repeat: int) -> None:
                for headers in batches[repeat]:
                    if client.get("/products", headers=headers).status_code != 200:
                        raise AssertionError("the benchmark request was refused")

            return run

        # Warm every path (key fetch, token cache) before timing.
        for warm in (bearer(off), bearer(allowed)):
            warm(0)
        context = _per_call(context_only)
        figures = {
            "Bearer, DPoP off": _per_call(bearer(off)) - context,
            "Bearer, DPoP allowed": _per_call(bearer(allowed)) - context,
        }
        for alg in ("ES256", "EdDSA"):
            run = dpop(alg)
            figures[f"DPoP proof {alg}"] = _per_call(run) - context
        full(off, None)(0)
        figures["whole request, Bearer"] = _per_call(full(off, None))
        figures["whole request, DPoP ES256"] = _per_call(full(allowed, "ES256"))
    return figures


def main() -> None:
    figures = measure()
    print("\n| repeated token | µs | x Bearer |")
    print("|---|---|---|")
    for name, micros in figures.items():
        base = figures["whole request, Bearer" if "whole" in name else "Bearer, DPoP off"]
        print(f"| {name} | {micros:.1f} | {micros / base:.2f} |")


if __name__ == "__main__":
    main()
