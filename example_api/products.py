"""The products routes and their role matrix (viewer < editor < admin).

Order of checks on every route: the token and the role first (a caller without the role
gets 403 whatever the body or headers; only a path no product could have, such as
``/products/abc``, is a 404 before it), then the request's own headers, then existence
(404), then the ``If-Match`` precondition (412), then the body (400), then the write.
RFC 9110 §13.2.1 puts a precondition after the checks that need no body and before the
body is processed.

Each single-product answer (``GET``, ``POST`` 201, ``PUT``, ``PATCH``) carries the
product's strong ``ETag`` (:mod:`example_api.etags`); ``PUT``, ``PATCH`` and ``DELETE``
honour ``If-Match``. The list answer carries no ETags: read a product before a
conditional write.
"""

from __future__ import annotations

from typing import Any
from typing import NoReturn

from flask import Blueprint
from flask import Response
from flask import abort
from flask import current_app
from flask import jsonify
from flask import request
from flask import url_for
from flask.blueprints import BlueprintSetupState
from werkzeug.routing import BaseConverter

from claimguard import current_token
from claimguard import requires_any_role
from claimguard import requires_auth
from claimguard import requires_role

from .body import read_json_body
from .etags import IF_MATCH
from .etags import IfMatch
from .etags import etag
from .etags import parse_if_match
from .query import IntParameter
from .query import read_ints
from .schema import validate_product
from .storage import Precondition
from .storage import PreconditionFailed
from .storage import ProductStore

bp = Blueprint("products", __name__)

READERS = ("viewer", "editor", "admin")
WRITERS = ("editor", "admin")
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
LIMIT = IntParameter("limit", DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
OFFSET = IntParameter("offset", 0)
NOT_FOUND = "No product with this id."
PRECONDITION_FAILED = (
    "The product has changed since the ETag you sent (If-Match): read it again "
    "(RFC 9110 section 13.1.1)."
)


class ProductIdConverter(BaseConverter):
    """``<product_id:...>``: 1 to 19 ASCII digits.

    Werkzeug's ``int`` converter matches ``\\d+``, which in Python also matches the
    digits of other scripts (U+0661, ARABIC-INDIC DIGIT ONE). Anything else is no route:
    a JSON 404 before any token check, which reveals nothing since no product could
    have such an id. This converter never raises ``ValidationError``: Werkzeug answers
    that with 405 and an ``Allow`` header for all but the first method of the URL.
    Ids of 19 digits above the largest 64-bit integer reach the store, which finds no
    product for them (404 after the role check, like any missing id).
    """

    regex = r"[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: Any) -> str:
        return str(int(value))


@bp.record_once
def _register_converter(state: BlueprintSetupState) -> None:
    # Recorded before the routes below, so the converter exists when they are added.
    state.app.url_map.converters["product_id"] = ProductIdConverter


#: The URL of one product, for every method that addresses one.
PRODUCT = "/products/<product_id:product_id>"


def _store() -> ProductStore:
    store: ProductStore = current_app.extensions["example_api.store"]
    return store


def _representation(product: dict[str, Any]) -> dict[str, Any]:
    """A product as clients see it: the row without its version (that is the ETag)."""
    return {name: value for name, value in product.items() if name != "version"}


def _answer(product: dict[str, Any], status: int = 200) -> Response:
    """One product as JSON with its ETag (RFC 9110 §8.8.3)."""
    response = jsonify(_representation(product))
    response.status_code = status
    response.headers["ETag"] = etag(product["id"], product["version"])
    return response


def _if_match() -> Precondition | None:
    """The request's ``If-Match`` as a condition on a stored row, ``None`` without one.

    :raises InvalidHeader: a malformed ``If-Match`` (400).
    """
    condition: IfMatch | None = parse_if_match(request.headers.getlist(IF_MATCH))
    if condition is None:
        return None

    def holds(row: dict[str, Any]) -> bool:
        return condition.matches(etag(row["id"], row["version"]))

    return holds


def _precondition_failed() -> NoReturn:
    abort(412, description=PRECONDITION_FAILED)


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
    limit, offset = read_ints(request.args, LIMIT, OFFSET)
    items, total = _store().list(limit, offset)
    return {
        "items": [_representation(item) for item in items],
        "limit": limit,
        "offset": offset,
        "total": total,
    }


@bp.get(PRODUCT)
@requires_any_role(*READERS)
def get_product(product_id: int) -> Response:
    product = _store().get(product_id)
    if product is None:
        abort(404, description=NOT_FOUND)
    return _answer(product)


@bp.post("/products")
@requires_any_role(*WRITERS)
def create_product() -> Response:
    fields = validate_product(read_json_body())
    product = _store().create(fields)
    response = _answer(product, 201)
    response.headers["Location"] = url_for("products.get_product", product_id=product["id"])
    return response


@bp.put(PRODUCT)
@requires_any_role(*WRITERS)
def replace_product(product_id: int) -> Response:
    return _update(product_id, partial=False)


@bp.patch(PRODUCT)
@requires_any_role(*WRITERS)
def patch_product(product_id: int) -> Response:
    return _update(product_id, partial=True)


def _update(product_id: int, *, partial: bool) -> Response:
    """PUT and PATCH: header, existence and precondition, body, then the atomic write.

    The first existence and precondition check answers 404 or 412 before the body is
    read (RFC 9110 §13.2.1); the write checks the precondition again in its own
    transaction, which is what makes it safe against a concurrent editor.
    """
    precondition = _if_match()
    current = _store().get(product_id)
    if current is None:
        abort(404, description=NOT_FOUND)
    if precondition is not None and not precondition(current):
        _precondition_failed()
    fields = validate_product(read_json_body(), partial=partial)
    try:
        product = _store().update(product_id, fields, precondition)
    except PreconditionFailed:
        _precondition_failed()
    if product is None:
        abort(404, description=NOT_FOUND)
    return _answer(product)


@bp.delete(PRODUCT)
@requires_role("admin")
def delete_product(product_id: int) -> tuple[str, int]:
    precondition = _if_match()
    try:
        deleted = _store().delete(product_id, precondition)
    except PreconditionFailed:
        _precondition_failed()
    if not deleted:
        abort(404, description=NOT_FOUND)
    return "", 204
