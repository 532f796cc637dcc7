"""Checking a claimguard set-up end to end, for ``flask claimguard doctor``.

Flask-free: every function takes :class:`~claimguard.settings.Settings` (and issuer
URLs) and returns frozen dataclasses; :mod:`claimguard.cli.doctor` only renders them.

What is checked, per configured issuer:

* **Discovery** (when no JWKS URL is configured): the OpenID Connect discovery document
  is fetched, its ``issuer`` must equal the configured one (OpenID Connect Discovery 1.0
  §4.3) and its ``jwks_uri`` must pass the same check the runtime applies
  (:func:`~claimguard.discovery.check_discovered_jwks_uri`).
* **The JWK Set**, fetched for real and timed, through the same hardened fetch as the
  runtime (:func:`~claimguard.fetching.get_json`: one deadline, a size cap, no
  redirects). Each key is listed with why the runtime would skip it, in the runtime's
  own words: the keys are imported by :mod:`claimguard.keys`, not parsed a second time.
* **The issuer's clock**, read from the HTTP ``Date`` header of its answers (RFC 9110
  §6.6.1) and compared with ours: a skew beyond ``CLAIMGUARD_LEEWAY`` makes fresh tokens
  look not yet valid, or expired early.

And once, from the settings alone: whether each roles claim is a namespaced URI.

Nothing here reads or changes an app's key caches: every fetch is fresh, on a session
of its own. Everything an issuer sent is shown escaped and cut short
(:func:`~claimguard.errors.loggable`).
"""

from __future__ import annotations

import dataclasses
import email.utils
import secrets
import time
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timezone
from typing import Any
from typing import Literal
from urllib.parse import urlsplit

import requests

from .discovery import check_discovered_jwks_uri
from .discovery import discovery_url
from .errors import ConfigurationError
from .errors import loggable
from .fetching import FetchError
from .fetching import Transport
from .fetching import get_json
from .fetching import new_session
from .jwks import JWKSCache
from .keys import MAX_KEYS
from .keys import UnusableKeyError
from .keys import import_jwk
from .keys import load_jwks
from .settings import Settings

__all__ = [
    "Check",
    "Diagnosis",
    "IssuerReport",
    "KeyReport",
    "Status",
    "check_clock",
    "check_roles_claims",
    "clock_skew",
    "diagnose",
    "diagnose_issuer",
    "inspect_keys",
    "settings_summary",
]

#: How a check ended: ``fail`` makes the whole diagnosis fail, ``warn`` does not.
Status = Literal["ok", "warn", "fail"]

#: The largest JWK Set read when no key cache says otherwise (``JWKSCache``'s default).
DEFAULT_MAX_BYTES = 1_048_576
#: An HTTP-date has one-second resolution (RFC 9110 §5.6.7): the issuer's clock reads up
#: to a second behind the moment it wrote the header, so that much is not skew.
DATE_RESOLUTION = 1.0
#: Domains Auth0 refuses as claim namespaces ("create custom claims" in Auth0's docs).
_AUTH0_NAMESPACES = ("auth0.com", "webtask.io", "webtask.run")


@dataclass(frozen=True)
class Check:
    """One line of the diagnosis: what was checked, how it ended, and why."""

    name: str
    status: Status
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.name, "status": self.status, "message": self.message}


