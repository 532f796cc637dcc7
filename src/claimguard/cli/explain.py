"""``flask claimguard explain TOKEN``: why this app accepts or refuses a token.

It runs the validation a request gets (:func:`claimguard.explanation.explain`), prints
each check as passed, failed or skipped, then the first failure's reason code and its
fix, the roles, scopes and permissions the app reads from the token, and what each of
the app's routes would answer. A token refused only because of its age (the usual case
for a token pasted from a log) also shows what the routes would answer were it fresh.

The token comes as an argument or, with ``-``, from standard input (a leading
``Bearer`` is dropped). It is never printed back, nor is its signature or any key.
Exit status: 0 when the token is accepted, 1 when it is refused.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from datetime import timezone
from typing import Any

import click
from flask import Flask

from ..errors import ClaimGuardError
from ..errors import loggable
from ..explanation import FAILED
from ..explanation import PASSED
from ..explanation import Explanation
from ..explanation import explain
from ..reasons import REASONS
from ..token import VerifiedToken
from ..validation import TokenValidator
from .app import cli
from .app import guarded_app
from .routes import STATIC
from .routes import route_layers
from .routes import route_table

__all__ = ["route_answers"]

#: Claims shown in the summary, in this order, when the token has them.
_SHOWN_CLAIMS = ("iss", "sub", "aud", "azp", "client_id", "gty", "scope", "iat", "nbf", "exp")
_DATES = frozenset({"iat", "nbf", "exp"})
_MARKS = {PASSED: "ok  ", FAILED: "FAIL"}


def _plain(value: object, limit: int = 100) -> str:
    """An untrusted value for the terminal: escaped (no control characters), unquoted."""
    text = loggable(value, limit)
    cut = text.endswith("...")
    inner = text[1:-4] if cut else text[1:-1]
    return inner + ("..." if cut else "")


def _read_token(token: str) -> str:
    if token == "-":
        token = sys.stdin.read(64 * 1024)
    token = token.strip()
    scheme, _, rest = token.partition(" ")
    if scheme.lower() == "bearer" and rest:
        token = rest.strip()
    return token


def _route_answer(
    app: Flask, validator: TokenValidator, endpoint: str, token: VerifiedToken | None
) -> str:
    """What a request to ``endpoint`` would get with ``token`` (``None``: refused)."""
    layers = route_layers(app, endpoint)
    if not layers:
        return "pass (public)"
    if token is None:
        return "refuse"
    for requirements, _, _ in layers:
        for requirement in requirements:
            try:
                requirement.check(token, validator.rules)
            except ClaimGuardError as error:
                return f"refuse {error.reason} ({REASONS[error.reason].status})"
    return "pass"


def route_answers(
    app: Flask, validator: TokenValidator, explanation: Explanation
) -> list[dict[str, Any]]:
    """Each route of ``app`` with what it would answer to the explained token, and, when
    the token is refused only for its age, what it would answer were the token fresh."""
    refusal = None
    if explanation.error is not None:
        reason = explanation.error.reason
        refusal = f"refuse {reason} ({REASONS[reason].status})"
    answers = []
    for route in route_table(app):
        if route.requirement == STATIC:
            continue
        now = _route_answer(
            app, validator, route.endpoint, explanation.token if refusal is None else None
        )
        if now == "refuse" and refusal is not None:
            now = refusal
        entry: dict[str, Any] = {
            "rule": route.rule,
            "methods": list(route.methods),
            "requirement": route.requirement,
            "answer": now,
        }
        if refusal is not None and explanation.refused_only_for_time:
            entry["answer_if_fresh"] = _route_answer(
                app, validator, route.endpoint, explanation.token
            )
        answers.append(entry)
    return answers


def _shown(name: str, value: Any) -> str:
    if name in _DATES and isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            when = datetime.fromtimestamp(value, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return _plain(value)
        return f"{when:%Y-%m-%d %H:%M:%S} UTC ({value})"
    if isinstance(value, list):
        return ", ".join(_plain(item) for item in value[:10])
    return _plain(value)


def _as_json(explanation: Explanation, answers: list[dict[str, Any]]) -> dict[str, Any]:
    token = explanation.token
    return {
        "accepted": explanation.accepted,
        "reason": explanation.reason,
        "status": None if explanation.reason is None else REASONS[explanation.reason].status,
        "fix": explanation.fix,
        "steps": [
            {
                "check": step.name,
                "status": step.status,
                "detail": step.detail,
                "reason": step.reason,
            }
            for step in explanation.steps
        ],
        "header": {
            name: explanation.header[name]
            for name in ("alg", "kid", "typ")
            if explanation.header is not None and name in explanation.header
        },
        "claims": {
            name: explanation.claims[name]
            for name in _SHOWN_CLAIMS
            if explanation.claims is not None and name in explanation.claims
        },
        "roles": None if token is None else sorted(token.roles),
        "scopes": None if token is None else sorted(token.scopes),
        "permissions": None if token is None else sorted(token.permissions),
        "hints": list(explanation.hints),
        "routes": answers,
    }


def _print_text(
    explanation: Explanation, validator: TokenValidator, answers: list[dict[str, Any]]
) -> None:
    echo = click.echo
    if explanation.header is not None and explanation.claims is not None:
        echo("Token (as sent; trusted only if accepted)")
        for name in ("alg", "kid", "typ"):
            if name in explanation.header:
                echo(f"  {name:<10} {_plain(explanation.header[name])}")
        for name in _SHOWN_CLAIMS:
            if name in explanation.claims:
                echo(f"  {name:<10} {_shown(name, explanation.claims[name])}")
        echo("")
    echo("Checks, in the order a request runs them")
    width = max(len(step.name) for step in explanation.steps)
    for step in explanation.steps:
        mark = _MARKS.get(step.status, "-   ")
        reason = f"  [{step.reason}]" if step.reason else ""
        echo(f"  {mark}  {step.name:<{width}}  {step.detail}{reason}")
    echo("")
    if explanation.error is None:
        echo("Verdict: accepted")
    else:
        reason = explanation.error.reason
        echo(f"Verdict: refused, {reason} ({REASONS[reason].status})")
        echo(f"  the client is told: {REASONS[reason].sentence}")
        echo(f"  fix: {explanation.fix}")
    token = explanation.token
    if token is not None:
        echo("")
        source = "" if explanation.accepted else " (from the unverified token)"
        echo(f"What this app reads{source}")
        claims = ", ".join(validator.rules.roles_claims) or "no roles claim configured"
        for label, values, where in (
            ("roles", token.roles, claims),
            ("scopes", token.scopes, "scope"),
            ("permissions", token.permissions, "permissions"),
        ):
            shown = ", ".join(_plain(value) for value in sorted(values)[:30]) or "(none)"
            echo(f"  {label:<12} {shown}   <- {where}")
    for hint in explanation.hints:
        echo(f"  hint: {hint}")
    if answers:
        echo("")
        fresh = any("answer_if_fresh" in entry for entry in answers)
        echo("Routes" + (" (now, and were the token fresh)" if fresh else ""))
        rule_width = max(len(entry["rule"]) for entry in answers)
        method_width = max(len(",".join(entry["methods"])) for entry in answers)
        answer_width = max(len(entry["answer"]) for entry in answers)
        for entry in answers:
            methods = ",".join(entry["methods"])
            line = f"  {entry['rule']:<{rule_width}}  {methods:<{method_width}}  "
            line += f"{entry['answer']:<{answer_width}}"
            if fresh:
                line += f"  | fresh: {entry['answer_if_fresh']}"
            echo(line.rstrip())


@cli.command("explain")
@click.argument("token")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def explain_command(token: str, as_json: bool) -> None:
    """Explain why this app accepts or refuses TOKEN ('-' reads it from stdin)."""
    app, state = guarded_app()
    raw = _read_token(token)
    if not raw:
        raise click.ClickException("no token given: pass it as an argument, or '-' and stdin")
    explanation = explain(state.validator, raw)
    answers = route_answers(app, state.validator, explanation)
    if as_json:
        click.echo(json.dumps(_as_json(explanation, answers), indent=2, default=str))
    else:
        _print_text(explanation, state.validator, answers)
    if not explanation.accepted:
        sys.exit(1)
