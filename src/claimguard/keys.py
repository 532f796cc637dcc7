"""Signing algorithms and the import of a JWK Set into verification keys.

Keys are imported once, when a key set is loaded, into ``cryptography`` public-key
objects through PyJWT's algorithm classes; verifying a token then costs one lookup and
one signature check.

Only asymmetric algorithms exist here. ``none`` and the HMAC family are not merely
disallowed by default: they have no entry at all, so no configuration can enable them
(RFC 8725 §3.1, §3.2).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import Algorithm
from jwt.algorithms import get_default_algorithms

from .errors import loggable

__all__ = [
    "MAX_KID_LENGTH",
    "SUPPORTED_ALGORITHMS",
    "KeySet",
    "UnusableKeyError",
    "VerificationKey",
    "algorithm",
    "import_jwk",
    "is_short_kid",
    "jwk_thumbprint",
    "load_jwks",
]

log = logging.getLogger("claimguard")

#: Algorithms claimguard can verify: RFC 7518 §3.3-3.5 and RFC 8037 §3.1 (Ed25519).
SUPPORTED_ALGORITHMS: frozenset[str] = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)

# RFC 7518 §3.4: each ECDSA algorithm is bound to one curve.
_EC_CURVES = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
_MIN_RSA_BITS = 2048  # RFC 7518 §3.3: "A key of size 2048 bits or larger MUST be used"
# Upper bounds on what a verification may cost. RSA verification time grows with the
# modulus and with the exponent's bit length, so a hostile set publishing a huge key
# would make every junk signature checked against it expensive. No issuer signs with
# more than 8192 bits, and every RSA implementation in use takes e = 65537; an even e
# is no RSA key at all (RFC 8017 §3.1: e is odd).
_MAX_RSA_BITS = 8192
_MAX_RSA_EXPONENT = 2**32
#: Longest ``kid`` accepted, in a token's header and in a key set alike.
MAX_KID_LENGTH = 256
#: Entries read from one JWK Set. Real issuers publish a handful; a set of thousands is
#: hostile or broken, and importing each key costs CPU on the request path.
MAX_KEYS = 100

_ALGORITHMS: dict[str, Algorithm] = {
    name: alg for name, alg in get_default_algorithms().items() if name in SUPPORTED_ALGORITHMS
}


def is_short_kid(kid: object) -> bool:
    """Whether ``kid`` is a usable key ID: a non-empty string of at most
    :data:`MAX_KID_LENGTH` characters (RFC 7515 §4.1.4 makes it a string)."""
    return isinstance(kid, str) and 0 < len(kid) <= MAX_KID_LENGTH


def algorithm(name: str) -> Algorithm:
    """PyJWT's algorithm object for a supported algorithm name."""
    return _ALGORITHMS[name]


@dataclass(frozen=True)
class VerificationKey:
    """One usable public key from a JWK Set."""

    kid: str | None
    kty: str
    #: The algorithms this key may verify: its ``alg`` if the JWK names one, else every
    #: algorithm its type and curve fit.
    algorithms: frozenset[str]
    public_key: Any
    #: Hex SHA-256 of the key's RFC 7638 canonical JSON: names the key material itself.
    thumbprint: str

    def fits(self, alg: str) -> bool:
        """Whether this key may verify a signature made with ``alg``."""
        return alg in self.algorithms


@dataclass(frozen=True)
class KeySet:
    """The usable keys of one JWK Set, indexed by ``kid``."""

    by_kid: Mapping[str, VerificationKey]
    #: Every usable key (also those without a ``kid`` when the set has exactly one key).
    keys: tuple[VerificationKey, ...]
    skipped: int

    def __post_init__(self) -> None:
        thumbprints = frozenset(key.thumbprint for key in self.keys)
        object.__setattr__(self, "thumbprints", thumbprints)

    #: The thumbprints of every usable key, computed once.
    thumbprints: frozenset[str] = field(init=False, default=frozenset())

    def find(self, kid: str | None) -> VerificationKey | None:
        """The key for ``kid``; for a token without ``kid``, the set's only key."""
        if kid is not None:
            return self.by_kid.get(kid)
        # A token without kid is verified only when the set holds exactly one usable key.
        return self.keys[0] if len(self.keys) == 1 else None


class UnusableKeyError(Exception):
    """A JWK that cannot verify tokens here; its message says why, for logs and tools."""


def _rsa(jwk: Mapping[str, Any]) -> tuple[Any, frozenset[str]]:
    key = algorithm("RS256").from_jwk(dict(jwk))
    if not isinstance(key, rsa.RSAPublicKey):
        raise UnusableKeyError("not an RSA public key")
    if not _MIN_RSA_BITS <= key.key_size <= _MAX_RSA_BITS:
        raise UnusableKeyError(
            f"RSA key of {key.key_size} bits is outside {_MIN_RSA_BITS}-{_MAX_RSA_BITS}"
        )
    exponent = key.public_numbers().e
    if exponent % 2 == 0 or not 3 <= exponent < _MAX_RSA_EXPONENT:
        raise UnusableKeyError("RSA public exponent is not an odd number from 3 to 2**32")
    return key, frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})


def _ec(jwk: Mapping[str, Any]) -> tuple[Any, frozenset[str]]:
    crv = jwk.get("crv")
    alg = _EC_CURVES.get(crv) if isinstance(crv, str) else None
    if alg is None:
        raise UnusableKeyError(f"EC curve {loggable(jwk.get('crv'))} is not P-256/P-384/P-521")
    key = algorithm(alg).from_jwk(dict(jwk))
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise UnusableKeyError("not an EC public key")
    return key, frozenset({alg})


