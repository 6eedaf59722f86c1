"""`manage.py rotate_encryption_keys`: re-encrypt every encrypted column under the newest key of ENCRYPTION_KEYS.

Put the new key first in ENCRYPTION_KEYS (keep the old ones after it), run this, then drop the old keys.
Reads the raw tokens (a Cast to text skips the field's decryption), rotates each with MultiFernet.rotate and writes it
back with a compare-and-set UPDATE, so a row changed meanwhile by the application is left alone (it is under the
newest key already). Values already under the newest key are skipped, so a re-run writes nothing.
"""

import json

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections, router, transaction
from django.db.models import TextField
from django.db.models.functions import Cast

from integrations.crypto import DecryptionError, encrypted_fields, rotate_token


class Command(BaseCommand):
    help = "Re-encrypt every encrypted column under the newest ENCRYPTION_KEYS key, in batches; safe to re-run."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500, help="Rows per batch (default 500).")

    def handle(self, *args, batch_size=500, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        newest = Fernet(settings.ENCRYPTION_KEYS[0].encode())
        totals = {"rotated": 0, "skipped": 0, "failed": 0}
        failures: list[str] = []
        for model, fields in encrypted_fields():
            label = model._meta.label
            for batch_no, stats in enumerate(self._rotate_model(model, fields, newest, batch_size, failures), 1):
                for key in totals:
                    totals[key] += stats[key]
                self.stdout.write(json.dumps({"model": label, "batch": batch_no, **stats}))
        self.stdout.write(json.dumps({"done": True, **totals}))
        if failures:
            shown = "; ".join(failures[:10])
            raise CommandError(
                f"{len(failures)} value(s) could not be decrypted with any key in ENCRYPTION_KEYS "
                f"(was a key removed before rotating?): {shown}"
            )

    def _rotate_model(self, model, fields, newest: Fernet, batch_size: int, failures: list[str]):
        """Yield per-batch counts; walks the table by primary key so each batch is one indexed range query."""
        pk = model._meta.pk
        db = router.db_for_write(model)
        connection = connections[db]
        table = connection.ops.quote_name(model._meta.db_table)
        pk_column = connection.ops.quote_name(pk.column)
        raw = {f"_raw_{name}": Cast(name, TextField()) for name in fields}
        base = model._base_manager.using(db).order_by("pk").annotate(**raw)
        last = None
        while True:
            queryset = base if last is None else base.filter(pk__gt=last)
            rows = list(queryset.values_list("pk", *raw)[:batch_size])
            if not rows:
                return
            stats = {"rows": len(rows), "rotated": 0, "skipped": 0, "failed": 0}
            with transaction.atomic(using=db), connection.cursor() as cursor:
                for row in rows:
                    row_pk, values = row[0], row[1:]
                    for name, token in zip(fields, values, strict=True):
                        if not token:
                            continue
                        column = connection.ops.quote_name(model._meta.get_field(name).column)
                        try:
                            newest.decrypt(token.encode())
                            stats["skipped"] += 1
                            continue
                        except InvalidToken:
                            pass
                        try:
                            rotated = rotate_token(token)
                        except DecryptionError:
                            stats["failed"] += 1
                            failures.append(f"{model._meta.label}.{name} pk={row_pk}")
                            continue
                        cursor.execute(
                            f"UPDATE {table} SET {column} = %s WHERE {pk_column} = %s AND {column} = %s",  # noqa: S608
                            [rotated, pk.get_db_prep_value(row_pk, connection), token],
                        )
                        stats["rotated"] += cursor.rowcount
            last = rows[-1][0]
            yield stats
            if len(rows) < batch_size:
                return
