"""Policy packs: ``GET /api/packs`` (on offer, and where applied), ``GET /api/packs/{name}`` (the pack),
``/api/profiles/{id}/packs`` (applied to one profile) and ``/api/template-packs`` (applied to every profile, as
templates). Applying and taking off go through ``packs/apply.py`` like the console and the configuration file."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..extensions import db
from ..models import AppliedPack
from ..packs import catalog as pack_catalog  # the module: see packs/apply.py
from ..packs.apply import applied, apply_packs, packs_dir, remove_pack, resolve_profile
from . import api
from .common import json_body
from .errors import ApiError
from .schemas import AppliedPackSchema, PackApplySchema


def offered() -> list[dict[str, Any]]:
    """Every pack on offer, with where it is applied (``all_profiles``: the version applied to every profile, or
    None; ``profiles``: ``{profile_id, version}`` each)."""
    where: dict[str, dict[str, Any]] = {}
    for row in db.session.execute(select(AppliedPack).order_by(AppliedPack.created_at)).scalars():
        entry = where.setdefault(row.name, {"all_profiles": None, "profiles": []})
        if row.profile_id is None:
            entry["all_profiles"] = row.version
        else:
            entry["profiles"].append({"profile_id": row.profile_id, "version": row.version})
    return [{**pack.summary(), "applied": where.get(name, {"all_profiles": None, "profiles": []})}
            for name, pack in sorted(_catalog().items())]


def _catalog():
    try:
        return pack_catalog.catalog(packs_dir())
    except pack_catalog.PackError as exc:  # the folder changed since startup validated it
        raise ApiError(500, "pack_error", str(exc)) from None


@api.get("/packs")
def list_packs():
    return {"data": offered()}


@api.get("/packs/<name>")
def get_pack(name: str):
    pack = _catalog().get(name)
    if pack is None:
        raise ApiError(404, "not_found", f"Pack {name} does not exist: offered are {', '.join(sorted(_catalog()))}.")
    return {**pack.summary(), "document": pack.document()}


def _apply(profile_key: str | None):
    names = PackApplySchema().load(json_body())["packs"]
    try:
        rows = apply_packs(profile_key, names)
    except pack_catalog.PackError as exc:
        raise ApiError(400, "unknown_pack", str(exc)) from None
    return {"data": AppliedPackSchema(many=True).dump(rows)}


def _remove(profile_key: str | None, name: str):
    if not remove_pack(profile_key, name):
        where = f"profile {profile_key}" if profile_key else "every profile"
        raise ApiError(404, "not_found", f"Pack {name} is not applied to {where}.")
    return "", 204


def _profile(key: str) -> str:
    try:
        return resolve_profile(key) or key
    except pack_catalog.PackError as exc:
        raise ApiError(404, "not_found", str(exc)) from None


@api.get("/profiles/<item_id>/packs")
def list_profile_packs(item_id: str):
    return {"data": AppliedPackSchema(many=True).dump(applied(_profile(item_id)))}


@api.post("/profiles/<item_id>/packs")
def apply_profile_packs(item_id: str):
    return _apply(_profile(item_id))


@api.delete("/profiles/<item_id>/packs/<name>")
def remove_profile_pack(item_id: str, name: str):
    return _remove(_profile(item_id), name)


@api.get("/template-packs")
def list_template_packs():
    return {"data": AppliedPackSchema(many=True).dump(applied(None))}


@api.post("/template-packs")
def apply_template_packs():
    return _apply(None)


@api.delete("/template-packs/<name>")
def remove_template_pack(name: str):
    return _remove(None, name)


def describe(spec: Any, item_id: dict[str, Any], responses: Any, as_json: Any, list_of: Any) -> None:
    """The OpenAPI operations of these routes (api/openapi.py calls it)."""
    spec.components.schema("AppliedPack", schema=AppliedPackSchema)
    spec.components.schema("PackApply", schema=PackApplySchema)
    applied_list = as_json(list_of("AppliedPackList", AppliedPackSchema), "The packs applied there")
    body = {"required": True, "content": {"application/json": {"schema": "PackApply"}}}
    name = {"in": "path", "name": "name", "required": True, "schema": {"type": "string"}}
    tag = ["Pack"]
    spec.path(path="/packs", operations={"get": {
        "tags": tag, "summary": "The policy packs on offer (shipped and ARCHESTRA_PACKS_DIR), and where applied",
        "responses": responses({"200": {"description": "The packs"}})}})
    spec.path(path="/packs/{name}", parameters=[name], operations={"get": {
        "tags": tag, "summary": "One pack, with its document (the pack file's content)",
        "responses": responses({"200": {"description": "The pack"}}, 404)}})
    spec.path(path="/profiles/{item_id}/packs", parameters=[item_id], operations={
        "get": {"tags": tag, "responses": responses({"200": applied_list}, 404)},
        "post": {"tags": tag, "summary": "Apply packs to the profile (its own policies refine them)",
                 "requestBody": body, "responses": responses({"200": applied_list}, 400, 404)}})
    spec.path(path="/profiles/{item_id}/packs/{name}", parameters=[item_id, name], operations={"delete": {
        "tags": tag, "summary": "Take the pack off the profile",
        "responses": responses({"204": {"description": "Taken off"}}, 404)}})
    spec.path(path="/template-packs", operations={
        "get": {"tags": tag, "responses": responses({"200": applied_list})},
        "post": {"tags": tag, "summary": "Apply packs to every profile, as policy templates",
                 "requestBody": body, "responses": responses({"200": applied_list}, 400)}})
    spec.path(path="/template-packs/{name}", parameters=[name], operations={"delete": {
        "tags": tag, "summary": "Take the pack off every profile",
        "responses": responses({"204": {"description": "Taken off"}}, 404)}})
