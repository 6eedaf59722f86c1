"""`manage.py run_health_checks [--wait]`: a full health round now, on the worker.

Every `active` or `error` integration is checked at once (not spread over the period like the scheduled round),
in batch tasks of one provider's integrations on the `health` queue, with at most HEALTH_ROUND_HOST_CONCURRENCY
checks in flight per provider host and worker process. Without `--wait` the command returns once the batches are
queued; with `--wait` it prints progress and returns when the last check is recorded, printing `N checks in S s`.
"""

import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from integrations.tasks.health import health_round_enqueue, health_round_pending


class Command(BaseCommand):
    help = "Check every active (or error) integration now, on the worker; --wait follows the round to its end."

    def add_arguments(self, parser):
        parser.add_argument("--wait", action="store_true", help="Print progress; return when every check is recorded.")
        parser.add_argument(
            "--batch-size", type=int, default=None, help="Integrations per task (HEALTH_ROUND_BATCH_SIZE)."
        )
        parser.add_argument(
            "--timeout", type=float, default=3600, help="With --wait: give up after this many seconds (default 3600)."
        )
        parser.add_argument("--interval", type=float, default=2.0, help="With --wait: seconds between progress lines.")

    def handle(self, *args, wait=False, batch_size=None, timeout=3600, interval=2.0, **options):
        if batch_size is not None and batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        started, ids = health_round_enqueue(batch_size=batch_size)
        total = len(ids)
        self.stdout.write(f"{total} checks queued")
        if not wait:
            return
        pending = ids
        last_line = 0.0
        while pending:
            if (timezone.now() - started).total_seconds() > timeout:
                raise CommandError(f"{total - len(pending)} of {total} checks recorded after {timeout:.0f} s; gave up.")
            time.sleep(min(0.5, interval))
            pending = health_round_pending(ids=pending, started=started)
            if pending and time.monotonic() - last_line >= interval:
                last_line = time.monotonic()
                elapsed = (timezone.now() - started).total_seconds()
                self.stdout.write(f"{total - len(pending)}/{total} checked, {elapsed:.0f} s")
        elapsed = (timezone.now() - started).total_seconds()
        self.stdout.write(f"{total} checks in {elapsed:.1f} s")
