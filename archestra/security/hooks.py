"""The built-in security hooks, registered ahead of operators' hooks in the same registry.

* tool discovery (``on_request``): every declared tool is recorded for the profile, off the request path;
* tool result trust (``on_tool_result``): untrusted unless a policy marks the result trusted (permissive:
  trusted unless a policy says otherwise);
* tool call policies (``on_tool_call``): in a trusted context calls pass unless ``block_always`` matches; in an
  untrusted context a call is blocked unless an ``allow_when_context_is_untrusted`` policy matches (permissive:
  unless a ``block_*`` policy matches).
* data labels: ``add_labels`` result policies label results (the context holds their labels), and
  ``block_when_context_has_labels`` / ``block_unless_context_has_labels`` call policies refuse calls by them;
  ``require_approval`` holds a call back until a person approves it (``labels.py``, ``approvals.py``). These
  apply whenever their conditions hold, beside the trust and allow decision (deny overrides).

Tool names are compared after normalisation (case, surrounding whitespace, Unicode confusables); a call to a
member of a toolset (``ToolCall.toolset``) is decided by the member's policies and the toolset's together.

Among the policies of one tool, those whose conditions match win over the tool's default (no conditions),
except that a matching ``block_always`` always applies; among several matching, the most restrictive action
wins. A grant (``mark_as_trusted``, ``allow_when_context_is_untrusted``) holds only when its conditions hold
on every value they reach; a restriction holds when they hold on any (``docs/policy-precedence.md``).
"""
from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select

from ..exchange import Exchange, ToolCall, ToolResult
from ..hooks import Block, HookRegistry
from ..models import Tool
from ..recorder import Recorder
from .approvals import ApprovalGate
from .conditions import UNREADABLE, parse_result
from .explain import UNSEEN_CONTEXT, UNTRUSTED_BY_POLICY, UNTRUSTED_CONTEXT, untrusted_details, untrusted_reason
from .labels import label_block
from .names import normalize_tool_name
from .policies import (ADD_LABELS, BLOCK_ALWAYS, PERMISSIVE, REQUIRE_APPROVAL, SNAPSHOT, PolicyDirectory,
                       ProfilePolicies, Rule, matching, standalone)
from .response_chain import ResponseChain

__all__ = ["UNSEEN_CONTEXT", "UNTRUSTED_CONTEXT", "matching", "untrusted_reason", "register_builtin_hooks"]
UNDECLARED_TOOL = ("The model called {tool}, a tool the request did not declare, while the context contains "
                   "untrusted data.")
log = logging.getLogger("archestra.security")
RESULT_RANK = {"block_always": 3, "sanitize_with_dual_llm": 2, "mark_as_untrusted": 1, "mark_as_trusted": 0}


def policies_of(exchange: Exchange, directory: PolicyDirectory) -> ProfilePolicies:
    """The policies snapshot taken at ``on_request``: a stream decides with plain values, no database."""
    snapshot = exchange.state.get(SNAPSHOT)
    if snapshot is None:
        snapshot = exchange.state[SNAPSHOT] = directory.get(exchange.profile.id)
    return snapshot


def monitoring(exchange: Exchange) -> bool:
    """Monitor mode for this exchange (from the snapshot taken at ``on_request``; none taken: enforce).
    Decisions are made and recorded as "would block", and nothing is changed on the wire."""
    snapshot = exchange.state.get(SNAPSHOT)
    return snapshot is not None and snapshot.monitor


class ToolDiscovery:
    """Records declared tools; each (profile, tool, definition) is written once per worker."""

    def __init__(self, recorder: Recorder):
        self._recorder = recorder
        self._seen: set[tuple[str, str, str]] = set()

    def __call__(self, exchange: Exchange) -> None:
        for tool in exchange.tools:
            fingerprint = hashlib.sha1(json.dumps([tool.description, tool.parameters], sort_keys=True,
                                                  default=str).encode()).hexdigest()
            key = (exchange.profile.id, tool.name, fingerprint)
            if key in self._seen:
                continue
            self._seen.add(key)
            self._recorder.submit(_upsert_tool(exchange.profile.id, tool.name, tool.description, tool.parameters))
        # Results of provider-executed tools the request does not declare (e.g. a grounded answer sent back):
        # discovered by name, so that an operator can set a policy on them.
        declared = {tool.name for tool in exchange.tools}
        for result in exchange.tool_results:
            if result.server and result.name and result.name not in declared:
                key = (exchange.profile.id, result.name, "")
                if key not in self._seen:
                    self._seen.add(key)
                    self._recorder.submit(_upsert_tool(exchange.profile.id, result.name, None, None, known=False))


