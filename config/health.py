"""Service health for load balancers and orchestrators: /healthz (process up) and /readyz (dependencies answer)."""

from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse


def healthz(request):
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_cache() -> None:
    cache.set("readyz", "1", timeout=5)
    if cache.get("readyz") != "1":
        raise RuntimeError("cache did not return what was written")


def _check_broker() -> None:
    from config.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


CHECKS = {"database": _check_database, "cache": _check_cache, "broker": _check_broker}


def readyz(request):
    results, failing = {}, []
    for name, check in CHECKS.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # any failure means not ready; the class name is enough, no connection strings
            results[name] = f"error: {type(exc).__name__}"
            failing.append(name)
    body = {"status": "ok" if not failing else "unavailable", "checks": results}
    if failing:
        body["failing"] = failing
    return JsonResponse(body, status=200 if not failing else 503)