@dataclass(frozen=True)
class KeyReport:
    """One entry of a JWK Set, as the runtime sees it.

    ``kid``, ``kty``, ``alg`` and ``use`` are shown as sent when they are plain printable
    strings, and escaped and quoted otherwise (``None``: the member is absent).
    """

    index: int
    kid: str | None
    kty: str | None
    alg: str | None
    use: str | None
    #: The algorithms the key may verify, when it is usable.
    algorithms: tuple[str, ...]
    #: Why the runtime skips the key, or ``None`` when it is usable.
    reason: str | None

    @property
    def usable(self) -> bool:
        return self.reason is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "kid": self.kid,
            "kty": self.kty,
            "alg": self.alg,
            "use": self.use,
            "usable": self.usable,
            "algorithms": list(self.algorithms),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class IssuerReport:
    """Everything checked for one issuer."""

    issuer: str
    #: Where discovery was fetched, or ``None`` when a JWKS URL is configured.
    discovery_url: str | None
    #: Where the keys were fetched (``None``: discovery failed before naming it).
    jwks_url: str | None
    #: Seconds the JWK Set fetch took, or ``None`` if it failed.
    jwks_seconds: float | None
    #: Seconds the issuer's clock is ahead of ours (negative: behind), or ``None``.
    clock_skew: float | None
    keys: tuple[KeyReport, ...]
    checks: tuple[Check, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "discovery_url": self.discovery_url,
            "jwks_url": self.jwks_url,
            "jwks_seconds": _rounded(self.jwks_seconds, 4),
            "clock_skew_seconds": _rounded(self.clock_skew, 3),
            "keys": [key.as_dict() for key in self.keys],
            "checks": [check.as_dict() for check in self.checks],
        }


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(frozen=True)
class Diagnosis:
    """The whole diagnosis: the settings, their own checks, and each issuer's report."""

    settings: Settings
    #: Checks of the settings alone (the roles claims).
    checks: tuple[Check, ...]
    issuers: tuple[IssuerReport, ...]

    def all_checks(self) -> list[Check]:
        return [*self.checks, *(check for report in self.issuers for check in report.checks)]

    def counts(self) -> dict[str, int]:
        """How many checks ended ``ok``, ``warn`` and ``fail``."""
        counts = {"ok": 0, "warn": 0, "fail": 0}
        for check in self.all_checks():
            counts[check.status] += 1
        return counts

    @property
    def healthy(self) -> bool:
        """No check failed (warnings allowed)."""
        return self.counts()["fail"] == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "settings": settings_summary(self.settings),
            "checks": [check.as_dict() for check in self.checks],
            "issuers": [report.as_dict() for report in self.issuers],
            "summary": self.counts(),
        }


# -- the settings -------------------------------------------------------------------


def settings_summary(settings: Settings) -> dict[str, Any]:
    """Every setting by its ``Settings`` field name, lists as lists (JSON-ready); the DPoP
    settings as ``dpop_*``. The nonce secret is never shown, only whether it is set."""
    summary = {
        item.name: _plain(getattr(settings, item.name))
        for item in dataclasses.fields(settings)
        if item.name != "dpop"
    }
    for item in dataclasses.fields(settings.dpop):
        value = getattr(settings.dpop, item.name)
        if item.name == "nonce_secret":
            value = "set" if value is not None else None
        elif item.name == "replay_store" and not isinstance(value, str):
            value = f"<{type(value).__name__}>"
        elif item.name == "replay_store":
            value = _without_password(value)
        summary[f"dpop_{item.name}"] = _plain(value)
    return summary


def _without_password(url: str) -> str:
    """A store URL with its credentials replaced by ``***``: the password in the user
    information, and a ``password`` query parameter (which redis-py reads too)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
    query = "&".join(
        f"{name}=***" if name.lower() == "password" else f"{name}={value}" if sep else name
        for name, sep, value in (item.partition("=") for item in parts.query.split("&") if item)
    )
    return parts._replace(netloc=netloc, query=query).geturl()


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


def _is_namespace(name: str) -> bool:
    """Whether ``name`` is a URI that can namespace a claim: ``http(s)://host…`` or a URN."""
    try:
        parts = urlsplit(name)
    except ValueError:
        return False
    return (parts.scheme in ("http", "https") and bool(parts.netloc)) or parts.scheme == "urn"


def _auth0_owned(name: str) -> bool:
    """Whether ``name`` sits in a namespace Auth0 keeps for itself."""
    if name.lower().startswith("urn:auth0"):
        return True
    host = (urlsplit(name).hostname or "").rstrip(".")
    return any(host == domain or host.endswith("." + domain) for domain in _AUTH0_NAMESPACES)


