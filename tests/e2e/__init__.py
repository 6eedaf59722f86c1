"""End-to-end tests: real PostgreSQL, Redis, Celery worker processes and HTTP servers."""
