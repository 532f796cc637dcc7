"""Test kit for DPoP (RFC 9449): client keys and proofs, right or wrong in any one way.

::

    key = DPoPKey.generate()                          # ES256 by default
    token = forged_issuer.mint(dpop_key=key)          # cnf: {"jkt": key.thumbprint}
    proof = make_proof(key, "GET", "https://api.example.test/orders", access_token=token)
    client.get("/orders", headers={"Authorization": f"DPoP {token}", "DPoP": proof})

Every check of :class:`claimguard.dpop.DPoPVerifier` can be failed on purpose::

    make_proof(key, "POST", url, access_token=token)                  # wrong htm
    make_proof(key, "GET", url, access_token=token, iat=time.time() - 3600)
    make_proof(key, "GET", url, access_token="another token")         # wrong ath
    make_proof(key, "GET", url, access_token=token, jti=used_jti)     # a replay
    make_proof(key, "GET", url, access_token=token, sign_with=DPoPKey.generate())
    make_proof(key, "GET", url, access_token=token, alg="none")       # unsigned
    make_proof(key, "GET", url, access_token=token, header_overrides={"jwk": key.private_jwk})

.. warning:: development and tests only: the keys live in memory.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.asymmetric import rsa

from ..dpop import access_token_hash
from ..keys import algorithm as algorithm_object
from ..keys import jwk_thumbprint
from .issuer import b64url

__all__ = ["DPoPKey", "make_proof"]

_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "ES256": ec.SECP256R1,
    "ES384": ec.SECP384R1,
    "ES512": ec.SECP521R1,
}
_HMAC = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


@dataclass(frozen=True)
class DPoPKey:
    """A client's DPoP key pair: what a browser or mobile app keeps to sign its proofs."""

    algorithm: str
    private_key: Any
    public_jwk: dict[str, Any] = field(init=False)
    thumbprint: str = field(init=False)

    def __post_init__(self) -> None:
        jwk = algorithm_object(self.algorithm).to_jwk(self.private_key.public_key(), as_dict=True)
        # RFC 9449 §4.2: the header carries the public key only, minimal.
        members = ("kty", "crv", "x", "y", "n", "e")
        public: dict[str, Any] = {name: jwk[name] for name in members if name in jwk}
        object.__setattr__(self, "public_jwk", public)
        #: RFC 7638 thumbprint: what ``cnf.jkt`` of a token bound to this key holds.
        object.__setattr__(self, "thumbprint", jwk_thumbprint(public))

    @property
    def private_jwk(self) -> dict[str, Any]:
        """The full private JWK (``d`` and all), to test that a proof carrying it is refused."""
        jwk: dict[str, Any] = algorithm_object(self.algorithm).to_jwk(
            self.private_key, as_dict=True
        )
        return jwk

    @classmethod
    def generate(cls, algorithm: str = "ES256", *, bits: int = 2048) -> DPoPKey:
        """A new key: ``"ES256"`` (default), ``"ES384"``, ``"ES512"``, ``"EdDSA"``, or an
        RSA one (``"RS256"``, ``"PS256"`` …, with ``bits``)."""
        private: Any
        if algorithm in _CURVES:
            private = ec.generate_private_key(_CURVES[algorithm]())
        elif algorithm == "EdDSA":
            private = ed25519.Ed25519PrivateKey.generate()
        elif algorithm[:2] in ("RS", "PS"):
            private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        else:
            raise ValueError(f"DPoPKey cannot be made for {algorithm!r}")
        return cls(algorithm, private)


def make_proof(
    key: DPoPKey,
    method: str,
    url: str,
    *,
    access_token: str | None = None,
    nonce: str | None = None,
    iat: float | None = None,
    jti: str | None = None,
    header_overrides: Mapping[str, Any] | None = None,
    claim_overrides: Mapping[str, Any] | None = None,
    alg: str | None = None,
    sign_with: DPoPKey | None = None,
) -> str:
    """A DPoP proof JWT for one request, signed by ``key`` unless told otherwise.

    :param method: ``htm``.
    :param url: ``htu``, written as given (no normalisation, no query removal).
    :param access_token: the token the proof goes with: sets ``ath``.
    :param nonce: the server nonce to carry.
    :param iat: seconds since the epoch (default: now, as an integer).
    :param jti: the proof id (default: a random one).
    :param header_overrides: header members to set; ``None`` removes one.
    :param claim_overrides: claims to set (any JSON, wrong types included); ``None``
        removes one.
    :param alg: the ``alg`` header. The signature is made with it when it is an
        asymmetric algorithm; ``"none"`` gives an unsigned JWT (empty signature); an
        ``HS*`` algorithm makes an HMAC keyed with the public JWK's canonical JSON (the
        classic key-confusion forgery).
    :param sign_with: sign with this other key (the header still carries ``key``'s jwk).
    """
    chosen = alg or key.algorithm
    header: dict[str, Any] = {"typ": "dpop+jwt", "alg": chosen, "jwk": dict(key.public_jwk)}
    header.update(header_overrides or {})
    claims: dict[str, Any] = {
        "jti": jti if jti is not None else secrets.token_urlsafe(16),
        "htm": method,
        "htu": url,
        "iat": int(time.time()) if iat is None else iat,
    }
    if access_token is not None:
        claims["ath"] = access_token_hash(access_token)
    if nonce is not None:
        claims["nonce"] = nonce
    claims.update(claim_overrides or {})
    encoded = [b64url(json.dumps(_present(part)).encode("utf-8")) for part in (header, claims)]
    signing_input = ".".join(encoded).encode("ascii")
    signature = _signature(signing_input, chosen, sign_with or key)
    return ".".join([*encoded, b64url(signature)])


def _present(members: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in members.items() if value is not None}


def _signature(signing_input: bytes, alg: str, signer: DPoPKey) -> bytes:
    if alg == "none":
        return b""
    if alg in _HMAC:
        secret = json.dumps(signer.public_jwk, sort_keys=True).encode("utf-8")
        return hmac.new(secret, signing_input, _HMAC[alg]).digest()
    try:
        signing = algorithm_object(alg)
    except KeyError:
        signing = algorithm_object(signer.algorithm)
    signature: bytes = signing.sign(signing_input, signer.private_key)
    return signature
