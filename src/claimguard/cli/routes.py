"""``flask claimguard routes``: what each URL rule requires.

``routes`` lists every URL rule with its methods and what it requires, read from the
view Flask registered for the rule (a decorator applied after ``@app.get`` wraps a
function Flask never calls, so the route shows as public) and from the guards
:meth:`ClaimGuard.protect <claimguard.ClaimGuard.protect>` put on its blueprints.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import click
from flask import Flask

from ..decorators import MARKER
from ..requirements import Requirement
from .app import cli
from .app import guarded_app

__all__ = ["RouteInfo", "describe", "route_layers", "route_table"]

#: Methods Flask adds to every rule, left out of the listing.
_IMPLICIT_METHODS = frozenset({"HEAD", "OPTIONS"})
#: The requirement shown for Flask's static-file endpoints (the app's ``static`` and a
#: blueprint's ``<name>.static``) that nothing protects: static files are public by
#: design, so ``--fail-on-public`` does not count them.
STATIC = "static files"
PUBLIC = "public"


@dataclass(frozen=True)
class RouteInfo:
    """One URL rule and what it requires."""

    rule: str
    endpoint: str
    methods: tuple[str, ...]
    requirement: str

    @property
    def public(self) -> bool:
        return self.requirement == PUBLIC

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "endpoint": self.endpoint,
            "methods": list(self.methods),
            "requirement": self.requirement,
        }


#: One check a request goes through: requirements, optional, the route's DPoP mode.
Layer = tuple[tuple[Requirement, ...], bool, str | None]


def _marker(function: object) -> Layer | None:
    marker = getattr(function, MARKER, None)
    if isinstance(marker, tuple) and len(marker) == 3:
        return tuple(marker[0]), bool(marker[1]), marker[2]
    return None


def _blueprint_names(endpoint: str) -> list[str | None]:
    """The keys of ``before_request_funcs`` that run for ``endpoint``, as Flask's
    ``preprocess_request`` reads them: the app's, then each enclosing blueprint's."""
    names: list[str | None] = [None]
    if "." in endpoint:
        parts = endpoint.rpartition(".")[0].split(".")
        names.extend(".".join(parts[:index]) for index in range(1, len(parts) + 1))
    return names


def route_layers(app: Flask, endpoint: str) -> list[Layer]:
    """Every check a request to ``endpoint`` goes through: blueprint guards, then the
    view's own decorators."""
    layers = []
    for name in _blueprint_names(endpoint):
        for function in app.before_request_funcs.get(name, ()):
            marker = _marker(function)
            if marker is not None:
                layers.append(marker)
    view = _marker(app.view_functions.get(endpoint))
    if view is not None:
        layers.append(view)
    return layers


def _describe_requirement(requirement: Requirement) -> str:
    which = "all of" if requirement.match == "all" else "any of"
    return f"{requirement.kind}: {which} [{', '.join(requirement.required)}]"


def describe(layers: Iterable[Layer]) -> str:
    """A route's requirement in words: ``public``, ``optional token``, ``any valid
    token`` or its roles / scopes / permissions (``;`` between them, all apply), and a
    DPoP mode set on the route (``DPoP required``)."""
    layers = list(layers)
    if not layers:
        return PUBLIC
    requirements = [requirement for checks, _, _ in layers for requirement in checks]
    if requirements:
        text = "; ".join(dict.fromkeys(_describe_requirement(r) for r in requirements))
    elif all(optional for _, optional, _ in layers):
        text = "optional token"
    else:
        text = "any valid token"
    modes = [dpop for _, _, dpop in layers if dpop is not None]
    return f"{text}; DPoP {modes[0]}" if modes else text


def _is_static(app: Flask, endpoint: str) -> bool:
    if endpoint == "static":
        return True
    blueprint, _, name = endpoint.rpartition(".")
    return name == "static" and blueprint in app.blueprints


def route_table(app: Flask) -> list[RouteInfo]:
    """Every URL rule of ``app``, sorted by rule, with its methods and requirement."""
    routes = []
    for rule in app.url_map.iter_rules():
        layers = route_layers(app, rule.endpoint)
        static = not layers and _is_static(app, rule.endpoint)
        requirement = STATIC if static else describe(layers)
        methods = tuple(sorted(set(rule.methods or ()) - _IMPLICIT_METHODS))
        routes.append(RouteInfo(rule.rule, rule.endpoint, methods, requirement))
    return sorted(routes, key=lambda route: (route.rule, route.endpoint))


@cli.command("routes")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.option(
    "--fail-on-public",
    is_flag=True,
    help="Exit 1 when a route is public and no --allow pattern matches it.",
)
@click.option(
    "--allow",
    "allowed",
    multiple=True,
    metavar="PATTERN",
    help="A rule that may be public (shell-style pattern, e.g. '/health*'); repeatable.",
)
def routes_command(as_json: bool, fail_on_public: bool, allowed: tuple[str, ...]) -> None:
    """Every URL rule with its methods and its requirement."""
    app, _ = guarded_app()
    table = route_table(app)
    if as_json:
        click.echo(json.dumps([route.as_dict() for route in table], indent=2))
    else:
        rule_width = max((len(route.rule) for route in table), default=4)
        method_width = max((len(",".join(route.methods)) for route in table), default=7)
        for route in table:
            methods = ",".join(route.methods)
            click.echo(
                f"{route.rule:<{rule_width}}  {methods:<{method_width}}  {route.requirement}"
            )
    if fail_on_public:
        open_routes = [
            route
            for route in table
            if route.public and not any(fnmatch.fnmatchcase(route.rule, p) for p in allowed)
        ]
        if open_routes:
            listed = ", ".join(f"{route.rule} ({route.endpoint})" for route in open_routes)
            raise click.ClickException(f"public routes not allowed by --allow: {listed}")
