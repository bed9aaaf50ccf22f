"""Importing leads from a spreadsheet (CSV or .xlsx), all or nothing.

Upload → the columns are matched to lead fields by their Chinese or English headers (the
user corrects the match) → every row is checked: each field with the same rules as the
form, and each row against the other rows of the file and the live leads for the same
mobile or e-mail → the rows are written in ONE transaction through ``lead_capture`` (the
door every channel uses), or, if any row is invalid, nothing is written and every row's
problem is reported. Duplicates are reported and skipped, or imported on request.

Files are read with the customer import's reader (encodings, Excel cells); an upload is
kept under the uploader's own folder until it is imported.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from guanxi.core import access, audit, search
from guanxi.core.errors import Invalid
from guanxi.core.permissions import has_perm
from guanxi.core.services.notifications import notify
from guanxi.customers.services.imports import MAX_UPLOAD_BYTES, read_rows
from guanxi.sales.models import Lead
from guanxi.sales.services.common import require
from guanxi.sales.services.leads import clean, lead_capture, lead_numbers, resolve_owner

MAX_ROWS = 5000
FOLDER = "imports/leads"
TOKEN = re.compile(r"^[0-9a-f]{32}-(csv|txt|xlsx)$")
DUPLICATE_MODES = ("skip", "keep")

FIELDS: dict[str, Any] = {
    "company": gettext_lazy("Company"),
    "person_name": gettext_lazy("Person"),
    "title": gettext_lazy("Job title"),
    "mobile": gettext_lazy("Mobile"),
    "phone": gettext_lazy("Phone"),
    "email": gettext_lazy("E-mail"),
    "wechat": gettext_lazy("WeChat"),
    "province": gettext_lazy("Province"),
    "city": gettext_lazy("City"),
    "credit_code": gettext_lazy("Unified social credit code"),
    "interest": gettext_lazy("Interested in"),
    "estimated_amount": gettext_lazy("Estimated amount"),
    "source_detail": gettext_lazy("Source detail"),
    "notes": gettext_lazy("Notes"),
}
# Header guesses, compared after search.normalise (full/half width, case, spaces), without a
# trailing "*" or "(必填)".
GUESSES: dict[str, str] = {}
for _target, _headers in {
    "company": "公司 公司名称 企业名称 单位 单位名称 客户名称 客户 company companyname organisation organization",
    "person_name": "姓名 联系人 联系人姓名 名字 name contact contactname person fullname",
    "title": "职务 职位 title jobtitle position",
    "mobile": "手机 手机号 手机号码 移动电话 mobile mobilephone cellphone cell",
    "phone": "电话 座机 固定电话 联系电话 办公电话 phone tel telephone",
    "email": "邮箱 电子邮箱 电子邮件 email e-mail mail",
    "wechat": "微信 微信号 wechat weixin",
    "province": "省份 省 province",
    "city": "城市 市 city",
    "credit_code": "统一社会信用代码 信用代码 社会信用代码 creditcode uscc",
    "interest": "意向 意向产品 需求 感兴趣的产品 interest interestedin needs",
    "estimated_amount": "预计金额 预估金额 金额 预算 estimatedamount amount budget",
    "source_detail": "来源 来源说明 渠道 展会 sourcedetail source channel",
    "notes": "备注 说明 notes note remark remarks",
}.items():
    for _header in _headers.split():
        GUESSES[search.normalise(_header)] = _target
_REQUIRED_MARK = re.compile(r"(\*|\(必填\)|必填)$")


def guess_mapping(columns: list[str]) -> dict[str, str]:
    """{column: field} for the columns whose header names a lead field; each field once."""
    out: dict[str, str] = {}
    for column in columns:
        target = GUESSES.get(_REQUIRED_MARK.sub("", search.normalise(column)), "")
        if target and target not in out.values():
            out[column] = target
    return out


# --- The uploaded file -------------------------------------------------------------------------------
@dataclass
class Upload:
    token: str
    name: str
    columns: list[str]
    mapping: dict[str, str]
    total: int


def _path(actor: Any, token: str) -> str:
    return f"{FOLDER}/{actor.pk}/{token}"


def _rows(data: bytes, token: str) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    return read_rows(data, "file." + token.rsplit("-", 1)[1])


@transaction.atomic
def lead_import_upload(*, actor: Any, name: str, data: bytes) -> Upload:
    """Keep an uploaded CSV/Excel file (for its uploader only) and read its columns."""
    require(actor, "lead.import")
    lower = (name or "").lower()
    if not data:
        raise Invalid(errors={"file": [_("The file is empty: the first row must name the columns.")]})
    if len(data) > MAX_UPLOAD_BYTES:
        raise Invalid(errors={"file": [_("The file is larger than %(mb)d MB; split it into smaller files.")
                                       % {"mb": MAX_UPLOAD_BYTES // (1024 * 1024)}]})
    if lower.endswith(".xlsx"):
        if not data.startswith(b"PK\x03\x04"):
            raise Invalid(errors={"file": [_("This Excel file cannot be read; save it again as .xlsx or CSV.")]})
        ext = "xlsx"
    elif lower.endswith((".csv", ".txt")):
        if b"\0" in data[:8192]:
            raise Invalid(errors={"file": [_("This is not a text CSV file.")]})
        ext = "csv"
    else:
        raise Invalid(errors={"file": [_("Upload a CSV file or an Excel workbook (.xlsx); "
                                         "save an old .xls workbook as .xlsx first.")]})
    token = f"{uuid.uuid4().hex}-{ext}"
    columns, rows = _rows(data, token)
    total = sum(1 for _row in rows)
    if total > MAX_ROWS:
        raise Invalid(errors={"file": [_("The file has %(n)d rows; import at most %(max)d leads at a time.")
                                       % {"n": total, "max": MAX_ROWS}]})
    if total == 0:
        raise Invalid(errors={"file": [_("The file has no rows below its header.")]})
    default_storage.save(_path(actor, token), ContentFile(data))
    return Upload(token=token, name=name[:200], columns=columns, mapping=guess_mapping(columns), total=total)


def _data(actor: Any, token: str) -> bytes:
    path = _path(actor, token)
    if not TOKEN.match(token or "") or not default_storage.exists(path):
        raise Invalid(errors={"file": [_("This upload is no longer available; upload the file again.")]})
    with default_storage.open(path, "rb") as fh:
        return fh.read()  # type: ignore[no-any-return]


def lead_import_open(*, actor: Any, token: str) -> Upload:
    """The columns of an upload of the actor's, with the guessed mapping."""
    require(actor, "lead.import")
    columns, rows = _rows(_data(actor, token), token)
    return Upload(token=token, name="", columns=columns, mapping=guess_mapping(columns),
                  total=sum(1 for _row in rows))