def _is_auth0_tenant(issuer: str) -> bool:
    """Whether ``issuer`` is an Auth0 tenant domain (a custom domain cannot be told)."""
    host = (urlsplit(issuer).hostname or "").rstrip(".")
    return host.endswith(".auth0.com")


def check_roles_claims(settings: Settings) -> tuple[Check, ...]:
    """Whether each roles claim is a namespaced URI.

    Auth0 adds a custom claim to an access token for one of its APIs only under a
    namespaced name (``https://my-app.example.com/roles``): a non-namespaced one is left
    out silently, and names such as ``roles``, ``groups`` and ``permissions`` are
    restricted outright. Elsewhere a bare name may be meant (RFC 9068 §7.2.1.1 registers
    ``roles``), but it can collide with a claim another party sets. So: a failure for an
    ``*.auth0.com`` issuer, a warning otherwise (doctor cannot tell that a custom domain
    is Auth0's). A JSON Pointer is judged by its top-level member.
    """
    if not settings.roles_claims:
        return (
            Check(
                "roles-claim",
                "ok",
                "no roles claim configured: tokens carry no roles, so role requirements "
                "refuse every token (set CLAIMGUARD_ROLES_CLAIM if routes require roles)",
            ),
        )
    auth0 = any(_is_auth0_tenant(issuer) for issuer in settings.issuers)
    return tuple(_roles_claim_check(name, auth0) for name in settings.roles_claims)


def _roles_claim_check(name: str, auth0: bool) -> Check:
    severity: Status = "fail" if auth0 else "warn"
    where = "" if auth0 else " (a failure for an Auth0 issuer)"
    top = name
    if name.startswith("/"):  # RFC 6901 §4: the first reference token, unescaped
        top = name.split("/")[1].replace("~1", "/").replace("~0", "~")
    if _is_namespace(top):
        if _auth0_owned(top):
            return Check(
                "roles-claim",
                severity,
                f"roles claim {name!r} uses a namespace Auth0 keeps for itself (auth0.com, "
                f"webtask.io, webtask.run, urn:auth0): Auth0 will not add it{where}; "
                "use a URI of your own, e.g. 'https://my-app.example.com/roles'",
            )
        return Check(
            "roles-claim",
            "ok",
            f"roles claim {name!r} is namespaced: it cannot collide with a registered claim",
        )
    if top != name:
        return Check(
            "roles-claim",
            severity,
            f"roles claim {name!r} is nested under {top!r}, not a namespaced URI: fine for "
            "issuers that nest roles (Keycloak's realm_access), but Auth0 leaves "
            f"non-namespaced custom claims out of access tokens{where}",
        )
    return Check(
        "roles-claim",
        severity,
        f"roles claim {name!r} is not a namespaced URI: Auth0 silently leaves "
        "non-namespaced custom claims out of access tokens and restricts names such as "
        f"'roles' and 'groups', so no token would carry roles{where}; another issuer may "
        "set the name for its own purposes, and a collision can grant roles nobody meant "
        "to grant. Write roles under a URI you own, e.g. 'https://my-app.example.com/roles'",
    )


# -- the keys -----------------------------------------------------------------------


def _shown(value: object) -> str | None:
    """A JWK member as an operator may see it: as sent when it is a plain printable
    string, otherwise escaped, quoted and cut short by :func:`loggable`."""
    if value is None:
        return None
    text = loggable(value, limit=64)
    return value if isinstance(value, str) and text == f'"{value}"' else text


def _printable(text: str) -> str:
    """``text`` with anything but printable ASCII escaped: a fetch error may quote a URL
    read from a discovery document, which the runtime's URL checks let through with
    non-ASCII characters in it."""
    return "".join(
        char if " " <= char <= "~" else char.encode("unicode_escape").decode("ascii")
        for char in text
    )


