"""``flask claimguard doctor``: is this app's claimguard set-up healthy, end to end?

The checks live in :mod:`claimguard.diagnosis` (Flask-free); this module only loads the
app's settings, runs them and renders the result, as text or as one JSON document.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import click

from ..diagnosis import Check
from ..diagnosis import Diagnosis
from ..diagnosis import IssuerReport
from ..diagnosis import KeyReport
from ..diagnosis import diagnose
from ..diagnosis import settings_summary
from .app import cli
from .app import guarded_app

__all__ = ["render_text"]

#: How each status is labelled in the text report, padded to one width.
LABELS = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "-"
    return str(value)


def _check_line(check: Check) -> str:
    return f"  {LABELS[check.status]}  {check.name:<11} {check.message}"


def _key_line(key: KeyReport) -> str:
    members = "  ".join(
        f"{name}={_value(value)}"
        for name, value in (("kid", key.kid), ("kty", key.kty), ("alg", key.alg), ("use", key.use))
    )
    verdict = f"usable ({', '.join(key.algorithms)})" if key.usable else f"skipped: {key.reason}"
    return f"        key #{key.index}  {members}  {verdict}"


def _issuer_lines(report: IssuerReport) -> Iterator[str]:
    yield f"issuer {report.issuer}"
    for check in report.checks:
        yield _check_line(check)
        if check.name == "jwks":  # the keys belong under the fetch that brought them
            yield from (_key_line(key) for key in report.keys)


def render_text(diagnosis: Diagnosis) -> Iterator[str]:
    """The report as lines: the settings, the roles claims, each issuer, a summary."""
    yield "settings"
    summary = settings_summary(diagnosis.settings)
    width = max(len(name) for name in summary)
    for name, value in summary.items():
        yield f"  {name:<{width}}  {_value(value)}"
    yield "roles claims"
    yield from (_check_line(check) for check in diagnosis.checks)
    for report in diagnosis.issuers:
        yield from _issuer_lines(report)
    counts = diagnosis.counts()
    verdict = "healthy" if diagnosis.healthy else "FAILED"
    yield (
        f"doctor: {verdict}: {counts['ok']} ok, {counts['warn']} warning(s), "
        f"{counts['fail']} failure(s)"
    )


@cli.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def doctor_command(as_json: bool) -> None:
    """Check the claimguard set-up end to end: settings, discovery, keys, clocks.

    For each configured issuer, fetches the discovery document (unless a JWKS URL is
    configured) and the JWK Set afresh, timed, without touching the app's key caches;
    lists every key with the reason the runtime skips it, if it does; compares the
    issuer's clock (its HTTP Date header) with ours against CLAIMGUARD_LEEWAY; and checks
    that each roles claim is a namespaced URI. Exits 1 when a check fails (warnings
    alone exit 0).

    \b
    --json prints one document with these keys:
      healthy   true when no check failed
      settings  every setting by name (issuers, audiences, jwks_url, algorithms,
                roles_claims, leeway, http_timeout, strict_typ, scope_claim, ...)
      checks    the settings' own checks: [{check, status, message}]
      issuers   [{issuer, discovery_url, jwks_url, jwks_seconds,
                  clock_skew_seconds, checks: [{check, status, message}],
                  keys: [{index, kid, kty, alg, use, usable, algorithms, reason}]}]
      summary   {ok, warn, fail}: how many checks ended each way
    status is "ok", "warn" or "fail"; check is "roles-claim", "discovery", "jwks",
    "keys" or "clock". clock_skew_seconds is how far the issuer's clock is ahead of
    ours (negative: behind), null when not measured.
    """
    _, state = guarded_app()
    diagnosis = diagnose(state.settings, key_sets=state.validator.issuers)
    if as_json:
        click.echo(json.dumps(diagnosis.as_dict(), indent=2))
    else:
        for line in render_text(diagnosis):
            click.echo(line)
    if not diagnosis.healthy:
        raise click.exceptions.Exit(1)
