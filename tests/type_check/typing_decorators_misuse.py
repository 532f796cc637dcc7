"""Incorrect uses that ``mypy --strict`` must refuse.

Each wrong line carries ``# type: ignore[<code>]`` naming the error mypy reports there.
``--strict`` includes ``--warn-unused-ignores``: if a line stops being an error (a
decorator loses its types, say), its ignore is unused and mypy fails the run.
"""

from __future__ import annotations

from flask import Blueprint
from flask import Flask

from claimguard import ClaimGuard
from claimguard import current_token
from claimguard import requires_any_scope
from claimguard import requires_auth
from claimguard import requires_permission
from claimguard import requires_role

app = Flask(__name__)
guard = ClaimGuard(app)
blueprint = Blueprint("api", __name__)


@app.get("/number")
@requires_role(42)  # type: ignore[arg-type]
def number() -> str:
    return "a role is a string"


@app.get("/bare")
@requires_role  # type: ignore[arg-type]
def bare() -> str:
    return "requires_role must be called with names"


@app.get("/list")
@requires_any_scope(["read:products", "write:products"])  # type: ignore[arg-type]
def scopes_as_a_list() -> str:
    return "names are separate arguments"


@app.get("/none")
@requires_permission(None)  # type: ignore[arg-type]
def no_permission() -> str:
    return "None is no permission"


@app.get("/string-flag")
@requires_auth(optional="false")  # type: ignore[call-overload, untyped-decorator]
def string_flag() -> str:
    return "optional is a bool"


@app.get("/positional")
@requires_auth("admin")  # type: ignore[call-overload, untyped-decorator]
def positional() -> str:
    return "requires_auth takes no names"


guard.protect(blueprint, rolez=["admin"])  # type: ignore[call-arg]
guard.protect(blueprint, roles=42)  # type: ignore[arg-type]
guard.verify_request(optional="false")  # type: ignore[arg-type]

# A decorated view keeps its signature.
wrong_type: int = number()  # type: ignore[assignment]

current_token.subject = "auth0|someone-else"  # type: ignore[misc]
