"""``guanxi restore ARCHIVE [--yes]``: put a backup back (R13.9, S22)."""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from guanxi.core import backup


class Command(BaseCommand):
    help = ("Restore a backup made by 'guanxi backup': checks it completely first, then replaces the "
            "database and the uploaded files, runs the migrations and compares every table's row count. "
            "Stop the web processes and workers first.")
    requires_system_checks: list[str] = []  # a restore may start from an empty or broken database

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("archive", help="the .tar or .tar.gz file written by guanxi backup")
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        parser.add_argument("--language", choices=[code for code, _name in settings.LANGUAGES],
                            default=settings.LANGUAGE_CODE, help="language of the messages")

    def handle(self, *args: Any, archive: str, yes: bool, language: str, **options: Any) -> None:
        with translation.override(language):
            if not yes:
                self.confirm()
            try:
                result = backup.restore_backup(archive, say=self.stdout.write)
            except backup.BackupError as exc:
                raise CommandError(str(exc)) from exc
            width = max([len(c.table) for c in result.counts] + [10])
            header = (pgettext("backup", "table"), pgettext("backup", "in backup"), pgettext("backup", "restored"))
            self.stdout.write(f"{header[0]:<{width}}  {header[1]:>10}  {header[2]:>10}")
            for count in result.counts:
                expected = "-" if count.expected is None else str(count.expected)
                restored = "-" if count.restored is None else str(count.restored)
                mark = pgettext("backup", "ok") if count.ok else pgettext("backup", "DIFFERENT")
                line = f"{count.table:<{width}}  {expected:>10}  {restored:>10}  {mark}"
                self.stdout.write(line if count.ok else self.style.ERROR(line))
            if result.migrations_applied:
                self.stdout.write(_("Migrations applied after the restore: {names}").format(
                    names=", ".join(result.migrations_applied)))
            summary = _("{tables} tables, {rows} rows, {files} files restored from the backup made {created}.").format(
                tables=len(result.counts), rows=sum(c.restored or 0 for c in result.counts), files=result.files,
                created=result.manifest["created"])
            if not result.ok:
                raise CommandError(_("Some tables do not have the row count of the backup (marked above). {summary}")
                                   .format(summary=summary))
            self.stdout.write(self.style.SUCCESS(summary))

    def confirm(self) -> None:
        question = _("This replaces {targets} with the contents of the backup. Type yes to continue: ").format(
            targets=backup.describe_targets())
        if not sys.stdin.isatty():
            raise CommandError(_("Add --yes to restore without a question (stdin is not a terminal)."))
        if input(question).strip().lower() not in {"yes", "y", "是"}:
            raise CommandError(_("Nothing was restored."))
