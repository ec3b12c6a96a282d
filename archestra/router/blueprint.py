"""``/v1/model-router[/{profile}]/...``: the Model Router's routes, served by the one pipeline.

OpenAI front: ``POST chat/completions``, ``POST responses``, ``GET models``, ``POST embeddings``. Anthropic front:
``POST v1/messages``, ``POST v1/messages/count_tokens``. Every request must prove its profile (a virtual key, or the
profile's access token): the router sends it with keys the proxy holds, never with the client's own key.
"""
from __future__ import annotations

from functools import partial

from flask import Blueprint, Response, request
from sqlalchemy.exc import SQLAlchemyError

from ..credentials import authenticate
from ..exchange import ProfileInfo
from ..metering.interactions import Trace
from ..profiles import SLUG_RE, UUID_RE
from ..providers.base import proves_profile
from ..proxy_error import ProxyError
from ..proxy import chat, database_down, error_response, run_exchange
from ..runtime import Runtime
from .forwarding import FRONT_PATHS, Front, RouterForwarding
from .listing import count_tokens, embeddings, list_models

NAME = "model-router"
OTHER_PATHS = {("GET", "models"), ("POST", "embeddings"), ("POST", "v1/messages/count_tokens")}
blueprint = Blueprint("model_router", __name__, url_prefix=f"/v1/{NAME}")


def _known(path: str) -> bool:
    return path in FRONT_PATHS or any(path == known for _, known in OTHER_PATHS)


def split(rest: str) -> tuple[str | None, str]:
    """``{profile id or slug}/{path}`` or ``{path}`` (the default profile)."""
    first, _, remainder = rest.partition("/")
    if UUID_RE.fullmatch(first) or (SLUG_RE.fullmatch(first.lower()) and _known(remainder) and not _known(rest)):
        return first.lower(), remainder
    return None, rest


def _front_for(path: str) -> Front:
    """Whose error format a path's answers use: Anthropic's under ``v1/messages``, OpenAI's elsewhere."""
    return FRONT_PATHS["v1/messages" if path.startswith("v1/messages") else "chat/completions"]


def _profile(runtime: Runtime, profile_id: str | None) -> tuple[ProfileInfo, object]:
    profile = runtime.profiles.resolve(profile_id)
    if profile is None:
        raise ProxyError(404, f"Profile {profile_id} does not exist.", kind="not_found_error",
                         code="profile_not_found")
    caller = authenticate(runtime.keys, NAME, profile, request.headers, request.args, runtime.identity)
    if not proves_profile(profile, caller):
        raise ProxyError(401, "The Model Router sends requests with the provider keys this proxy holds: send a "
                              "virtual key of the profile as your API key (or the profile's access token in "
                              "X-Archestra-Token). A provider key of your own cannot serve another provider.",
                         kind="authentication_error", code="virtual_key_required")
    return profile, caller


def _serve(runtime: Runtime, rest: str, trace: Trace) -> Response:
    profile_id, path = split(rest)
    front = _front_for(path)
    try:
        method = request.method
        if path in FRONT_PATHS:
            if method != "POST":
                raise ProxyError(405, f"Use POST for /{path}.", code="method_not_allowed")
            profile, caller = _profile(runtime, profile_id)
            front = FRONT_PATHS[path]
            trace.path = path
            return chat(runtime, front.provider, front.route(), profile, caller, trace,
                        RouterForwarding(runtime, front, profile, caller))
        if (method, path) not in OTHER_PATHS:
            raise ProxyError(404, f"{method} /{path} is not a Model Router route (chat/completions, responses, "
                                  "models, embeddings, v1/messages, v1/messages/count_tokens).",
                             kind="not_found_error", code="unknown_route")
        profile, caller = _profile(runtime, profile_id)
        trace.kind, trace.path = "passthrough", path
        handler = {"models": list_models, "embeddings": embeddings, "v1/messages/count_tokens": count_tokens}[path]
        return handler(runtime, profile, caller, trace)
    except SQLAlchemyError as exc:
        return database_down(front.provider, exc)
    except ProxyError as error:
        return error_response(front.provider, error)


@blueprint.route("/", defaults={"rest": ""}, methods=["GET", "POST", "PUT", "PATCH", "DELETE"], strict_slashes=False)
@blueprint.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def view(rest: str) -> Response:
    return run_exchange(NAME, partial(_serve, rest=rest))
