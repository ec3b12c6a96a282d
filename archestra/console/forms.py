"""Form posts turned into the JSON bodies the management API's schemas load, and the schemas' errors turned
back into messages next to the fields they are about."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from marshmallow import ValidationError

from ..api.errors import ApiError
from ..extensions import db

#: ``<select>`` values of a setting that may also follow the global one.
FOLLOW = ""


def text(form: Mapping[str, str], name: str) -> str | None:
    """A text field, stripped; an empty field is None (the schema then applies its default or refuses)."""
    value = (form.get(name) or "").strip()
    return value or None


def checkbox(form: Mapping[str, str], name: str) -> bool:
    return form.get(name) == "on"


def choice(form: Mapping[str, str], name: str) -> Any:
    """A ``<select>``: ``""`` follows the global setting (None); ``true`` / ``false`` are booleans."""
    value = form.get(name, FOLLOW)
    return {"": None, "true": True, "false": False}.get(value, value)


def conditions(form: Any) -> list[dict[str, str]]:
    """The rows of the conditions builder (``cond_key``, ``cond_operator``, ``cond_value`` repeated); a row with
    neither an operator nor a value is an unused blank row."""
    rows = zip(form.getlist("cond_key"), form.getlist("cond_operator"), form.getlist("cond_value"))
    return [{"key": key.strip(), "operator": operator, "value": value} for key, operator, value in rows
            if operator or value.strip()]


def labels(form: Mapping[str, str], name: str = "labels") -> list[str]:
    """A comma-separated labels field (``confidential, customer-data``) as a list; blank: none."""
    return [part.strip() for part in (form.get(name) or "").split(",") if part.strip()]


@dataclass
class Outcome:
    """What a change through the shared domain code gave: its value, or errors by field (``_form`` for errors
    about the whole form; ``conditions.<row>`` for one row of the conditions builder)."""

    value: Any = None
    errors: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def attempt(change: Callable[[], Any]) -> Outcome:
    """Run ``change``; a validation error (marshmallow) or a refusal (ApiError) becomes field errors."""
    try:
        return Outcome(change())
    except ValidationError as exc:
        db.session.rollback()
        return Outcome(errors=flatten(exc.messages))
    except ApiError as exc:
        db.session.rollback()
        return Outcome(errors={"_form": [exc.message]})


def flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages as ``{"field": [...], "conditions.0": [...]}``."""
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = prefix if key == "_schema" else f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, dict):
                for sub, texts in flatten(value, name).items():
                    out.setdefault(sub, []).extend(texts)
            else:
                out.setdefault(name or "_form", []).extend(_texts(value))
    else:
        out.setdefault(prefix or "_form", []).extend(_texts(messages))
    return out


def _texts(value: Any) -> list[str]:
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    return [str(value)]


def row_errors(errors: dict[str, list[str]], prefix: str, index: int) -> list[str]:
    """The errors of row ``index`` of a list field, its members' included (``conditions.0.value``)."""
    row = f"{prefix}.{index}"
    return [text for name, texts in errors.items() if name == row or name.startswith(row + ".") for text in texts]