def lead_import_discard(*, actor: Any, token: str) -> None:
    if TOKEN.match(token or ""):
        default_storage.delete(_path(actor, token))


# --- Checking every row ------------------------------------------------------------------------------
@dataclass
class Issue:
    row: int
    column: str
    value: str
    message: str
    kind: str  # "error" | "duplicate"


@dataclass
class Report:
    total: int = 0
    ready: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # (row, {field: text}) to write
    issues: list[Issue] = field(default_factory=list)
    created: int = 0

    @property
    def error_rows(self) -> int:
        return len({i.row for i in self.issues if i.kind == "error"})

    @property
    def duplicate_rows(self) -> int:
        return len({i.row for i in self.issues if i.kind == "duplicate"})

    def as_errors(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for issue in self.issues:
            if issue.kind == "error":
                out.setdefault(f"row {issue.row}: {issue.column}", []).append(issue.message)
        return out


def _clean_mapping(columns: list[str], mapping: dict[str, str]) -> dict[str, str]:
    errors: list[str] = []
    cleaned: dict[str, str] = {}
    for column, target in mapping.items():
        if not target:
            continue
        if column not in columns:
            errors.append(_("The file has no column “%(column)s”.") % {"column": column})
        elif target not in FIELDS:
            errors.append(_("“%(field)s” is not a field one can import.") % {"field": target})
        elif target in cleaned.values():
            errors.append(_("Two columns go to %(field)s; choose one.") % {"field": FIELDS[target]})
        else:
            cleaned[column] = target
    if not {"company", "person_name"} & set(cleaned.values()):
        errors.append(_("Choose the column that holds the company or the person's name."))
    if errors:
        raise Invalid(errors={"mapping": errors})
    return cleaned


class _Existing:
    """Live leads by mobile and e-mail, loaded once; visibility decided as lead_scope does."""

    def __init__(self, actor: Any) -> None:
        self.index: dict[tuple[str, str], tuple[int, int | None, int | None, str]] = {}
        for pk, mobile, email, owner_id, dept_id, code in Lead.objects.values_list(
                "id", "mobile", "email", "owner_id", "department_id", "code").iterator(chunk_size=5000):
            for key in (("mobile", mobile), ("email", (email or "").lower())):
                if key[1]:
                    self.index.setdefault(key, (pk, owner_id, dept_id, code))
        self.vis = access.visibility_for(actor)
        self.sees_unassigned = has_perm(actor, "lead.assign")

    def message(self, key: tuple[str, str]) -> str | None:
        found = self.index.get(key)
        if found is None:
            return None
        _pk, owner_id, dept_id, code = found
        if self.vis.allows(owner_id, dept_id) or (owner_id is None and self.sees_unassigned):
            return _("The same %(what)s as the existing lead %(code)s.") % {"what": _KEY_LABEL[key[0]], "code": code}
        return _("The same %(what)s as an existing lead of a colleague.") % {"what": _KEY_LABEL[key[0]]}


_KEY_LABEL = {"mobile": gettext_lazy("mobile"), "email": gettext_lazy("e-mail")}


def lead_import_check(*, actor: Any, token: str, mapping: dict[str, str], duplicates: str = "skip") -> Report:
    """Read every row as it would be imported; writes nothing."""
    require(actor, "lead.import")
    if duplicates not in DUPLICATE_MODES:
        raise Invalid(errors={"duplicates": [_("Choose what to do with duplicates.")]})
    columns, rows = _rows(_data(actor, token), token)
    mapping = _clean_mapping(columns, mapping)
    existing = _Existing(actor)
    column_of = {target: column for column, target in mapping.items()}
    seen: dict[tuple[str, str], int] = {}
    report = Report()
    for number, cells in rows:
        report.total += 1
        values = {mapping[c]: (cells[i] if i < len(cells) else "").strip() for i, c in enumerate(columns)
                  if c in mapping}
        values = {k: v for k, v in values.items() if v}
        try:
            cleaned = clean(None, values)
        except Invalid as exc:
            for name, messages in (exc.errors or {"": [exc.message]}).items():
                for text in messages:
                    report.issues.append(Issue(number, column_of.get(name, str(FIELDS.get(name, name))),
                                               values.get(name, ""), text, "error"))
            continue
        duplicate = False
        for key in (("mobile", cleaned.get("mobile", "")), ("email", cleaned.get("email", ""))):
            if not key[1]:
                continue
            message = existing.message(key)
            if message is None and key in seen:
                message = _("The same %(what)s as row %(row)d of this file.") % {"what": _KEY_LABEL[key[0]],
                                                                                  "row": seen[key]}
            seen.setdefault(key, number)
            if message is not None:
                duplicate = True
                report.issues.append(Issue(number, column_of.get(key[0], key[0]), values.get(key[0], ""), message,
                                           "duplicate"))
        if not duplicate or duplicates == "keep":
            report.ready.append((number, values))
    return report


@transaction.atomic
def lead_import_commit(*, actor: Any, token: str, mapping: dict[str, str], source: str = Lead.Source.IMPORT,
                       source_detail: str = "", owner: Any = ..., duplicates: str = "skip",
                       file_name: str = "") -> Report:
    """Check every row, then write them all in this one transaction, or nothing.

    Any invalid row → Invalid (``{"row N: column": [message]}``) and nothing is written.
    ``owner``: the actor (default), None (unassigned) or a salesperson the actor manages
    (both for those who hand leads out); a colleague given the leads is notified once.
    """
    require(actor, "lead.import")
    if source not in Lead.Source.values:
        raise Invalid(errors={"source": [_("Choose one of the sources.")]})
    person = resolve_owner(actor, owner)
    report = lead_import_check(actor=actor, token=token, mapping=mapping, duplicates=duplicates)
    if report.error_rows:
        raise Invalid(_("%(n)d rows have errors; nothing was imported.") % {"n": report.error_rows},
                      errors=report.as_errors())
    if not report.ready:
        raise Invalid(errors={"file": [_("Every row is a duplicate; nothing was imported.")]})
    detail = (source_detail or "").strip()
    numbers = lead_numbers(len(report.ready))
    for (_row, values), number in zip(report.ready, numbers, strict=True):
        data = dict(values)
        if detail and not data.get("source_detail"):
            data["source_detail"] = detail
        lead_capture(actor=actor, source=source, data={**data, "owner": person}, notify_owner=False, code=number)
        report.created += 1
    if person is not None and person.pk != actor.pk:
        notify(person, title=ngettext("%(n)d lead was assigned to you", "%(n)d leads were assigned to you",
                                      report.created) % {"n": report.created},
               url=reverse("sales:lead-list") + f"?owner={person.pk}")
    audit.record(actor=actor, action="import", obj=None, object_repr=f"leads ({report.created})",
                 changes={"file": file_name[:200], "rows": report.total, "created": report.created,
                          "duplicates": report.duplicate_rows, "duplicates_mode": duplicates, "source": source})
    transaction.on_commit(lambda: lead_import_discard(actor=actor, token=token))
    return report
