"""``flask claimguard routes``: every rule with its methods and requirement, read from
the view Flask registered and the blueprints' guards; ``--json``; ``--fail-on-public``
with ``--allow``; and example_api, whose only public routes are its health checks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Blueprint
from flask import Flask

from claimguard import ClaimGuard
from claimguard import requires_any_permission
from claimguard import requires_any_role
from claimguard import requires_auth
from claimguard import requires_permission
from claimguard import requires_role
from claimguard import requires_scope
from claimguard.cli import cli
from claimguard.testing import ForgedIssuer
from example_api import create_app

ROLES = "https://my-app.example.com/roles"


@pytest.fixture(scope="module")
def issuer() -> Iterator[ForgedIssuer]:
    with ForgedIssuer(audience="https://products.example.com", roles_claim=ROLES) as forged:
        yield forged


def make_app(issuer: ForgedIssuer) -> Flask:
    app = Flask(__name__)
    issuer.configure(app)
    guard = ClaimGuard(app)

    @app.get("/")
    def index() -> str:
        return "ok"

    @app.route("/auth", methods=["GET", "POST"])
    @requires_auth
    def auth() -> str:
        return "ok"

    @app.get("/optional")
    @requires_auth(optional=True)
    def optional() -> str:
        return "ok"

    @app.delete("/admin")
    @requires_role("admin", "owner")
    def admin() -> str:
        return "ok"

    @app.get("/staff")
    @requires_any_role("viewer", "editor")
    def staff() -> str:
        return "ok"

    @app.get("/scoped")
    @requires_scope("read:products")
    def scoped() -> str:
        return "ok"

    @app.get("/perm")
    @requires_permission("delete:products")
    def perm() -> str:
        return "ok"

    @app.get("/stacked")
    @requires_role("admin")
    @requires_any_permission("a", "b")
    def stacked() -> str:
        return "ok"

    # The mistake the command exists to catch: applied after registration, the
    # decorator wraps a function Flask never calls.
    @requires_role("admin")
    @app.get("/mistake")
    def mistake() -> str:
        return "ok"

    area = Blueprint("area", __name__, url_prefix="/area")
    guard.protect(area, any_roles=["staff"])

    @area.get("/open")
    def area_open() -> str:
        return "ok"

    @area.get("/scoped")
    @requires_scope("write:area")
    def area_scoped() -> str:
        return "ok"

    inner = Blueprint("inner", __name__, url_prefix="/inner")

    @inner.get("/x")
    def inner_x() -> str:
        return "ok"

    area.register_blueprint(inner)
    app.register_blueprint(area)

    anyone = Blueprint("anyone", __name__, url_prefix="/anyone")
    guard.protect(anyone)

    @anyone.get("/x")
    def anyone_x() -> str:
        return "ok"

    app.register_blueprint(anyone)
    return app


def run(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(cli, ["routes", *args])


@pytest.fixture(scope="module")
def app(issuer: ForgedIssuer) -> Flask:
    return make_app(issuer)


def table(app: Flask) -> dict[str, dict[str, Any]]:
    result = run(app, "--json")
    assert result.exit_code == 0, result.output
    return {route["rule"]: route for route in json.loads(result.output)}


def test_each_kind_of_requirement(app: Flask) -> None:
    requirements = {rule: route["requirement"] for rule, route in table(app).items()}
    assert requirements == {
        "/": "public",
        "/auth": "any valid token",
        "/optional": "optional token",
        "/admin": "roles: all of [admin, owner]",
        "/staff": "roles: any of [viewer, editor]",
        "/scoped": "scopes: all of [read:products]",
        "/perm": "permissions: all of [delete:products]",
        "/stacked": "permissions: any of [a, b]; roles: all of [admin]",
        "/mistake": "public",
        "/area/open": "roles: any of [staff]",
        "/area/scoped": "roles: any of [staff]; scopes: all of [write:area]",
        "/area/inner/x": "roles: any of [staff]",
        "/anyone/x": "any valid token",
        "/static/<path:filename>": "static files",
    }


def test_json_shape(app: Flask) -> None:
    routes = table(app)
    assert routes["/auth"] == {
        "rule": "/auth",
        "endpoint": "auth",
        "methods": ["GET", "POST"],
        "requirement": "any valid token",
    }
    assert routes["/admin"]["methods"] == ["DELETE"]
    assert routes["/area/inner/x"]["endpoint"] == "area.inner.inner_x"


def test_text_lists_every_rule(app: Flask) -> None:
    result = run(app)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == len(table(app))
    admin = next(line for line in lines if line.startswith("/admin "))
    assert admin.split() == ["/admin", "DELETE", "roles:", "all", "of", "[admin,", "owner]"]
    assert "HEAD" not in result.output
    assert "OPTIONS" not in result.output


def test_fail_on_public_names_the_open_routes(app: Flask) -> None:
    result = run(app, "--fail-on-public")
    assert result.exit_code == 1
    assert "Error: public routes not allowed by --allow: / (index), /mistake (mistake)" in (
        result.output
    )
    assert "Traceback" not in result.output
    assert "static" not in result.output.splitlines()[-1]


def test_allow_lets_named_routes_be_public(app: Flask) -> None:
    assert run(app, "--fail-on-public", "--allow", "/").exit_code == 1
    result = run(app, "--fail-on-public", "--allow", "/", "--allow", "/mis*")
    assert result.exit_code == 0, result.output


def test_without_fail_on_public_public_routes_are_fine(app: Flask) -> None:
    assert run(app).exit_code == 0


def test_an_app_without_claimguard_is_one_line_of_error() -> None:
    result = run(Flask("bare"))
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: claimguard is not set up on this app: call ClaimGuard(app) or "
        "guard.init_app(app) in the app factory"
    ]


def test_the_entry_point_registers_the_group() -> None:
    from importlib.metadata import entry_points

    found = [ep for ep in entry_points(group="flask.commands") if ep.name == "claimguard"]
    assert [ep.value for ep in found] == ["claimguard.cli:cli"]


def test_example_api_only_exposes_its_health_checks(issuer: ForgedIssuer, tmp_path: Path) -> None:
    app = create_app({**issuer.config(), "EXAMPLE_API_DATABASE": str(tmp_path / "db.sqlite3")})
    routes = table(app)
    public = sorted(rule for rule, route in routes.items() if route["requirement"] == "public")
    assert public == ["/health", "/health/ready"]
    assert routes["/me"]["requirement"] == "any valid token"
    assert run(app, "--fail-on-public").exit_code == 1
    result = run(app, "--fail-on-public", "--allow", "/health*")
    assert result.exit_code == 0, result.output


def test_the_docs_show_the_real_output_for_example_api(
    issuer: ForgedIssuer, tmp_path: Path
) -> None:
    """docs/cli.rst shows the routes of example_api: the lines after the command, up to
    the next prompt, are what the command prints (the page indents its code blocks)."""
    page = (Path(__file__).resolve().parent.parent / "docs" / "cli.rst").read_text("utf-8")
    command = "$ flask --app example_api:create_app claimguard routes --fail-on-public"
    lines = page[page.index(command) :].splitlines()[1:]
    shown = ""
    for line in lines:
        if line.lstrip().startswith("$ echo"):
            break
        shown += line.removeprefix("   ") + "\n"
    app = create_app({**issuer.config(), "EXAMPLE_API_DATABASE": str(tmp_path / "db.sqlite3")})
    assert run(app, "--fail-on-public", "--allow", "/health*").output == shown