def inspect_keys(document: Any, source: str = "JWKS") -> tuple[KeyReport, ...]:
    """Every entry of a parsed JWK Set, usable or with the reason the runtime skips it.

    The usable set is :func:`~claimguard.keys.load_jwks`'s own answer; each entry's
    reason comes from the same per-key import it runs, so doctor and runtime cannot
    disagree. Set-level rules (duplicate ``kid``, no ``kid`` among several keys, the
    :data:`~claimguard.keys.MAX_KEYS` cap) are named for the entries they drop.

    :raises ValueError: the document is not a JWK Set.
    """
    key_set = load_jwks(document, source=source)
    usable = {(key.kid, key.thumbprint): key for key in key_set.keys}
    return tuple(_key_report(index, entry, usable) for index, entry in enumerate(document["keys"]))


def _key_report(
    index: int, entry: object, usable: Mapping[tuple[str | None, str], Any]
) -> KeyReport:
    jwk: Mapping[str, Any] = entry if isinstance(entry, dict) else {}
    algorithms: tuple[str, ...] = ()
    reason: str | None = None
    if index >= MAX_KEYS:
        reason = f"only the first {MAX_KEYS} keys of a set are read"
    else:
        try:
            key = import_jwk(entry)
        except UnusableKeyError as why:
            reason = str(why)
        else:
            if (key.kid, key.thumbprint) in usable:
                algorithms = tuple(sorted(key.algorithms))
            elif key.kid is None:
                reason = "no kid, in a set of several keys: a token cannot name it"
            else:
                reason = "its kid is shared by another key: which one was meant is unknown"
    return KeyReport(
        index=index,
        kid=_shown(jwk.get("kid")),
        kty=_shown(jwk.get("kty")),
        alg=_shown(jwk.get("alg")),
        use=_shown(jwk.get("use")),
        algorithms=algorithms,
        reason=reason,
    )


def _key_checks(keys: tuple[KeyReport, ...], algorithms: tuple[str, ...]) -> list[Check]:
    usable = [key for key in keys if key.usable]
    if not usable:
        return [
            Check(
                "keys",
                "fail",
                f"none of the {len(keys)} keys is usable (reasons above): the runtime "
                "treats this set as a failed fetch and can verify no token",
            )
        ]
    fitting = [key for key in usable if set(key.algorithms) & set(algorithms)]
    if not fitting:
        return [
            Check(
                "keys",
                "fail",
                f"no usable key fits CLAIMGUARD_ALGORITHMS {list(algorithms)}: every token "
                "would be refused; allow the issuer's algorithm or fix its keys",
            )
        ]
    skipped = len(keys) - len(usable)
    note = f", {skipped} skipped" if skipped else ""
    return [
        Check(
            "keys",
            "ok",
            f"{len(usable)} usable key(s){note}; {len(fitting)} fit CLAIMGUARD_ALGORITHMS",
        )
    ]


# -- the clock ----------------------------------------------------------------------


def clock_skew(date_header: str, received_at: float) -> float | None:
    """Seconds an issuer's clock is ahead of ours (negative: behind).

    :param date_header: the ``Date`` header of its answer (an HTTP-date, RFC 9110 §5.6.7).
    :param received_at: our ``time.time()`` when the answer's headers arrived.
    :returns: ``None`` when the header is not a date.
    """
    try:
        sent = email.utils.parsedate_to_datetime(date_header)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if sent.tzinfo is None:  # RFC 9110 §5.6.7: an HTTP-date is always in GMT
        sent = sent.replace(tzinfo=timezone.utc)
    return sent.timestamp() - received_at


