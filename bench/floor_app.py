"""The stack's floor: the same Flask + gunicorn gevent + requests pieces forwarding a chat (or Responses API)
request, and nothing else (no profile, hooks, parsing, recording). What archestra adds on top of this is its own cost.

    gunicorn -k gevent -w 1 -b 127.0.0.1:9202 'bench.floor_app:create("http://127.0.0.1:9201/v1")'
"""
from flask import Flask, Response, request
from requests.adapters import HTTPAdapter

from archestra.upstream import _prepare


def create(base_url: str) -> Flask:
    app = Flask(__name__)
    adapter = HTTPAdapter(pool_maxsize=256, max_retries=0)

    @app.post("/v1/chat/completions")
    @app.post("/v1/responses")
    def chat():
        headers = {"Content-Type": "application/json", "Authorization": request.headers.get("Authorization", "")}
        prepared = _prepare("POST", f"{base_url}{request.path[3:]}", headers, request.get_data())
        upstream = adapter.send(prepared, stream=True, timeout=(10, 600))
        content_type = upstream.headers.get("Content-Type", "")
        if content_type.startswith("text/event-stream"):
            def relay():  # chunks go out as they come, like archestra's streams
                try:
                    yield from upstream.iter_content(chunk_size=None)
                finally:
                    upstream.close()
            return Response(relay(), status=upstream.status_code, content_type=content_type,
                            headers={"Cache-Control": "no-cache"}, direct_passthrough=True)
        try:
            body = upstream.content
        finally:
            upstream.close()
        return Response(body, status=upstream.status_code, content_type=content_type)

    return app
