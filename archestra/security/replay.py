"""Policy replay: the trust and tool-call decisions of recorded interactions, made again under candidate policies.

Each interaction's stored request is parsed back into an exchange by the API family of the route it came by (its
recorded path; for records older than the path, inferred from the provider and body), and its answer's tool
results and calls are read back: from the decisions recorded with the interaction where the stored answer cannot
show them (a stream, or an answer whose calls an enforced refusal replaced), else from the stored answer, plus the
calls its record says were refused. The built-in policy hooks then decide them twice, with the current policies
and with the candidate ones, exactly as the proxy would on that request: the request's results judged first, then
the provider-executed tools the request declares (one refused is removed from the request), then the answer's
results and calls in the order they came, the first refused call refusing the answer.

The candidate is a change to the current policies: ``global_policy``; ``add`` (profile policies: ``kind``,
``tool``, ``conditions``, ``action``, ``reason``, ``labels``); ``edit`` (``id`` of a profile or template policy and
the fields that change); ``remove`` (ids). Labels are decided again like trust (``add_labels`` on the results, the
label policies on the calls); a ``require_approval`` call counts as refused (awaiting approval): replay asks no one.
"""
from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any, Callable

from ..exchange import ClientInfo, Exchange, ProfileInfo, ToolCall, ToolResult
from ..hooks import Block
from ..providers import PROVIDERS
from ..routing import Route
from .hooks import SNAPSHOT, CallPolicy, ResultTrust
from .names import normalize_tool_name
from .policies import ProfilePolicies, Rule
from .response_chain import ResponseChain

_PROVIDERS = {provider.name: provider for provider in PROVIDERS}


class NotReplayable(Exception):
    """The interaction cannot be replayed (no stored body, an unknown provider...): it is reported as skipped."""


# -- the candidate ----------------------------------------------------------------------------------
def candidate(current: ProfilePolicies, changes: dict[str, Any]) -> ProfilePolicies:
    """``current`` with ``changes`` applied (see the module docstring)."""
    removed = set(changes.get("remove") or ())
    edits = {edit["id"]: edit for edit in changes.get("edit") or ()}

    def revise(rule: Rule) -> Rule | None:
        if rule.id in removed:
            return None
        edit = edits.get(rule.id)
        if edit is None:
            return rule
        fields = {key: edit[key] for key in ("action", "reason") if key in edit}
        for key in ("conditions", "labels"):
            if key in edit:
                fields[key] = tuple(edit[key] or ())
        return replace(rule, **fields)

    def by_tool(rules: dict[str, tuple[Rule, ...]], kind: str) -> dict[str, tuple[Rule, ...]]:
        out = {name: tuple(r for r in map(revise, own) if r is not None) for name, own in rules.items()}
        for added in changes.get("add") or ():
            if added["kind"] == kind:
                name = normalize_tool_name(added["tool"])
                out[name] = (*out.get(name, ()), Rule(tuple(added.get("conditions") or ()), added["action"],
                                                      added.get("reason"), "candidate",
                                                      labels=tuple(added.get("labels") or ())))
        return {name: own for name, own in out.items() if own}

    def templates(pairs: tuple[tuple[str, Rule], ...]) -> tuple[tuple[str, Rule], ...]:
        return tuple((pattern, rule) for pattern, rule in ((p, revise(r)) for p, r in pairs) if rule is not None)

    return replace(current, global_policy=changes.get("global_policy") or current.global_policy,
                   calls=by_tool(current.calls, "call"), results=by_tool(current.results, "result"),
                   call_templates=templates(current.call_templates),
                   result_templates=templates(current.result_templates), monitor=False)


#: The Model Router's fronts: the provider whose route (path) decided each client's exchanges.
ROUTER_FRONTS = {"openai_chat": ("openai", "chat/completions"), "responses": ("openai", "responses"),
                 "anthropic_messages": ("anthropic", "v1/messages")}


# -- one interaction --------------------------------------------------------------------------------
def recorded_route(provider: Any, body: dict[str, Any], model: str | None, path: str | None) -> tuple[Any, Route]:
    """The family and route the request came through: from its recorded path, else inferred from its provider
    and body (records written before the path was kept)."""
    route = provider.route("POST", path or _inferred_path(provider, body, model), {})
    if route is None or route.kind != "chat":
        raise NotReplayable(f"no chat route for {provider.name}")
    return route.family.for_body(body), route


