"""The policy packs on offer: the shipped ones (``archestra/packs/*.yaml``) and the operator's own
(``ARCHESTRA_PACKS_DIR``), read and validated once per folder.

A pack file is ``{pack, version, description, tools}``; ``tools`` is the configuration file's profile ``tools``
list: ``{name, description?, call_policies?, result_policies?}`` per tool (a name may be a glob such as
``mcp__github__*``), each policy exactly what the management API accepts for a policy (validated by the same
marshmallow schemas, so an action the API refuses is refused here too). A bad file is a startup error naming the
file and the place in it. An operator's pack may not reuse a shipped pack's name.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from marshmallow import ValidationError

from ..api.schemas import ToolCallPolicySchema, ToolResultPolicySchema
from ..config import ConfigError

SHIPPED = Path(__file__).resolve().parent
NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_TOP = {"pack", "version", "description", "tools"}
_TOOL = {"name", "description", "call_policies", "result_policies"}
_SCHEMAS = {"call_policies": ToolCallPolicySchema(exclude=("tool_id",)),
            "result_policies": ToolResultPolicySchema(exclude=("tool_id",))}


class PackError(ConfigError):
    """A pack file that cannot be used (startup error), or a pack name nobody offers."""


@dataclass(frozen=True)
class Pack:
    name: str
    version: str
    description: str
    #: The profile ``tools`` shape, policies as the API schemas loaded them.
    tools: tuple[dict[str, Any], ...]
    #: "shipped" or the operator's file path.
    origin: str

    def summary(self) -> dict[str, Any]:
        calls = sum(len(tool.get("call_policies", ())) for tool in self.tools)
        results = sum(len(tool.get("result_policies", ())) for tool in self.tools)
        return {"name": self.name, "version": self.version, "description": self.description,
                "origin": self.origin, "tools": len(self.tools), "call_policies": calls,
                "result_policies": results}

    def document(self) -> dict[str, Any]:
        """The pack in its file format (what is stored when it is applied)."""
        return {"pack": self.name, "version": self.version, "description": self.description,
                "tools": [dict(tool) for tool in self.tools]}


def parse_pack(text: str, where: str, origin: str = "shipped") -> Pack:
    """A pack from its YAML ``text``; ``where`` names it in errors."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PackError(f"{where}: not YAML: {exc}") from None
    return pack_from_document(data, where, origin)


def pack_from_document(data: Any, where: str, origin: str = "shipped") -> Pack:
    """A pack from its loaded document (a file's, or one stored when it was applied)."""
    if not isinstance(data, dict):
        raise PackError(f"{where}: a pack is a mapping with keys {', '.join(sorted(_TOP))}")
    extra, missing = set(data) - _TOP, {"pack", "version", "tools"} - set(data)
    if extra or missing:
        raise PackError(f"{where}: " + "; ".join(
            [f"unknown key(s) {', '.join(sorted(map(str, extra)))}"] * bool(extra) +
            [f"missing key(s) {', '.join(sorted(missing))}"] * bool(missing)))
    name = data["pack"]
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise PackError(f"{where}: pack: a name of lower-case letters, digits and '-', got {name!r}")
    version, description = data["version"], data.get("description") or ""
    if not isinstance(version, str) or not version.strip():
        raise PackError(f"{where}: version: a string such as \"1.0.0\", got {version!r}")
    if not isinstance(description, str):
        raise PackError(f"{where}: description: a string")
    tools = data["tools"]
    if not isinstance(tools, list) or not tools:
        raise PackError(f"{where}: tools: a non-empty list")
    seen: set[str] = set()
    loaded = []
    for index, tool in enumerate(tools):
        place = f"{where}: tools[{index}]"
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str) or not tool["name"].strip():
            raise PackError(f"{place}: a mapping with a tool name")
        if set(tool) - _TOOL:
            unknown = ", ".join(sorted(map(str, set(tool) - _TOOL)))
            raise PackError(f"{place} ({tool['name']}): unknown key(s) {unknown}")
        if tool["name"] in seen:
            raise PackError(f"{place}: {tool['name']} is listed twice")
        seen.add(tool["name"])
        entry: dict[str, Any] = {"name": tool["name"]}
        if tool.get("description"):
            entry["description"] = str(tool["description"])
        for kind, schema in _SCHEMAS.items():
            policies = tool.get(kind) or []
            if not isinstance(policies, list):
                raise PackError(f"{place} ({tool['name']}).{kind}: a list")
            try:
                entry[kind] = [schema.load(policy) for policy in policies]
            except ValidationError as exc:
                raise PackError(f"{place} ({tool['name']}).{kind}: {exc.messages}") from None
        loaded.append(entry)
    return Pack(name, version.strip(), description.strip(), tuple(loaded), origin)


@lru_cache(maxsize=8)
def catalog(packs_dir: str | None = None) -> dict[str, Pack]:
    """Every pack on offer by name: the shipped ones, then the operator's folder's (``*.yaml``, ``*.yml``)."""
    packs: dict[str, Pack] = {}
    folders = [(SHIPPED, "shipped")] + ([(Path(packs_dir), "operator")] if packs_dir else [])
    for folder, kind in folders:
        if not folder.is_dir():
            raise PackError(f"ARCHESTRA_PACKS_DIR: {folder} is not a folder")
        for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            pack = parse_pack(path.read_text(encoding="utf-8"), str(path),
                              "shipped" if kind == "shipped" else str(path))
            if pack.name in packs:
                raise PackError(f"{path}: pack {pack.name} is already offered by {packs[pack.name].origin}")
            packs[pack.name] = pack
    return packs


def find(names: list[str] | tuple[str, ...], packs_dir: str | None = None) -> list[Pack]:
    """The packs named (each once, in order); a name nobody offers is a PackError that lists the offered."""
    offered = catalog(packs_dir)
    unknown = [name for name in names if name not in offered]
    if unknown:
        raise PackError(f"unknown pack(s) {', '.join(map(repr, unknown))}: offered are {', '.join(sorted(offered))}")
    return [offered[name] for name in dict.fromkeys(names)]