def check_clock(
    date_header: str | None, received_at: float, leeway: float
) -> tuple[Check, float | None]:
    """Compare the issuer's clock, from its ``Date`` header, with ours.

    A skew beyond ``leeway`` (plus the header's one-second resolution) fails: an issuer
    ahead of us mints tokens whose ``iat``/``nbf`` lie in our future, one behind mints
    tokens that expire early by our clock.

    :returns: the check, and the skew in seconds (``None`` when it could not be read).
    """
    if date_header is None:
        # RFC 9110 §6.6.1: an origin server with a clock MUST send Date.
        return Check("clock", "warn", "the issuer sent no Date header: clocks not compared"), None
    skew = clock_skew(date_header, received_at)
    if skew is None:
        return Check("clock", "warn", f"Date header {loggable(date_header)} is not a date"), None
    direction = "ahead of" if skew > 0 else "behind"
    reading = f"issuer clock {abs(skew):.1f} s {direction} ours (Date: {loggable(date_header)})"
    if abs(skew) > leeway + DATE_RESOLUTION:
        return (
            Check(
                "clock",
                "fail",
                f"{reading}: more than CLAIMGUARD_LEEWAY ({leeway:g} s), so its tokens "
                "look not yet valid or expire early; sync the clocks (NTP)",
            ),
            skew,
        )
    return Check("clock", "ok", f"{reading}, within the leeway of {leeway:g} s"), skew


