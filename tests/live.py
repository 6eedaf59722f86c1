"""Real processes for tests and benchmarks: a gunicorn server on a free loopback port, pointed at the test database."""

import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(db: dict) -> str:
    """The URL of Django's current default database (the test database, once pytest-django set it up)."""
    user = quote(db.get("USER") or "")
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{user}{password}@{host}{port}/{db['NAME']}"


def process_env(**overrides) -> dict:
    from django.conf import settings

    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url(settings.DATABASES["default"]),
        REDIS_URL=settings.REDIS_URL,
        DEBUG="false",
        PYTHONUNBUFFERED="1",
    )
    env.update({k: str(v) for k, v in overrides.items()})
    return env


@contextmanager
def gunicorn(*, workers: int = 1, env: dict | None = None, port: int | None = None):
    """Yields the base URL of a production-mode gunicorn serving this project; stops it afterwards."""
    port = port or free_port()
    with start_server(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)],
        env=env or process_env(),
    ) as proc:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(f"{base}/healthz", proc)
        yield base


@contextmanager
def start_server(cmd: list[str], *, env: dict):
    """Runs `cmd` (a server) from the project root; its log goes to a temporary file, not a pipe: a pipe nobody
    reads fills up and then blocks the server mid-request. Stops the server on exit."""
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
        proc.log = log
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def wait_until_up(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    """Polls `url` until it answers 200; the first answer of a fresh worker can be slow (lazy imports)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            proc.log.seek(0)
            raise RuntimeError(f"server exited: {proc.log.read().decode(errors='replace')[-2000:]}")
        try:
            if requests.get(url, timeout=10).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up in {timeout}s")
