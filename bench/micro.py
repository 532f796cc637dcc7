"""Per-call costs, in one process: ``.venv/bin/python -m bench.micro``.

Each figure is the best of several repeats (the least disturbed by other load), and
every claimguard figure is also given as a ratio to the bare RSA-2048 verify measured
in the same run.
"""

from __future__ import annotations

import timeit
from collections.abc import Callable

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from claimguard.testing import ForgedIssuer

ROLES = "https://my-app.example.com/roles"


def best(function: Callable[[], object], number: int, repeat: int = 7) -> float:
    """Microseconds per call, best of ``repeat`` runs of ``number`` calls."""
    return min(timeit.repeat(function, number=number, repeat=repeat)) / number * 1e6


def first_request_cost(issuer: ForgedIssuer, token: str) -> tuple[float, float]:
    """Median milliseconds of a bare JWKS GET, and of a first validate on a cold cache."""
    import statistics
    import time

    import requests

    fetches, firsts = [], []
    with requests.Session() as session:
        session.get(issuer.jwks_url, timeout=5)
        for _ in range(15):
            started = time.perf_counter()
            session.get(issuer.jwks_url, timeout=5).json()
            fetches.append((time.perf_counter() - started) * 1000)
            validator = issuer.validator()
            started = time.perf_counter()
            validator.validate(token)
            firsts.append((time.perf_counter() - started) * 1000)
    return statistics.median(fetches), statistics.median(firsts)


def main() -> None:
    with ForgedIssuer(roles_claim=ROLES) as issuer:
        token = issuer.mint(roles=["viewer"], scope="read:products")
        distinct = [issuer.mint(roles=["viewer"], sub=f"user{n}") for n in range(3000)]
        public_key = issuer.current_key.public_key
        signing_input, signature = token.rsplit(".", 1)[0].encode(), None
        from claimguard.jws import b64url_decode

        signature = b64url_decode(token.rsplit(".", 1)[1], "signature")

        def bare_verify() -> None:
            public_key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())

        def pyjwt_decode() -> None:
            jwt.decode(
                token,
                public_key,
                algorithms=["RS256"],
                audience=issuer.audience,
                issuer=issuer.issuer,
            )

        client = jwt.PyJWKClient(issuer.jwks_url)
        client.get_signing_key_from_jwt(token)

        def quickstart() -> None:
            key = client.get_signing_key_from_jwt(token)
            jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                audience=issuer.audience,
                issuer=issuer.issuer,
            )

        uncached = issuer.validator(token_cache_size=0)
        uncached.validate(token)
        cached = issuer.validator()
        cached.validate(token)
        cycling = issuer.validator(token_cache_size=1000)
        position = iter(range(10**9))

        def unseen() -> None:
            # A cache smaller than the cycle: every call is a miss (parse + verify + claims).
            cycling.validate(distinct[next(position) % len(distinct)])

        figures = {
            "bare RSA-2048 verify (cryptography)": best(bare_verify, 2000),
            "jwt.decode RS256, preloaded key": best(pyjwt_decode, 2000),
            "PyJWKClient + jwt.decode (warm)": best(quickstart, 2000),
            "claimguard validate, cache off": best(lambda: uncached.validate(token), 2000),
            "claimguard validate, unseen token": best(unseen, 2000),
            "claimguard validate, repeated token": best(lambda: cached.validate(token), 50000),
            # In a request the token is a new string each time (its hash not yet known):
            # the copy itself is timed alone and taken off.
            "claimguard validate, repeated token, new string": best(
                lambda: cached.validate((token + ".")[:-1]), 50000
            )
            - best(lambda: (token + ".")[:-1], 50000),
        }
        startup = first_request_cost(issuer, token)
    base = figures["bare RSA-2048 verify (cryptography)"]
    print("\n| per call | µs | x bare RSA verify |")
    print("|---|---|---|")
    for name, micros in figures.items():
        print(f"| {name} | {micros:.2f} | {micros / base:.2f} |")
    fetch, first = startup
    print(
        f"\nstart-up: first validate on a cold cache {first:.2f} ms; the JWKS fetch alone "
        f"{fetch:.2f} ms; difference {first - fetch:.2f} ms (medians of 15)"
    )


if __name__ == "__main__":
    main()