def _okp(jwk: Mapping[str, Any]) -> tuple[Any, frozenset[str]]:
    if jwk.get("crv") != "Ed25519":
        raise UnusableKeyError(f"OKP curve {loggable(jwk.get('crv'))} is not Ed25519")
    key = algorithm("EdDSA").from_jwk(dict(jwk))
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise UnusableKeyError("not an Ed25519 public key")
    return key, frozenset({"EdDSA"})


_IMPORTERS = {"RSA": _rsa, "EC": _ec, "OKP": _okp}
# RFC 7518 §6.2.2, §6.3.2, §6.4.1 and RFC 8037 §2: members that only a private (or
# symmetric) key has. A set that publishes them is broken; such an entry is not used.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
# RFC 7638 §3.2: the required members of each key type, in lexicographic order.
_THUMBPRINT_MEMBERS = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
}


def _thumbprint_digest(jwk: Mapping[str, Any]) -> bytes:
    # RFC 7638 §3.1-3.3: the required members only, sorted, no whitespace, UTF-8.
    members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).digest()


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 thumbprint of an RSA, EC or OKP public JWK, as DPoP's ``jkt`` carries
    it (RFC 9449 §6.1): unpadded base64url of the SHA-256 of the key's canonical JSON.

    :raises KeyError: the JWK lacks a member its ``kty`` requires, or has another ``kty``.
    """
    return base64.urlsafe_b64encode(_thumbprint_digest(jwk)).rstrip(b"=").decode("ascii")


def _thumbprint(jwk: Mapping[str, Any]) -> str:
    """The same thumbprint in hex: :attr:`VerificationKey.thumbprint`."""
    return _thumbprint_digest(jwk).hex()


def import_jwk(jwk: Any) -> VerificationKey:
    """One public JWK as a :class:`VerificationKey`, with every rule a key set's entry
    must meet (type, curve, size, use, key_ops, kid, a declared alg that fits).

    :raises UnusableKeyError: saying why the key is skipped.
    """
    if not isinstance(jwk, dict):
        raise UnusableKeyError("entry is not a JSON object")
    kty = jwk.get("kty")
    importer = _IMPORTERS.get(kty) if isinstance(kty, str) else None
    if importer is None:
        raise UnusableKeyError(f"kty {loggable(kty)} is not RSA, EC or OKP")
    if not _PRIVATE_MEMBERS.isdisjoint(jwk):
        raise UnusableKeyError("entry holds private key material")
    use = jwk.get("use")
    if use is not None and use != "sig":
        raise UnusableKeyError(f"use {loggable(use)} is not 'sig'")  # RFC 7517 §4.2
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        raise UnusableKeyError("key_ops does not allow 'verify'")  # RFC 7517 §4.3
    kid = jwk.get("kid")
    if kid is not None and not is_short_kid(kid):
        raise UnusableKeyError("kid is not a short string")
    try:
        public_key, algorithms = importer(jwk)
        thumbprint = _thumbprint(jwk)
    except UnusableKeyError:
        raise
    except Exception as exc:  # PyJWT raises several kinds for bad members
        raise UnusableKeyError(f"key material does not import ({type(exc).__name__})") from exc
    declared = jwk.get("alg")
    if declared is not None:
        # RFC 7517 §4.4: a key that names its algorithm is used with that one only.
        # (A non-string alg must be refused here, not raise: one odd entry may not
        # cost the whole set.)
        if not isinstance(declared, str) or declared not in algorithms:
            raise UnusableKeyError(f"alg {loggable(declared)} does not fit kty {kty}")
        algorithms = frozenset({declared})
    return VerificationKey(kid, str(kty), algorithms, public_key, thumbprint)


def load_jwks(document: Any, source: str = "JWKS") -> KeySet:
    """Import the usable keys of a parsed JWK Set document (RFC 7517 §5).

    Unusable entries are skipped with a log line and the rest stays usable: unknown
    ``kty``, ``use`` other than ``sig``, ``key_ops`` without ``verify``, RSA moduli
    outside 2048-8192 bits or exponents that are even or not below 2**32, EC curves
    other than P-256/P-384/P-521, OKP other than Ed25519, private keys, keys without
    ``kid`` in a set of several, and every key of a duplicated ``kid`` (which one the
    issuer meant cannot be known).

    :raises ValueError: the document is not a JWK Set.
    """
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("the document is not a JWK Set (no 'keys' array)")
    entries = document["keys"]
    imported: list[VerificationKey] = []
    skipped = max(0, len(entries) - MAX_KEYS)
    if skipped:
        log.warning(
            "%s: %d keys published; only the first %d are read", source, len(entries), MAX_KEYS
        )
    for index, entry in enumerate(entries[:MAX_KEYS]):
        try:
            imported.append(import_jwk(entry))
        except UnusableKeyError as why:
            skipped += 1
            log.info("%s: skipped key #%d: %s", source, index, why)

    kid_counts: dict[str, int] = {}
    for key in imported:
        if key.kid is not None:
            kid_counts[key.kid] = kid_counts.get(key.kid, 0) + 1
    usable: list[VerificationKey] = []
    for key in imported:
        if key.kid is not None and kid_counts[key.kid] > 1:
            log.warning("%s: skipped key with duplicate kid %s", source, loggable(key.kid))
        elif key.kid is None and len(imported) > 1:
            log.info("%s: skipped key without kid in a set of several", source)
        else:
            usable.append(key)
            continue
        skipped += 1
    by_kid = {key.kid: key for key in usable if key.kid is not None}
    return KeySet(by_kid, tuple(usable), skipped)