class _DateRecorder:
    """A ``requests`` response hook: the ``Date`` header of each answer, and our time
    when its headers arrived (the body is streamed afterwards)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.seen: list[tuple[str | None, float]] = []

    def __call__(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.seen.append((response.headers.get("Date"), self._clock()))


# -- one issuer ---------------------------------------------------------------------


@dataclass
class _Fetcher:
    """Fresh fetches for one issuer, on a session of its own."""

    session: requests.Session
    timeout: float
    max_bytes: int

    def get(self, url: str) -> tuple[Any, float]:
        """The parsed JSON at ``url`` and the seconds it took.

        :raises FetchError: as :func:`~claimguard.fetching.get_json`.
        """
        started = time.monotonic()
        document = get_json(
            self.session,
            url,
            deadline=started + self.timeout,
            max_bytes=self.max_bytes,
            timeout=self.timeout,
        )
        return document, time.monotonic() - started


def _discover(fetcher: _Fetcher, issuer: str) -> tuple[str | None, Check]:
    """The ``jwks_uri`` the issuer's discovery document names, checked as the runtime
    checks it, or ``None`` with the failure."""
    where = discovery_url(issuer)
    try:
        document, seconds = fetcher.get(where)
    except FetchError as exc:  # its message is safe to show
        return None, Check("discovery", "fail", _printable(str(exc)))
    if not isinstance(document, dict):
        return None, Check("discovery", "fail", f"{where}: not a JSON object")
    # OpenID Connect Discovery 1.0 §4.3: the issuer value MUST match exactly.
    if document.get("issuer") != issuer:
        return None, Check(
            "discovery",
            "fail",
            f"{where}: issuer {loggable(document.get('issuer'))} does not equal the "
            f"configured issuer {issuer!r}",
        )
    try:
        jwks_uri = check_discovered_jwks_uri(document.get("jwks_uri"), issuer)
    except ConfigurationError as exc:  # its message is log-safe
        return None, Check("discovery", "fail", f"{where}: {exc}")
    message = f"{where} in {seconds:.3f} s: jwks_uri {_shown(jwks_uri)}"
    return jwks_uri, Check("discovery", "ok", message)


def _fetch_keys(
    fetcher: _Fetcher, url: str
) -> tuple[tuple[KeyReport, ...] | None, float | None, Check]:
    try:
        document, seconds = fetcher.get(url)
        keys = inspect_keys(document, source=url)
    except FetchError as exc:
        return None, None, Check("jwks", "fail", _printable(str(exc)))
    except ValueError as exc:  # not a JWK Set: load_jwks's message names no content
        return None, None, Check("jwks", "fail", _printable(f"{url}: {exc}"))
    usable = sum(key.usable for key in keys)
    message = f"{_printable(url)} in {seconds:.3f} s: {len(keys)} key(s), {usable} usable"
    return keys, seconds, Check("jwks", "ok", message)


def diagnose_issuer(
    issuer: str,
    settings: Settings,
    *,
    transport: Transport | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    clock: Callable[[], float] = time.time,
) -> IssuerReport:
    """Check one issuer: discovery (if used), its JWK Set and its clock.

    Each fetch is fresh, on a session of its own with ``transport``'s settings, and takes
    at most ``settings.http_timeout`` seconds. A failure is a ``fail`` check in the
    report, never an exception.

    :param clock: our wall clock, compared with the issuer's ``Date`` (a seam for tests).
    """
    session = new_session(transport)
    dates = _DateRecorder(clock)
    session.hooks["response"].append(dates)
    fetcher = _Fetcher(session, settings.http_timeout, max_bytes)
    checks: list[Check] = []
    keys: tuple[KeyReport, ...] = ()
    seconds: float | None = None
    skew: float | None = None
    try:
        where = None if settings.jwks_url is not None else discovery_url(issuer)
        url = settings.jwks_url
        if url is None:
            url, found = _discover(fetcher, issuer)
            checks.append(found)
        if url is not None:
            fetched, seconds, check = _fetch_keys(fetcher, url)
            checks.append(check)
            if fetched is not None:
                keys = fetched
                checks.extend(_key_checks(keys, settings.algorithms))
        if dates.seen:  # the latest answer's Date: nothing answered, nothing to compare
            clock_check, skew = check_clock(*dates.seen[-1], settings.leeway)
            checks.append(clock_check)
    finally:
        session.close()
    shown_url = None if url is None else _printable(url)
    return IssuerReport(issuer, where, shown_url, seconds, skew, keys, tuple(checks))


def diagnose(
    settings: Settings,
    *,
    key_sets: Mapping[str, JWKSCache] | None = None,
    clock: Callable[[], float] = time.time,
) -> Diagnosis:
    """Check the settings, then every configured issuer in turn.

    :param key_sets: the app's key caches by issuer (``TokenValidator.issuers``), whose
        transport settings and size cap the fresh fetches reuse. Nothing else of them is
        read, and they are not changed: their cached keys stay as they are.
    """
    reports = []
    for issuer in settings.issuers:
        cache = (key_sets or {}).get(issuer)
        reports.append(
            diagnose_issuer(
                issuer,
                settings,
                transport=cache.transport if cache is not None else None,
                max_bytes=cache.max_bytes if cache is not None else DEFAULT_MAX_BYTES,
                clock=clock,
            )
        )
    checks = (*check_roles_claims(settings), *check_replay_store(settings, clock=clock))
    return Diagnosis(settings, checks, tuple(reports))


def check_replay_store(
    settings: Settings, *, clock: Callable[[], float] = time.time
) -> tuple[Check, ...]:
    """Whether the DPoP replay store answers (RFC 9449 §11.1: a proof is used once).

    A shared store (Redis, or an object) is asked to claim one throwaway key, expiring
    in a second, as a request would. The in-memory store needs no check, but where DPoP
    is on it only sees its own process's proofs: a warning says so.
    """
    dpop = settings.dpop
    if not dpop.shared_store:
        if dpop.mode == "off":
            return ()
        return (
            Check(
                "replay-store",
                "warn",
                "CLAIMGUARD_DPOP_REPLAY_STORE is 'memory': each process remembers only the "
                "proofs it saw; with several workers or instances, use a redis:// URL",
            ),
        )
    started = clock()
    try:
        store = dpop.build_store()
        fresh = store.claim(f"claimguard:doctor:{secrets.token_hex(8)}", 1)
    except Exception as exc:  # a store raises anything from its client library
        return (
            Check(
                "replay-store",
                "fail",
                f"the DPoP replay store does not answer ({type(exc).__name__}): every DPoP "
                "request would be answered 503; check the server's connection to it",
            ),
        )
    if fresh is not True:
        return (
            Check(
                "replay-store",
                "fail",
                "the DPoP replay store refused a key never used before: it would refuse "
                "every proof as a replay",
            ),
        )
    return (
        Check("replay-store", "ok", f"the DPoP replay store answered in {clock() - started:.3f} s"),
    )
