"""The one error shape of the management API: ``{"error": {"code", "message", "details"}}``."""
from __future__ import annotations

from typing import Any

from flask import jsonify
from marshmallow import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from . import api


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def error_json(status: int, code: str, message: str, details: Any = None):
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return jsonify(error=body), status


@api.errorhandler(ApiError)
def _api_error(error: ApiError):
    return error_json(error.status, error.code, error.message, error.details)


@api.errorhandler(ValidationError)
def _validation_error(error: ValidationError):
    return error_json(400, "validation_error", "The request body is invalid.", error.messages)


@api.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    code = (error.name or "error").lower().replace(" ", "_")
    return error_json(error.code or 500, code, error.description or error.name)


@api.errorhandler(SQLAlchemyError)
def _database_error(error: SQLAlchemyError):
    from ..extensions import db

    db.session.rollback()
    return error_json(503, "database_unavailable", "The database cannot be reached; try again shortly.")
