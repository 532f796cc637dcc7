"""Test kit: forge an issuer, its keys and its tokens, for your tests and ours.

``ForgedIssuer`` serves discovery and a JWKS on 127.0.0.1 and mints signed tokens.
Installing the package (``pip install "flask-claimguard[testing]"``) also registers the
``forged_issuer`` pytest fixture.

The kit is imported on first use (PEP 562), so that loading the pytest plugin, which
lives in this package, costs nothing to suites that never ask for the fixture.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    from .dpop import DPoPKey as DPoPKey
    from .dpop import make_proof as make_proof
    from .issuer import ForgedIssuer as ForgedIssuer
    from .issuer import ForgedKey as ForgedKey

__all__ = ["DPoPKey", "ForgedIssuer", "ForgedKey", "make_proof"]
_DPOP = frozenset({"DPoPKey", "make_proof"})


def __getattr__(name: str) -> Any:
    if name in _DPOP:
        from . import dpop

        value = getattr(dpop, name)
        globals()[name] = value
        return value
    if name in __all__:
        from . import issuer

        value = getattr(issuer, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
