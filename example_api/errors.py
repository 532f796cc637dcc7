"""JSON for every error the API can answer: never an HTML page, never a stack trace.

Input errors name what is wrong, field by field, under one code per part of the request:
``invalid_query`` (query string), ``invalid_header`` (e.g. ``If-Match``) and
``invalid_body`` (the JSON body), each ``400 {"error": code, "fields": {name: why}}``.
Names echoed back are cut and cleaned (:func:`example_api.schema.echoable`); values
never are, and nothing a client sent is ever copied into a response header.
"""

from __future__ import annotations

import logging

from flask import Flask
from flask import Response
from flask import jsonify
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import InternalServerError

from .schema import InvalidInput

log = logging.getLogger("example_api")

_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def register(app: Flask) -> None:
    """Render HTTP errors and input validation errors as JSON."""

    @app.errorhandler(InvalidInput)
    def invalid_input(error: InvalidInput) -> tuple[Response, int]:
        return jsonify(error=error.error, fields=error.fields), 400

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        response = error.get_response()
        body = jsonify(
            error=_CODES.get(status, "http_error"),
            error_description=error.description or error.name,
        )
        body.status_code = status
        for name in ("Allow", "Retry-After"):
            if name in response.headers:
                body.headers[name] = response.headers[name]
        return body

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> tuple[Response, int]:
        if isinstance(error, HTTPException):  # pragma: no cover - handled above
            return http_error(error), error.code or 500
        log.exception("unhandled error")
        wrapped = InternalServerError()
        return jsonify(error="server_error", error_description=wrapped.description), 500
