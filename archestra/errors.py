"""App-level HTTP errors (routing 404/405, and anything no blueprint handled): always JSON, no HTML."""
from __future__ import annotations

from flask import Flask, request
from werkzeug.exceptions import HTTPException

from .api.errors import error_json


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        status = error.code or 500
        code = (error.name or "error").lower().replace(" ", "_")
        if request.path.startswith("/api/") or request.path == "/api":
            return error_json(status, code, error.description or error.name)
        # Outside the API, an OpenAI-like shape: the most widely understood error body.
        return {"error": {"message": error.description or error.name, "type": code, "param": None,
                          "code": code}}, status