def _upsert_tool(profile_id: str, name: str, description: str | None, parameters: Any, known: bool = True):
    """``known``: the definition comes from a declaration (else only the name is known: keep what is stored)."""
    def job(session) -> None:
        now = datetime.now(timezone.utc)
        row = session.execute(select(Tool).where(Tool.profile_id == profile_id, Tool.name == name)).scalar()
        if row is None:
            with session.begin_nested():  # another worker may insert the same tool at the same time
                session.add(Tool(profile_id=profile_id, name=name, description=description, parameters=parameters,
                                 first_seen_at=now, last_seen_at=now))
        elif known:
            row.description, row.parameters, row.last_seen_at = description, parameters, now
        else:
            row.last_seen_at = now
    return job


class ResultTrust:
    """Restrictive: a result is trusted only when a policy marks it so. Permissive: trusted unless a policy
    says otherwise. ``block_always`` blocks in both."""

    def __init__(self, policies: PolicyDirectory, sanitize: Any = None):
        self._policies = policies
        self._sanitize = sanitize

    def __call__(self, exchange: Exchange, result: ToolResult) -> None:
        policies = policies_of(exchange, self._policies)
        permissive = policies.global_policy == PERMISSIVE
        # A result that cannot be tied to one call (name None) gets no tool's policy, only the default.
        own = policies.result_rules(normalize_tool_name(result.name)) if result.name else ()
        document = result.document if result.document is not None else parse_result(result.content)
        for rule in standalone(own, document):
            if rule.action == ADD_LABELS:  # first: a blocked or sanitised result keeps the labels of its data
                result.labels.update(rule.labels)
        rules = matching(own, document)
        if not rules:
            result.trusted = permissive
            return
        rule = max(rules, key=lambda r: RESULT_RANK.get(r.action, 3))
        if rule.action == BLOCK_ALWAYS:
            raise Block(reason_of(rule, f"results of {result.name} are blocked"))
        if rule.action == "sanitize_with_dual_llm" and self._sanitize is not None:
            if policies.monitor:  # the result is sent as it is: trusted as the summary would have been
                exchange.would_block_results.append({"tool": result.name, "tool_call_id": result.tool_call_id,
                                                     "action": rule.action, "reason": rule.reason})
                result.trusted = True
                return
            self._sanitize(exchange, result)
            return
        result.trusted = rule.action == "mark_as_trusted"
        if not result.trusted:
            exchange.state.setdefault(UNTRUSTED_BY_POLICY, set()).add(id(result))


