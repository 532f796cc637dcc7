"""Correct uses of claimguard's decorators: ``mypy --strict`` accepts every line, and
each decorated view keeps its own signature."""

from __future__ import annotations

from flask import Blueprint
from flask import Flask

from claimguard import ClaimGuard
from claimguard import VerifiedToken
from claimguard import current_token
from claimguard import get_current_token
from claimguard import requires_any_permission
from claimguard import requires_any_role
from claimguard import requires_any_scope
from claimguard import requires_auth
from claimguard import requires_permission
from claimguard import requires_role
from claimguard import requires_scope

app = Flask(__name__)
guard = ClaimGuard(app)
ADMINS = ("admin", "owner")


@app.get("/bare")
@requires_auth
def bare() -> str:
    return current_token.subject


@app.get("/called")
@requires_auth()
def called() -> str:
    return "ok"


@app.get("/optional")
@requires_auth(optional=True)
def optional() -> dict[str, str | None]:
    token: VerifiedToken | None = get_current_token()
    return {"sub": None if token is None else token.subject}


@app.get("/admin")
@requires_role("admin")
@requires_any_role(*ADMINS)
@requires_scope("read:products", "write:products")
@requires_any_scope("read:products")
@requires_permission("delete:products")
@requires_any_permission("read:products", "delete:products")
def admin() -> list[str]:
    return sorted(current_token.roles)


@app.get("/items/<int:item>")
@guard.requires_role("editor")
async def item(item: int) -> dict[str, int]:
    return {"item": item}


blueprint = Blueprint("api", __name__)
guard.protect(blueprint, roles=["viewer"], any_scopes="read:products")
guard.protect(blueprint, optional=True)

# The decorated views keep their signatures.
name: str = bare()
roles: list[str] = admin()
