"""gunicorn settings for archestra: gevent workers, long-lived streams, TLS, migrations before fork.

Import-light on purpose: the gevent worker monkey-patches after fork, so nothing here imports the app,
requests or ssl. Settings come from ARCHESTRA_* environment variables (deployment config).
"""
import os
import secrets
import shutil
import subprocess
import sys
import tempfile


def _whole(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip() or str(default)
    if not value.isdigit():
        raise SystemExit(f"archestra: configuration error: {name} must be a whole number (e.g. {default}), "
                         f"got {value!r}")
    return int(value)


bind = [os.environ.get("ARCHESTRA_BIND", "0.0.0.0:9000")]
workers = _whole("ARCHESTRA_WORKERS", 2)
worker_class = "gevent"
worker_connections = _whole("ARCHESTRA_WORKER_CONNECTIONS", 1000)
# The gevent worker's heartbeat runs in its own greenlet, so this never kills a long stream; it only
# catches a worker whose event loop is stuck.
timeout = _whole("ARCHESTRA_WORKER_TIMEOUT", 60)
graceful_timeout = _whole("ARCHESTRA_GRACEFUL_TIMEOUT", 30)
# Idle keep-alive connections count as in flight for gunicorn's async workers, so shutdown waits for
# min(keepalive, graceful_timeout). Behind a load balancer, set it above the balancer's idle timeout.
keepalive = _whole("ARCHESTRA_KEEPALIVE", 5)
# Request bodies are limited by ARCHESTRA_MAX_BODY_BYTES in the app; header limits stay gunicorn's.
accesslog = os.environ.get("ARCHESTRA_ACCESS_LOG") or None
# The path without its query string: Gemini clients may put their API key in ``?key=``.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
loglevel = os.environ.get("ARCHESTRA_LOG_LEVEL", "info").lower()

# TLS: boto3 refuses to send a Bedrock API key over plain http.
certfile = os.environ.get("ARCHESTRA_TLS_CERT") or None
keyfile = os.environ.get("ARCHESTRA_TLS_KEY") or None


def _chosen_control_socket() -> str | None:
    """The control socket the operator chose (ARCHESTRA_CONTROL_SOCKET): a path, "" (off) or None (default)."""
    chosen = os.environ.get("ARCHESTRA_CONTROL_SOCKET", "").strip()
    if chosen.lower() in {"off", "none", "false", "0"}:
        return ""
    return chosen or None


def _control_socket_for(address: str) -> str:
    """gunicorn's control socket (gunicornc), one per instance: gunicorn's default is one path per user, so a
    second instance on the host would take it over and stopping either would delete it under the other. The
    default here is named after the bind address."""
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR", "")
    folder = runtime_dir if runtime_dir and os.path.isdir(runtime_dir) else os.path.expanduser("~/.gunicorn")
    name = "".join(c if c.isalnum() or c in "-." else "_" for c in address)
    return os.path.join(folder, f"archestra-{name}.ctl")


def _control_socket() -> str | None:
    chosen = _chosen_control_socket()
    return (chosen or None) if chosen is not None else _control_socket_for(bind[0])


control_socket = _control_socket() or ""
control_socket_disable = not control_socket


_owned: list[str] = []  # files on_starting created, removed when the master exits


def on_starting(server):
    """Prepare the metrics directory and the generation file, then check the configuration, migrate and log the
    startup summary once, in a child process (the master stays app-free)."""
    # The address gunicorn really binds may come from its own -b / --bind or GUNICORN_CMD_ARGS, read after this
    # file: name the default control socket after it, so that instances started that way keep one socket each.
    if _chosen_control_socket() is None and server.cfg.control_socket == control_socket and server.cfg.bind:
        server.cfg.set("control_socket", _control_socket_for(server.cfg.bind[0]))
    # prometheus-client's multiprocess mode: every worker writes its samples here; /metrics sums them.
    metrics_dir = os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR",
                                        os.path.join(tempfile.gettempdir(), f"archestra-metrics-{os.getpid()}"))
    shutil.rmtree(metrics_dir, ignore_errors=True)
    os.makedirs(metrics_dir, exist_ok=True)
    # The workers share the configuration generation through this file (archestra/generation.py): a change
    # made through one worker applies to the next request on every other. Workers create it if missing.
    if "ARCHESTRA_GENERATION_FILE" not in os.environ:
        path = os.path.join(tempfile.gettempdir(), f"archestra-generation-{os.getpid()}")
        os.environ["ARCHESTRA_GENERATION_FILE"] = path
        _owned.append(path)
    # How this instance names itself to other archestra instances (loop prevention, providers/hops.py): one id
    # for all its workers, made here unless the deployment gives one (its replicas may share it).
    os.environ.setdefault("ARCHESTRA_INSTANCE_ID", secrets.token_hex(8))
    # Configuration checks, migrations and the startup summary: in a child process, the master stays app-free.
    command = [sys.executable, "-m", "archestra.startup", "--workers", str(server.cfg.workers),
               *(arg for address in server.cfg.bind for arg in ("--bind", address))]
    if server.cfg.is_ssl:
        command.append("--tls")
    if not server.cfg.control_socket_disable:
        command += ["--control-socket", server.cfg.control_socket]
    if os.environ.get("ARCHESTRA_SKIP_MIGRATIONS") == "1":
        command.append("--skip-migrations")
    result = subprocess.run(command, cwd=os.path.dirname(__file__) or ".")
    if result.returncode == 2:
        raise SystemExit("archestra: configuration error (see above), not starting")
    if result.returncode != 0:
        raise SystemExit("archestra: database migration failed (see above), not starting")


def on_exit(server):
    for path in _owned:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    # Every worker has written its records and gone: fold SQLite's WAL into the database file, so that the
    # file alone (a copy, a volume snapshot) holds every interaction. In a child process: the master stays
    # app-free.
    if os.environ.get("ARCHESTRA_DATABASE_URL", "sqlite:///archestra.db").startswith("sqlite"):
        result = subprocess.run([sys.executable, "-m", "archestra.backup", "--checkpoint"],
                                cwd=os.path.dirname(__file__) or ".")
        if result.returncode != 0:
            server.log.error("archestra: the SQLite WAL checkpoint at shutdown failed")


def worker_exit(server, worker):
    """Write every pending record before the worker goes (graceful shutdown loses nothing); send the queued
    spans (bounded: an unreachable collector does not hold the exit up)."""
    runtime = getattr(getattr(worker, "wsgi", None), "extensions", {}).get("archestra")
    if runtime is not None:
        runtime.recorder.flush()
        runtime.tracing.shutdown()


def child_exit(server, worker):
    """A worker that is gone no longer counts in the live gauges."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    """Move everything the loaded app holds out of the garbage collector's sight: full collections then
    walk only what requests create, which keeps their pauses (the latency tail) short."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)
