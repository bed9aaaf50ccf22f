"""``guanxi backup [--to DIR|FILE]``: one archive of the database and the uploaded files (R13.9)."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation
from django.utils.translation import gettext as _

from guanxi.core import backup


class Command(BaseCommand):
    help = ("Back up the database and the uploaded files into one archive (consistent while guanxi runs). "
            "Default directory: GUANXI_BACKUP_DIR, else GUANXI_DATA_DIR/backups.")

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--to", metavar="DIR|FILE", default=None,
                            help="a directory (the archive is named guanxi-backup-<UTC time>.tar) or a file "
                                 "name ending in .tar or .tar.gz")
        parser.add_argument("--gzip", action="store_true", help="compress the archive (.tar.gz)")
        parser.add_argument("--keep", type=int, default=None, metavar="N",
                            help="then delete all but the newest N archives in that directory")
        parser.add_argument("--language", choices=[code for code, _name in settings.LANGUAGES],
                            default=settings.LANGUAGE_CODE, help="language of the messages")

    def handle(self, *args: Any, to: str | None, gzip: bool, keep: int | None, language: str,
               **options: Any) -> None:
        with translation.override(language):
            if keep is not None and keep < 1:
                raise CommandError(_("--keep needs a number of at least 1."))
            try:
                result = backup.create_backup(to, gzip=gzip, keep=keep, say=self.stdout.write)
            except backup.BackupError as exc:
                raise CommandError(str(exc)) from exc
            manifest = result.manifest
            self.stdout.write(self.style.SUCCESS(_(
                "Backup written: {path} ({size}; {tables} tables, {rows} rows, {files} files)").format(
                    path=result.path, size=backup.human_size(result.size), tables=len(manifest["tables"]),
                    rows=sum(manifest["tables"].values()), files=len(manifest["files"]) - 1)))
            self.stdout.write(f"sha256 {result.sha256}")
