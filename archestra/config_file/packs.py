"""Policy packs in the configuration file (docs/configuration-as-code.md, docs/packs.md): ``packs:`` at the top
(applied to every profile, as templates) and in a profile (applied to that profile).

A ``packs:`` key that is present (even empty) is owned whole: ``apply`` takes off the packs applied there that it
does not list; absent, the packs applied there are not managed. In a state, ``packs`` holds the names (None: not
managed) and ``pack_documents`` the pack files they stand for, by name: for a file's state the versions on offer
(the shipped packs and ``ARCHESTRA_PACKS_DIR``), for the database's the versions stored when they were applied.
``plan`` shows a pack to apply, to take off, or to bring to the version on offer (``apply_packs`` stores the
version on offer each time it applies a pack).
"""
from __future__ import annotations

import json
import re
from typing import Any, Iterable

from ..packs import catalog
from .source import Path, Source


def packs_dir() -> str | None:
    """The operator's pack folder from the validated settings: the running app's, else (the command line before
    it opens the database, ``validate``, ``test --config``) the ones the environment gives."""
    from flask import has_app_context

    if has_app_context():
        from ..packs.apply import packs_dir as app_packs_dir

        return app_packs_dir()
    from ..config import load_settings

    return load_settings().packs_dir


def expand_packs(state: dict[str, Any], source: Source) -> dict[str, Any]:
    """Check every pack the file names (an unknown one is an error at its line) and attach the packs on offer
    (``pack_documents``) to the top of the state and to each profile that names packs."""
    data = source.data if isinstance(source.data, dict) else {}
    try:
        offered = catalog.catalog(packs_dir())
    except catalog.PackError as exc:  # ARCHESTRA_PACKS_DIR holds a file that cannot be used
        for path in _named_places(data):
            source.error(path, str(exc))
        return state
    names = ", ".join(sorted(offered))

    def documents(listed: Any, path: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for index, name in enumerate(listed if isinstance(listed, list) else ()):
            if not isinstance(name, str) or not name:
                continue  # already reported by file_format
            if name not in offered:
                source.error(path + (index,), f"unknown pack {name!r}; offered are {names} (and the packs of "
                                              "ARCHESTRA_PACKS_DIR)")
            elif name in out:
                source.error(path + (index,), f"pack {name!r} is listed twice")
            else:
                out[name] = offered[name].document()
        return out

    if "packs" in data:
        state["pack_documents"] = documents(data["packs"], ("packs",))
    raw_profiles = data.get("profiles") if isinstance(data.get("profiles"), list) else []
    # Called once the file is valid: the state's profiles are the file's, in its order.
    for index, (entry, profile) in enumerate(zip(raw_profiles, state.get("profiles") or ())):
        if "packs" in entry:
            profile["pack_documents"] = documents(entry["packs"], ("profiles", index, "packs"))
    return state


def _named_places(data: dict[str, Any]) -> list[Path]:
    places: list[Path] = [("packs",)] if data.get("packs") else []
    for index, entry in enumerate(data.get("profiles") if isinstance(data.get("profiles"), list) else ()):
        if isinstance(entry, dict) and entry.get("packs"):
            places.append(("profiles", index, "packs"))
    return places


# -- plan and apply --------------------------------------------------------------------------------
def _version(text: str) -> tuple:
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"[.+-]", str(text)))


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def pack_diff(desired: list[str], desired_docs: dict[str, Any], current: Iterable[str],
              current_docs: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(op, pack, detail)`` for the packs of one place: to apply (``create``), to take off (``delete``), to bring
    to the version on offer (``change``: an upgrade, or the pack's content changed under the same version)."""
    current = list(current)
    out = []
    for name in desired:
        document = desired_docs.get(name) or {}
        if name not in current:
            out.append(("create", name, f"version {document.get('version')}"))
            continue
        old = current_docs.get(name) or {}
        if not _same(old, document):
            before, after = old.get("version"), document.get("version")
            if before == after:
                verb = "new content under the same version"
            else:
                verb = "upgrade" if _version(str(after)) > _version(str(before)) else "downgrade"
            out.append(("change", name, f"{verb}: {before} -> {after}"))
    for name in current:
        if name not in desired:
            out.append(("delete", name, f"version {(current_docs.get(name) or {}).get('version')}"))
    return out
