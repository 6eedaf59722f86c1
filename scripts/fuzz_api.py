"""Fuzz every API operation against its OpenAPI schema with schemathesis (`make fuzz`).

Starts a production-mode gunicorn on a throw-away embedded database (SQLite in a temporary VAR_DIR, demo data),
logs in as the demo tenant admin and runs schemathesis with the checks that must hold for any input: no 5xx,
documented status codes and content types, responses valid against the schema. Extra arguments go to schemathesis.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.live import free_port, start_server, wait_until_up  # noqa: E402

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def main() -> int:
    with tempfile.TemporaryDirectory() as var_dir:
        env = {
            **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
            "DEBUG": "false",
            "SECRET_KEY": "fuzz-secret-key-" + "x" * 40,
            "JWT_SIGNING_KEY": "fuzz-jwt-signing-key-" + "x" * 40,
            "ENCRYPTION_KEYS": "eW3ms9fz6jeiUbyY4HU7gLwmc8CPhtoBXavM3hH24hc=",
            "VAR_DIR": var_dir,
            "RATE_LIMIT_ENABLED": "false",
            "LOG_LEVEL": "CRITICAL",
        }
        for command in (["migrate", "--noinput", "-v0"], ["seed_demo"]):
            subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True)
        port = free_port()
        cmd = [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2"]
        with start_server(cmd, env=env) as server:
            base = f"http://127.0.0.1:{port}"
            wait_until_up(f"{base}/healthz", server)
            token = requests.post(
                f"{base}/api/v1/auth/token",
                json={"email": "admin@demo.test", "password": "demo-admin-pass"},
                timeout=10,
            ).json()["access"]
            schemathesis = Path(sys.executable).parent / "schemathesis"
            return subprocess.call(
                [
                    str(schemathesis),
                    "run",
                    f"{base}/api/schema/",
                    "--header",
                    f"Authorization: Bearer {token}",
                    "--checks",
                    CHECKS,
                    "--request-timeout",
                    "15",
                    *sys.argv[1:],
                ],
                cwd=var_dir,
            )


if __name__ == "__main__":
    sys.exit(main())
