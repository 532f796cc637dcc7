"""The products routes and their role matrix (viewer < editor < admin)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import Response
from flask import abort
from flask import current_app
from flask import jsonify
from flask import request
from flask import url_for

from claimguard import current_token
from claimguard import requires_any_role
from claimguard import requires_auth
from claimguard import requires_role

from .schema import InvalidBody
from .schema import validate_product
from .storage import ProductStore

bp = Blueprint("products", __name__)

READERS = ("viewer", "editor", "admin")
WRITERS = ("editor", "admin")
DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def _store() -> ProductStore:
    store: ProductStore = current_app.extensions["example_api.store"]
    return store


def _json_body() -> Any:
    """The request's JSON body. Runs only after authorization (DESIGN §7)."""
    if not request.is_json:
        abort(415, description="Send the body as application/json.")
    body = request.get_json(silent=True)
    if body is None:
        abort(400, description="The body is not valid JSON.")
    return body


def _query_int(name: str, default: int, low: int, high: int | None) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or len(raw) > 9:
        raise InvalidBody({name: "must be a non-negative integer"})
    value = int(raw)
    if value < low:
        raise InvalidBody({name: f"must be at least {low}"})
    return min(value, high) if high is not None else value


@bp.get("/health")
def health() -> dict[str, str]:
    """Liveness: public, no token needed."""
    return {"status": "ok"}


@bp.get("/me")
@requires_auth
def me() -> dict[str, Any]:
    return {
        "sub": current_token.subject,
        "roles": sorted(current_token.roles),
        "scopes": sorted(current_token.scopes),
        "permissions": sorted(current_token.permissions),
    }


@bp.get("/products")
@requires_any_role(*READERS)
def list_products() -> dict[str, Any]:
    limit = _query_int("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _query_int("offset", 0, 0, None)
    items, total = _store().list(limit, offset)
    return {"items": items, "limit": limit, "offset": offset, "total": total}


@bp.get("/products/<int(max=9223372036854775807):product_id>")
@requires_any_role(*READERS)
def get_product(product_id: int) -> dict[str, Any]:
    product = _store().get(product_id)
    if product is None:
        abort(404, description="No product with this id.")
    return product


@bp.post("/products")
@requires_any_role(*WRITERS)
def create_product() -> tuple[Response, int, dict[str, str]]:
    fields = validate_product(_json_body())
    product = _store().create(fields)
    location = url_for("products.get_product", product_id=product["id"])
    return jsonify(product), 201, {"Location": location}


@bp.put("/products/<int(max=9223372036854775807):product_id>")
@requires_any_role(*WRITERS)
def replace_product(product_id: int) -> dict[str, Any]:
    return _update(product_id, validate_product(_json_body()))


@bp.patch("/products/<int(max=9223372036854775807):product_id>")
@requires_any_role(*WRITERS)
def patch_product(product_id: int) -> dict[str, Any]:
    return _update(product_id, validate_product(_json_body(), partial=True))


def _update(product_id: int, fields: dict[str, Any]) -> dict[str, Any]:
    product = _store().update(product_id, fields)
    if product is None:
        abort(404, description="No product with this id.")
    return product


@bp.delete("/products/<int(max=9223372036854775807):product_id>")
@requires_role("admin")
def delete_product(product_id: int) -> tuple[str, int]:
    if not _store().delete(product_id):
        abort(404, description="No product with this id.")
    return "", 204
