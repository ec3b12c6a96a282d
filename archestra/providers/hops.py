"""Loop prevention between archestra instances: the ``Via`` chain (RFC 9110 section 7.6.3).

An instance that forwards a request to another archestra instance (the ``archestra`` provider) appends
``1.1 archestra-{instance id}`` to the request's ``Via`` header. ``Via`` is an end-to-end header, so every route
of every instance forwards it as it came (``x-archestra-*`` headers are not forwarded upstream): a request that
comes back to an instance through any chain of routes and base URLs still names every archestra hop it passed.
The ``archestra`` provider refuses a request that already passed its own instance, and one that passed more
than ``MAX_HOPS`` instances, with 508 Loop Detected, before anything is forwarded.

The instance id is ``ARCHESTRA_INSTANCE_ID``: gunicorn.conf.py makes a random one at startup that the workers
share, and the replicas of one deployment may be given the same (else a loop through a sibling replica is
stopped by the hop limit).
"""
from __future__ import annotations

from typing import Any, Mapping

from ..proxy_error import ProxyError

HEADER = "Via"
#: How many archestra instances a request may have passed before the one it reaches.
MAX_HOPS = 8
_PREFIX = "archestra-"


def hop_name(settings: Any) -> str:
    """How this instance names itself in ``Via`` (a pseudonym: no host or port of the instance)."""
    return f"{_PREFIX}{settings.instance_id}"


def passed(headers: Mapping[str, str]) -> list[str]:
    """The archestra instances named in the request's ``Via`` entries, in order (other proxies' are skipped)."""
    names = []
    for name, value in headers.items():
        if name.lower() != HEADER.lower():
            continue
        for entry in value.split(","):
            parts = entry.split()
            if len(parts) >= 2 and parts[1].lower().startswith(_PREFIX):
                names.append(parts[1].lower())
    return names


def refuse_loops(settings: Any, headers: Mapping[str, str]) -> None:
    """508 when the request already passed this instance, or more archestra instances than ``MAX_HOPS``."""
    chain = passed(headers)
    if hop_name(settings).lower() in chain:
        raise ProxyError(508, "Loop detected: this request already passed this archestra instance (its Via "
                              "header names it); check the ARCHESTRA_*_BASE_URL settings of the instances it "
                              "passed.", kind="api_error", code="loop_detected")
    if len(chain) >= MAX_HOPS:
        raise ProxyError(508, f"Loop detected: this request already passed {len(chain)} archestra instances "
                              f"(at most {MAX_HOPS} are allowed).", kind="api_error", code="too_many_hops")


def with_hop(settings: Any, headers: dict[str, str]) -> dict[str, str]:
    """``headers`` with this instance appended to its ``Via`` chain (the client's entries kept first)."""
    earlier = [value for name, value in headers.items() if name.lower() == HEADER.lower()]
    out = {name: value for name, value in headers.items() if name.lower() != HEADER.lower()}
    out[HEADER] = ", ".join([*earlier, f"1.1 {hop_name(settings)}"])
    return out
