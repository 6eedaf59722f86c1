"""End-to-end fixtures: a real HTTP receiver on 127.0.0.1 and real Celery worker processes.

* ``Receiver`` -- a threaded HTTP/1.1 server that records every request (path, headers, raw body, time) and
  answers from a per-path script of responses (status, body, headers, delay, or raw bytes / a redirect /
  a hang). It can be stopped and restarted on the same port ("receiver down for a while").
* ``celery_workers`` -- starts ``celery -A config worker -Q webhooks,default`` subprocesses against the
  pytest-django test database (its name after setup, passed through DATABASE_URL) and the test Redis; the
  test may SIGKILL them. Every worker started is stopped at teardown, before the test database is dropped.

Tests using the workers need ``transactional_db`` so that the worker sees committed rows.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- receiver


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering
    raw: bytes | None = None  # written as is instead of an HTTP response, then the connection is closed


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() when the request was fully read

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)


class Receiver:
    """A recording HTTP server on 127.0.0.1 with programmable replies."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.port = 0
        self.default = Reply()
        self._scripts: dict[str, collections.deque[Reply]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # configuration
    def script(self, path: str, *replies: Reply) -> None:
        """Answer the next requests to ``path`` with ``replies`` in order, then with the default."""
        with self._lock:
            self._scripts.setdefault(path, collections.deque()).extend(replies)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{quote(path)}"

    def received(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    def wait_for(self, count: int, *, path: str | None = None, timeout: float = 15.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.received(path)
            if len(got) >= count:
                return got
            time.sleep(0.02)
        raise AssertionError(f"receiver got {len(self.received(path))} requests, expected {count}")

    # lifecycle
    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with receiver._lock:
                    receiver.requests.append(Received(self.path, dict(self.headers.items()), body, time.time()))
                    queue = receiver._scripts.get(self.path)
                    reply = queue.popleft() if queue else receiver.default
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.raw is not None:
                    self.wfile.write(reply.raw)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                try:
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):  # the client stopped reading (bounded read)
                    self.close_connection = True

            do_PUT = do_GET = do_POST

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 256

        self._server = Server(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the listening socket: new connections are refused until ``start`` (same port)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


# --------------------------------------------------------------------------- celery workers


def _worker_env(extra: dict[str, str] | None) -> dict[str, str]:
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": (
                f"postgres://{quote(db.get('USER') or '', safe='')}:{quote(db.get('PASSWORD') or '', safe='')}"
                f"@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
            ),
            "REDIS_URL": settings.REDIS_URL,
            "SECRET_KEY": settings.SECRET_KEY,
            "JWT_SIGNING_KEY": settings.JWT_SIGNING_KEY,
            "ENCRYPTION_KEYS": ",".join(settings.ENCRYPTION_KEYS),
            "WEBHOOK_ALLOWED_NETWORKS": ",".join(settings.WEBHOOK_ALLOWED_NETWORKS),
            "VAR_DIR": str(settings.VAR_DIR),
            "LOG_LEVEL": "WARNING",
            "DB_CONN_MAX_AGE": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(extra or {})
    return env


class Workers:
    """Starts and stops ``celery worker`` processes for one test."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen] = []

    def start(
        self,
        *,
        concurrency: int = 4,
        pool: str = "threads",
        env: dict[str, str] | None = None,
        queues: str = "webhooks,default",
    ):
        name = f"e2e{len(self.procs)}-{os.getpid()}@%h"
        log = open(self.log_dir / f"worker{len(self.procs)}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-Q",
                queues,
                "-P",
                pool,
                "-c",
                str(concurrency),
                "-n",
                name,
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "WARNING",
            ],
            cwd=ROOT,
            env=_worker_env(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        proc.log = log
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen) -> None:
        """SIGKILL: no warm shutdown, no acks, in-flight work abandoned."""
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            proc.log.close()

    def logs(self) -> str:
        return "\n".join(
            (self.log_dir / f"worker{i}.log").read_text(errors="replace")[-3000:] for i in range(len(self.procs))
        )


def purge_broker() -> None:
    """Drop queued and unacknowledged messages left in the test Redis by earlier runs."""
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete("webhooks", "default", "inbound", "health", "unacked", "unacked_index", "unacked_mutex")


@pytest.fixture
def celery_workers(transactional_db, tmp_path):
    purge_broker()
    workers = Workers(tmp_path)
    yield workers
    workers.stop_all()
    purge_broker()
