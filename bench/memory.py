"""Memory stays bounded: ``.venv/bin/python -m bench.memory``.

A million distinct tokens go through one validator's verified-token cache, and the
process's resident memory is sampled as they go. With ``CLAIMGUARD_TOKEN_CACHE_SIZE``
entries at most, memory must level off once the cache is full, however many distinct
tokens follow.

Two modes:

``--mode direct`` (default, ~1 minute)
    Distinct tokens are built from one signed template by changing ``sub`` and
    ``jti`` (each entry is a real :class:`~claimguard.VerifiedToken` of realistic size,
    keyed by a distinct token string) and put through the validator's
    own cache code. Signing a million RS256 tokens would take minutes and prove nothing
    more about memory.
``--mode es256 --count N``
    N real ES256 tokens are minted and validated end to end (slower: about 100 µs per
    token on this machine).
"""

from __future__ import annotations

import argparse
import os
import time

from claimguard.testing import ForgedIssuer
from claimguard.token_cache import CachedToken
from claimguard.validation import VerifiedToken


def rss_mib() -> float:
    with open(f"/proc/{os.getpid()}/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def direct(count: int, size: int) -> list[tuple[int, float]]:
    with ForgedIssuer() as issuer:
        validator = issuer.validator(token_cache_size=size)
        template = validator.validate(issuer.mint(roles=["viewer"], scope="read:products"))
        key_set = validator.issuers[issuer.issuer]
        cache = validator._cache
        assert cache is not None
        samples = []
        for n in range(count):
            raw = f"{template.raw}.{n}"  # a distinct token string of realistic length
            # What the validator hands over: the parsed payload, frozen on first use.
            claims = {
                key: list(value) if isinstance(value, tuple) else value
                for key, value in template.claims.items()
            }
            claims["sub"] = f"auth0|user{n}"
            claims["jti"] = f"jti-{n}"
            token = VerifiedToken.from_payload(
                claims, template.header, raw, template.key_thumbprint, validator.rules
            )
            cache.put(raw, CachedToken(token, key_set, claims["exp"], None, claims["iat"]))
            if n % 50_000 == 0 or n == count - 1:
                samples.append((n + 1, rss_mib()))
        assert len(cache) == min(size, count)
    return samples


def es256(count: int, size: int) -> list[tuple[int, float]]:
    with ForgedIssuer(algorithm="ES256") as issuer:
        validator = issuer.validator(token_cache_size=size)
        samples = []
        for n in range(count):
            validator.validate(issuer.mint(roles=["viewer"], sub=f"auth0|user{n}", jti=str(n)))
            if n % 10_000 == 0 or n == count - 1:
                samples.append((n + 1, rss_mib()))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=("direct", "es256"), default="direct")
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--cache-size", type=int, default=4096)
    args = parser.parse_args()
    started = time.monotonic()
    before = rss_mib()
    run = direct if args.mode == "direct" else es256
    samples = run(args.count, args.cache_size)
    full = next((rss for n, rss in samples if n > args.cache_size), samples[-1][1])
    print(f"\n{args.mode}: {args.count} distinct tokens, cache size {args.cache_size}")
    print("| tokens seen | RSS MiB |")
    print("|---|---|")
    shown = samples[:: max(1, len(samples) // 12)]
    if shown[-1] != samples[-1]:
        shown.append(samples[-1])
    for n, rss in shown:
        print(f"| {n} | {rss:.1f} |")
    print(
        f"\nRSS before: {before:.1f} MiB; once the cache was full: {full:.1f} MiB; "
        f"at the end: {samples[-1][1]:.1f} MiB; growth after the cache filled: "
        f"{samples[-1][1] - full:+.1f} MiB ({time.monotonic() - started:.0f} s)"
    )


if __name__ == "__main__":
    main()
