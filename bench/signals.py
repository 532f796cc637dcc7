"""What the audit signals cost: ``.venv/bin/python -m bench.signals``.

One protected request is checked in a request context (``verify_current_request``,
what ``@requires_role`` runs), repeated with the same token:

* with no receiver connected, the path every app takes unless it audits;
* with one receiver connected to each signal (a receiver that does nothing, so the
  figure is the cost of sending);
* and the guard alone: the two ``if signal.receivers`` tests the request path makes
  when no one listens, which is all that the signals add to it.

Figures are best-of-repeats microseconds, and ratios against the no-receiver request of
the same run.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from bench.micro import best
from claimguard import ClaimGuard
from claimguard.request_check import verify_current_request
from claimguard.requirements import Requirement
from claimguard.signals import request_authorized
from claimguard.signals import request_refused
from claimguard.testing import ForgedIssuer

ROLES = "https://my-app.example.com/roles"


def measure() -> dict[str, float]:
    with ForgedIssuer(roles_claim=ROLES) as issuer:
        app = Flask(__name__)
        issuer.configure(app)
        ClaimGuard(app)
        token = issuer.mint(roles=["viewer"])
        requirement = (Requirement("roles", ("viewer",)),)
        headers = {"Authorization": f"Bearer {token}"}

        def check() -> None:
            with app.test_request_context("/", headers=headers):
                verify_current_request(requirement)

        def context_only() -> None:
            with app.test_request_context("/", headers=headers):
                pass

        def guard() -> None:
            if request_authorized.receivers:
                raise AssertionError("no receiver expected")
            if request_refused.receivers:
                raise AssertionError("no receiver expected")

        check()
        context = best(context_only, 5000)
        quiet = best(check, 5000) - context
        guards = best(guard, 200000)

        def receiver(sender: Any, **kwargs: Any) -> None:
            return None

        request_authorized.connect(receiver, app)
        request_refused.connect(receiver, app)
        try:
            heard = best(check, 5000) - context
        finally:
            request_authorized.disconnect(receiver, app)
            request_refused.disconnect(receiver, app)
    return {"no receiver": quiet, "one receiver": heard, "guard alone": guards}


def main() -> None:
    figures = measure()
    base = figures["no receiver"]
    print("\n| request check (request context set-up taken off) | µs | x no receiver |")
    print("|---|---|---|")
    for name, micros in figures.items():
        print(f"| {name} | {micros:.3f} | {micros / base:.3f} |")


if __name__ == "__main__":
    main()