def _inferred_path(provider: Any, body: dict[str, Any], model: str | None) -> str:
    if provider.name == "anthropic":
        return "v1/messages"
    if provider.name == "gemini":
        return f"v1beta/models/{model}:generateContent"
    if provider.name == "bedrock":
        return f"model/{model}/{'invoke' if 'anthropic_version' in body else 'converse'}"
    return "responses" if "input" in body and "messages" not in body else provider.chat_path


def _stored(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or "truncated" in value or "raw" in value:
        raise NotReplayable("its body was not stored whole")
    return value


class Replayer:
    """Decisions on recorded interactions (plain dicts of the ``interactions`` columns) under given policies."""

    def __init__(self, profiles: dict[str, ProfileInfo], chain: ResponseChain | None = None):
        self._profiles = profiles
        self._chain = chain

    def decide(self, row: dict[str, Any], policies: ProfilePolicies) -> dict[str, Any]:
        """What the policies refuse in this exchange: ``refused``, the refused call of the answer (``tool``,
        ``arguments``, ``reason``) or None, and ``removed``, the provider-executed tools taken out of the request
        (``tool``, ``reason`` each)."""
        exchange, groups = self._parse(row)
        exchange.state[SNAPSHOT] = policies
        trust = ResultTrust(None, sanitize=_summarised)  # type: ignore[arg-type]
        decide = CallPolicy(None)  # type: ignore[arg-type]
        for result in exchange.tool_results:
            _judge(trust, exchange, result)
        removed = []
        for tool in [t for t in exchange.tools if t.server]:
            try:
                decide(exchange, ToolCall(None, tool.name, tool.parameters or {}, server=True))
            except Block as block:
                removed.append({"tool": tool.name, "reason": block.reason})
        for results, calls in groups:
            for result in results:
                _judge(trust, exchange, result)
                exchange.answer_results.append(result)
            for call in calls:
                try:
                    decide(exchange, call)
                except Block as block:
                    return {"refused": {"tool": call.name, "arguments": call.arguments, "reason": block.reason},
                            "removed": removed}
        return {"refused": None, "removed": removed}

    def parse(self, row: dict[str, Any]) -> tuple[Exchange, list[tuple[list[ToolResult], list[ToolCall]]]]:
        """The recorded request as an exchange, and its answer's ``(results, calls)`` in order (policy tests make
        scenarios of them); raises :class:`NotReplayable`."""
        return self._parse(row)

    def _parse(self, row: dict[str, Any]) -> tuple[Exchange, list[tuple[list[ToolResult], list[ToolCall]]]]:
        # A Model Router exchange was decided by its client's family (its front), whatever provider answered.
        front = ROUTER_FRONTS.get(((row.get("router") or {}).get("front")) or "")
        provider = _PROVIDERS.get(front[0] if front else row["provider"])
        profile = self._profiles.get(row["profile_id"])
        if provider is None or profile is None:
            raise NotReplayable("its provider or profile is gone")
        body = _stored(row["request"])
        family, route = recorded_route(provider, body, row["model"], front[1] if front else row.get("path"))
        try:
            exchange = family.parse_request(json.loads(json.dumps(body)), route, profile, ClientInfo())
            if self._chain is not None:
                self._chain.continue_context(exchange)
            recorded = (row["flags"] or {}).get("answer_decisions")
            if isinstance(recorded, dict):  # too large to keep
                raise NotReplayable("its answer's decisions were too large to store")
            if recorded:
                groups = _recorded_groups(recorded)
            else:
                calls, results = _answer_calls(family, exchange, row)
                groups = [(results, calls)]
        except NotReplayable:
            raise
        except Exception as exc:  # noqa: BLE001 - a body the adapter cannot read again is reported, not fatal
            raise NotReplayable(f"its stored body could not be parsed ({exc.__class__.__name__})") from None
        return exchange, groups


def _recorded_groups(recorded: list[dict[str, Any]]) -> list[tuple[list[ToolResult], list[ToolCall]]]:
    """The answer's results and calls as the proxy decided them (metering/interactions.py ``answer_decisions``)."""
    return [([ToolResult(r["tool_call_id"], r["name"], r["content"], document=r["document"], server=r["server"],
                         _original=r["content"]) for r in group["results"]],
             [ToolCall(c["id"], c["name"], c["arguments"], c["raw_arguments"], freeform=c["freeform"],
                       server=c["server"]) for c in group["calls"]])
            for group in recorded]


def _answer_calls(family: Any, exchange: Exchange, row: dict[str, Any]) -> tuple[list[ToolCall], list[Any]]:
    calls: list[ToolCall] = []
    results: list[Any] = []
    response = row["response"]
    if row["stream"]:  # the answer rebuilt from the stream (exchange.Response); older records only
        for call in (response or {}).get("tool_calls") or ():
            calls.append(ToolCall(**{key: call.get(key) for key in ("id", "name", "arguments", "raw_arguments")},
                                  freeform=bool(call.get("freeform")), server=bool(call.get("server"))))
    elif response is not None:
        data = _stored(response)
        family.prepare_answer(data, exchange)
        for _key, group, *extra in family.tool_call_groups(data):
            calls += group
            for found in extra:
                results += found
    # Calls an enforced refusal took out of the answer, and those monitor mode let through, from the record.
    recorded = [*(row["blocked"] or ()), *((row["flags"] or {}).get("would_block") or ())]
    seen = {(call.name, json.dumps(call.arguments, sort_keys=True)) for call in calls}
    for entry in recorded:
        key = (entry["tool"], json.dumps(entry["arguments"], sort_keys=True))
        if key not in seen and not str(entry.get("reason", "")).endswith("removed from the request)"):
            seen.add(key)
            calls.append(ToolCall(None, entry["tool"], entry["arguments"]))
    return calls, results


def _judge(trust: ResultTrust, exchange: Exchange, result: Any) -> None:
    try:
        trust(exchange, result)
    except Block as block:
        result.blocked_reason, result.trusted = block.reason, False


def _summarised(exchange: Exchange, result: Any) -> None:
    """``sanitize_with_dual_llm``: the summary that would replace the result is trusted (no model is asked)."""
    result.trusted = True


# -- a whole replay ---------------------------------------------------------------------------------
def replay(rows: list[dict[str, Any]], current: Callable[[str], ProfilePolicies], changes: dict[str, Any],
           replayer: Replayer, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """The report: per interaction whose outcome changes, what the current and the candidate policies refuse
    (``current`` / ``candidate``: the refused call or None; ``removed_server_tools`` when provider-executed tools
    are taken out of the request), with totals (``newly_blocked``, ``newly_allowed``, ``changed_reason``,
    ``unchanged``, ``skipped``). ``progress`` is told how many rows are done, before each row."""
    totals = {"interactions": len(rows), "newly_blocked": 0, "newly_allowed": 0, "changed_reason": 0,
              "unchanged": 0, "skipped": 0}
    entries: list[dict[str, Any]] = []
    policies: dict[str, tuple[ProfilePolicies, ProfilePolicies]] = {}
    for done, row in enumerate(rows):
        time.sleep(0)  # under gevent the job is a greenlet of a serving worker: let requests in between
        if progress is not None:
            progress(done)
        if row["profile_id"] not in policies:
            now = current(row["profile_id"])
            policies[row["profile_id"]] = (now, candidate(now, changes))
        now, then = policies[row["profile_id"]]
        try:
            before, after = replayer.decide(row, now), replayer.decide(row, then)
        except NotReplayable as why:
            totals["skipped"] += 1
            entries.append({**_ident(row), "change": "skipped", "why": str(why)})
            continue
        change = _change(before, after)
        totals[change] += 1
        if change != "unchanged":
            entry = {**_ident(row), "change": change, "current": before["refused"], "candidate": after["refused"]}
            if before["removed"] or after["removed"]:
                entry["removed_server_tools"] = {"current": before["removed"], "candidate": after["removed"]}
            entries.append(entry)
    return {"totals": totals, "interactions": entries}


def _change(before: dict[str, Any], after: dict[str, Any]) -> str:
    """``newly_blocked``: nothing was refused and something is; ``newly_allowed``: the reverse; else the refusals
    differ (``changed_reason``) or not (``unchanged``)."""
    if before == after:
        return "unchanged"
    refused_before = before["refused"] is not None or bool(before["removed"])
    refused_after = after["refused"] is not None or bool(after["removed"])
    if refused_before != refused_after:
        return "newly_blocked" if refused_after else "newly_allowed"
    return "changed_reason"


def _ident(row: dict[str, Any]) -> dict[str, Any]:
    created = row["created_at"]
    return {"interaction_id": row["id"], "profile_id": row["profile_id"], "provider": row["provider"],
            "model": row["model"], "stream": row["stream"],
            "created_at": created.isoformat() if hasattr(created, "isoformat") else created}
