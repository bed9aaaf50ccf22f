"""Files sent with a case (photos of a broken part, a delivery note): the S12 upload rules.

The checks are the customer file's (``customers.services.lists.check_upload``): a plain
name with an allowed extension and no dangerous one anywhere in it (x.pdf.html and
x.html.pdf both fail), not empty, content matching the extension (an SVG or HTML page
named .png is refused). The limit is ``GUANXI_CASE_ATTACHMENT_MAX_BYTES`` (10 MB) per file
and :data:`MAX_FILES` files per submission. The stored name is random
(``models.case_attachment_path``); the sender's name is only data, and the file is only
ever served as a download (``views.intake.attachment_download``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.errors import Forbidden, Invalid, NotFound
from guanxi.core.permissions import has_perm
from guanxi.customers.services.lists import ALLOWED_TYPES, check_upload
from guanxi.service.models import Case, CaseAttachment
from guanxi.service.selectors.scope import case_scope

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
MAX_FILES = 5


def max_bytes() -> int:
    return int(getattr(settings, "GUANXI_CASE_ATTACHMENT_MAX_BYTES", DEFAULT_MAX_BYTES))


def check(upload: UploadedFile | None) -> tuple[str, str, int]:
    """(display name, content type, size) of an acceptable upload; Invalid on ``file`` otherwise."""
    name, ext, size = check_upload(upload, max_bytes=max_bytes())
    return name, ALLOWED_TYPES[ext][0], size


def check_all(uploads: Iterable[UploadedFile], field: str = "attachments") -> list[UploadedFile]:
    """Check every upload of one submission before anything is stored; all messages at once on
    ``field`` (each prefixed with its file name)."""
    files = [u for u in uploads if u is not None]
    if len(files) > MAX_FILES:
        raise Invalid(errors={field: [_("Send at most %(n)d files at a time.") % {"n": MAX_FILES}]})
    messages: list[str] = []
    for upload in files:
        try:
            check(upload)
        except Invalid as exc:
            label = (upload.name or "")[:60]
            messages += [f"{label}: {m}" if label else m for ms in exc.errors.values() for m in ms]
    if messages:
        raise Invalid(errors={field: messages})
    return files


def may_attach(actor: Any, case: Case) -> bool:
    """Staff add files to cases they handle: the owner, or a supervisor (``case.review``) who sees
    the case. Salespeople reading their customers' cases do not."""
    if not has_perm(actor, "case.change"):
        return False
    return case.owner_id == actor.pk or has_perm(actor, "case.review")


@transaction.atomic
def attach(*, actor: Any, case: Case, upload: UploadedFile) -> CaseAttachment:
    """Store one file with ``case`` under a random name.

    ``actor`` None is the public sender, only through ``intake.case_receive`` (the case was
    received in the same call); staff must see the case (else NotFound) and handle it.
    """
    if actor is not None:
        if not case_scope(actor).filter(pk=case.pk).exists():
            raise NotFound()
        if not may_attach(actor, case):
            raise Forbidden()
    name, content_type, size = check(upload)
    attachment = CaseAttachment(case=case, original_name=name, content_type=content_type, size=size,
                                uploaded_by=actor)
    attachment.file.save("upload", upload, save=False)
    attachment.save()
    audit.record(actor=actor, action="create", obj=attachment,
                 changes=audit.creation_changes(attachment, ["case", "original_name", "content_type", "size"]))
    return attachment


def attachment_for(user: Any, pk: Any) -> CaseAttachment:
    """One live attachment of a case ``user`` sees (hidden or missing → NotFound)."""
    visible = case_scope(user).values("pk")
    found = (CaseAttachment.objects.filter(case_id__in=visible, pk=pk).select_related("case").first()
             if str(pk).isdigit() else None)
    if found is None:
        raise NotFound()
    return found