class CallPolicy:
    """``block_always`` always applies, and so do the label policies whose conditions hold. In a trusted context
    everything else passes; in an untrusted one ``block_when_context_is_untrusted`` applies, then (restrictive) a
    call passes only when an ``allow_when_context_is_untrusted`` policy matches, (permissive) it passes by default.
    A call to a tool the request never declared is flagged, and refused in an untrusted context. A call that passes
    all that and matches a ``require_approval`` policy is held back until a person approves it (``approvals``;
    without one, as in policy replay, it is refused as awaiting approval)."""

    def __init__(self, policies: PolicyDirectory, approvals: ApprovalGate | None = None):
        self._policies = policies
        self._approvals = approvals

    def __call__(self, exchange: Exchange, call: ToolCall) -> None:
        if call.refuse:  # an answer part the proxy does not understand: no policy can allow it
            raise Block(call.refuse)
        policies = policies_of(exchange, self._policies)
        name = normalize_tool_name(call.name)
        rules, others = _call_rules(policies, name, call)
        for rule in rules:
            if rule.action == BLOCK_ALWAYS:
                raise Block(reason_of(rule, f"calls of {call.name} are blocked"))
        held = exchange.context_labels
        for rule in others:
            refused = label_block(exchange, call, rule, held)
            if refused is not None:
                raise Block(refused)
        self._trust(exchange, policies, name, call, rules)
        approval = next((rule for rule in others if rule.action == REQUIRE_APPROVAL), None)
        if approval is not None:
            if self._approvals is None or monitoring(exchange):
                raise Block(f"This call awaits a person's approval (a {REQUIRE_APPROVAL} policy on {call.name})."
                            + (f" {approval.reason}" if approval.reason else ""))
            self._approvals.check(exchange, call, approval.reason)

    def _trust(self, exchange: Exchange, policies: ProfilePolicies, name: str, call: ToolCall,
               rules: list[Rule]) -> None:
        trusted = exchange.context_trusted
        if not call.server and not _declared(exchange, name, call.toolset):
            exchange.undeclared_calls.append(call.name)
            log.warning("profile %s: the model called %r, a tool the request did not declare",
                        exchange.profile.id, call.name)
            if not trusted:
                # No allow policy lets an undeclared tool through: only trusting the context would have.
                raise Block(f"{UNDECLARED_TOOL.format(tool=call.name)} {untrusted_details(exchange)}".strip())
        if trusted:
            return
        for rule in rules:
            if rule.action == "block_when_context_is_untrusted":
                raise Block(reason_of(rule, untrusted_reason(exchange, call, allow_possible=False)))
        if policies.global_policy == PERMISSIVE:
            return
        if any(rule.action == "allow_when_context_is_untrusted" for rule in rules):
            return
        raise Block(untrusted_reason(exchange, call))


def reason_of(rule: Rule, fallback: str) -> str:
    """A refusal's reason: the policy's own (or ``fallback``), and the policy pack it comes from, if any."""
    reason = rule.reason or fallback
    return f"{reason} [policy pack {rule.pack}]" if rule.pack else reason


def _call_rules(policies: ProfilePolicies, name: str, call: ToolCall) -> tuple[list[Rule], list[Rule]]:
    """The rules that decide ``call``: its tool's, and its toolset's (each set chooses its specific rules over
    its defaults on its own; then the most restrictive of all wins); and apart, the label and approval rules
    whose conditions hold. Arguments that could not be read even leniently are :data:`UNREADABLE`: conditional
    restrictions hold on them, conditional grants do not."""
    document = UNREADABLE if call.unreadable else call.arguments
    own = policies.call_rules(name)
    rules, others = matching(own, document), standalone(own, document)
    toolset = normalize_tool_name(call.toolset) if call.toolset else None
    if toolset and toolset != name:
        of_toolset = policies.call_rules(toolset)
        rules += matching(of_toolset, document)
        others += standalone(of_toolset, document)
    return rules, others


def _declared(exchange: Exchange, name: str, toolset: str | None) -> bool:
    """The request declared the tool, or the toolset it is a member of."""
    declared = {normalize_tool_name(tool.name) for tool in exchange.tools}
    return name in declared or (toolset is not None and normalize_tool_name(toolset) in declared)


def register_builtin_hooks(registry: HookRegistry, policies: PolicyDirectory, recorder: Recorder,
                           sanitize: Any = None, approvals: ApprovalGate | None = None) -> None:
    registry.register("on_request", lambda exchange: policies_of(exchange, policies), "builtin:policy-snapshot")
    registry.register("on_request", ToolDiscovery(recorder), "builtin:tool-discovery")
    registry.register("on_tool_result", ResultTrust(policies, sanitize), "builtin:tool-result-policies")
    registry.register("on_tool_call", CallPolicy(policies, approvals), "builtin:tool-call-policies")
    chain = ResponseChain(recorder)
    registry.register("on_request", chain.continue_context, "builtin:response-chain")
    registry.register("on_response", chain.remember, "builtin:response-chain")
