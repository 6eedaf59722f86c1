"""`manage.py sync_providers`: create or update providers from providers/catalog/*.json, keeping hand-made edits."""

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from providers.catalog_loader import CATALOG_DIR, CatalogError, load_catalog
from providers.services import providers_sync


class Command(BaseCommand):
    help = (
        "Create or update providers from the catalog files. Fields a super admin changed by hand (locked_fields) "
        "are kept. Prints one JSON line per provider that changed (or would, with --dry-run) and a summary line."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Report what would change; write nothing.")
        parser.add_argument(
            "--dir",
            dest="catalog_dir",
            default=str(CATALOG_DIR),
            help="Catalog directory (default: providers/catalog).",
        )

    def handle(self, *args, dry_run=False, catalog_dir=None, **options):
        try:
            entries = load_catalog(
                Path(catalog_dir or CATALOG_DIR), http_allowed_networks=settings.PROVIDER_ALLOWED_NETWORKS
            )
        except CatalogError as exc:
            raise CommandError(f"The provider catalog is invalid:\n{exc}")
        results = providers_sync(entries=entries, dry_run=dry_run)
        counts: dict[str, int] = {}
        for result in results:
            counts[result["action"]] = counts.get(result["action"], 0) + 1
            if result["action"] != "unchanged" or result["kept"]:
                line = {"provider": result["provider"], "action": result["action"]}
                if result["action"] == "updated":
                    line["fields"] = result["fields"]
                if result["kept"]:
                    line["kept"] = result["kept"]
                self.stdout.write(json.dumps(line))
        self.stdout.write(json.dumps({"summary": counts, "entries": len(entries), "dryRun": dry_run}))
