"""Customer-file writes: imports. Every one: one transaction, access checked first, audited.

An import goes upload → column mapping → preview → a background job that writes the rows
in chunks of ``CHUNK`` (one transaction each). Every row leaves an ImportRowResult in the
same transaction as its records, so a job re-run after a crash skips exactly the rows
already committed and creates no duplicate (S16). Business cards entered at a trade fair go
through the same engine synchronously, all or nothing.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import functools
import gc
import io
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.validators import MaxLengthValidator
from django.db import connection, models, transaction
from django.db.models import Count
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi.core import access, audit, codes, context, jobs, search
from guanxi.core.errors import Conflict, Forbidden, Invalid
from guanxi.core.models import AuditEvent, Job, User
from guanxi.core.permissions import has_perm
from guanxi.core.services import records
from guanxi.customers.models import (
    Account,
    Contact,
    ImportMapping,
    ImportRowResult,
    ImportRun,
    OwnershipChange,
    Tag,
)

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
CHUNK = 5000
PREVIEW_ROWS = 20
CARD_ROWS = 10
MAX_CARD_ROWS = 50

# Target fields: account fields by their own name, contact fields prefixed with ``contact_``.
ACCOUNT_FIELDS: dict[str, Any] = {
    "name": gettext_lazy("Account name"),
    "kind": gettext_lazy("Kind"),
    "credit_code": gettext_lazy("Unified social credit code"),
    "phone": gettext_lazy("Phone"),
    "region": gettext_lazy("Region"),
    "province": gettext_lazy("Province"),
    "city": gettext_lazy("City"),
    "district": gettext_lazy("District"),
    "address": gettext_lazy("Address"),
    "email": gettext_lazy("E-mail"),
    "website": gettext_lazy("Website"),
    "industry": gettext_lazy("Industry"),
    "notes": gettext_lazy("Notes"),
    "lifecycle": gettext_lazy("Lifecycle stage"),
    "owner": gettext_lazy("Owner (user name)"),
    "tags": gettext_lazy("Tags (comma-separated)"),
}
CONTACT_FIELDS: dict[str, Any] = {
    "contact_name": gettext_lazy("Contact: name"),
    "contact_mobile": gettext_lazy("Contact: mobile"),
    "contact_phone": gettext_lazy("Contact: phone"),
    "contact_title": gettext_lazy("Contact: job title"),
    "contact_email": gettext_lazy("Contact: e-mail"),
    "contact_wechat": gettext_lazy("Contact: WeChat"),
    "contact_notes": gettext_lazy("Contact: notes"),
}
FIELDS: dict[str, Any] = {**ACCOUNT_FIELDS, **CONTACT_FIELDS}
CHOICE_FIELDS = ("kind", "lifecycle")

# Header guesses, compared after search.normalise (full/half width, case, spaces) and without
# a trailing "*" or "(必填)".
GUESSES: dict[str, str] = {}
for _target, _headers in {
    "name": "客户名称 公司名称 名称 客户 公司 企业名称 单位名称 客户全称 name company companyname account accountname customer",
    "kind": "客户类型 类型 kind type",
    "credit_code": "统一社会信用代码 信用代码 社会信用代码 统一信用代码 creditcode uscc",
    "phone": "电话 联系电话 公司电话 座机 固定电话 phone tel telephone",
    "region": "地区 区域 所在地区 region",
    "province": "省份 省 province",
    "city": "城市 市 city",
    "district": "区县 区 县 district",
    "address": "地址 详细地址 公司地址 address",
    "email": "邮箱 电子邮箱 电子邮件 公司邮箱 email e-mail mail",
    "website": "网站 网址 官网 website web",
    "industry": "行业 所属行业 industry",
    "notes": "备注 说明 notes note remark remarks",
    "lifecycle": "生命周期 客户阶段 阶段 lifecycle stage",
    "owner": "负责人 归属人 所有人 业务员 销售 owner",
    "tags": "标签 tags tag",
    "contact_name": "联系人 联系人姓名 姓名 contact contactname",
    "contact_mobile": "手机 手机号 手机号码 联系人手机 mobile cellphone",
    "contact_phone": "联系人电话 contactphone",
    "contact_title": "职务 职位 title jobtitle",
    "contact_email": "联系人邮箱 contactemail",
    "contact_wechat": "微信 微信号 wechat",
    "contact_notes": "联系人备注 contactnotes",
}.items():
    for _header in _headers.split():
        GUESSES[search.normalise(_header)] = _target
_REQUIRED_MARK = re.compile(r"(\*|\(必填\)|必填)$")
_NON_DIGIT = re.compile(r"\D")


def guess_field(header: str) -> str:
    return GUESSES.get(_REQUIRED_MARK.sub("", search.normalise(header)), "")


def guess_mapping(columns: list[str]) -> dict[str, str]:
    """{column: field} for the columns whose header names a field; each field once."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for column in columns:
        target = guess_field(column)
        if target and target not in taken:
            out[column] = target
            taken.add(target)
    return out


# --- Reading files --------------------------------------------------------------------------------
def decode_csv(data: bytes) -> str:
    """UTF-8 with or without a BOM, else GB18030 (a superset of GBK: what Chinese Excel saves)."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):].decode("utf-8", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise Invalid(errors={"file": [_("The file's text encoding is neither UTF-8 nor GBK; save it as CSV UTF-8.")]})


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 13800138000 typed into Excel comes back as a float
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def _is_xlsx(name: str) -> bool:
    return name.lower().endswith(".xlsx")


def iter_file(data: bytes, name: str) -> Iterator[list[str]]:
    """Every row of the file (the header first) as text cells; empty rows included."""
    if _is_xlsx(name):
        import openpyxl

        try:
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception:  # openpyxl raises many kinds for a damaged file
            raise Invalid(errors={"file": [_("This Excel file cannot be read; save it again as .xlsx or CSV.")]})
        try:
            sheet = book.active
            if sheet is None:
                return
            for values in sheet.iter_rows(values_only=True):
                yield [_cell(v) for v in values]
        finally:
            book.close()
        return
    text = decode_csv(data)
    first_line = text[:4096].split("\n", 1)[0]
    delimiter = max((",", "\t", ";"), key=first_line.count) if first_line else ","
    for cells in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
        yield [c.strip() for c in cells]


def unique_headers(cells: list[str]) -> list[str]:
    out: list[str] = []
    for i, cell in enumerate(cells, start=1):
        header = cell.strip() or _("Column %(n)d") % {"n": i}
        base, n = header, 2
        while header in out:
            header = f"{base} ({n})"
            n += 1
        out.append(header)
    return out


def read_rows(data: bytes, name: str) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """(headers, iterator of (row number as the spreadsheet shows it, cells)); blank rows skipped."""
    rows = iter_file(data, name)
    header = next(rows, None)
    if header is None or not any(header):
        raise Invalid(errors={"file": [_("The file is empty: the first row must name the columns.")]})
    columns = unique_headers(header)

    def body() -> Iterator[tuple[int, list[str]]]:
        for number, cells in enumerate(rows, start=2):
            if any(cells):
                yield number, cells

    return columns, body()


def run_data(run: ImportRun) -> bytes:
    with run.file.open("rb") as fh:
        return fh.read()


# --- Cleaning and matching ------------------------------------------------------------------------
def _choice_map(model: type[Any], name: str) -> dict[str, str]:
    """Accepted spellings of a choice field: value, English and Chinese labels."""
    out: dict[str, str] = {}
    for value, label in model._meta.get_field(name).choices:
        out[search.normalise(str(value))] = value
        for lang in ("en", "zh-hans"):
            with translation.override(lang):
                out[search.normalise(str(label))] = value
    return out


@dataclass
class Cleaner:
    """The model field's own validators (credit code check digit, phones, e-mail, lengths)."""

    model: type[Any]
    name: str
    upper: bool = False
    choices: dict[str, str] | None = None

    def __post_init__(self) -> None:
        f = self.model._meta.get_field(self.name)
        # Length checks run only when the value is too long (then Django's own message).
        self.length_checks = [v for v in f.validators if isinstance(v, MaxLengthValidator)]
        self.validators = [v for v in f.validators if not isinstance(v, MaxLengthValidator)]
        self.max_length = min((v.limit_value for v in self.length_checks), default=None)

    def __call__(self, value: str) -> str:
        if self.upper:
            value = value.upper()
        if not value:
            return value
        if self.choices is not None:
            key = search.normalise(value)
            if key not in self.choices:
                raise ValidationError(_("“%(value)s” is not one of the choices.") % {"value": value})
            return self.choices[key]
        if self.max_length is not None and len(value) > self.max_length:
            for check in self.length_checks:
                check(value)
        for validator in self.validators:
            validator(value)
        return value


@dataclass
class Prepared:
    row: int
    account: dict[str, str] = field(default_factory=dict)
    contact: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    owner: Any = ...  # a User, None (the pool) or ... (the default)
    errors: list[dict[str, str]] = field(default_factory=list)
    keys: list[tuple[str, str]] = field(default_factory=list)
    raw: dict[str, str] = field(default_factory=dict)


@dataclass
class Match:
    kind: str  # "existing", "hidden", "row"
    by: str  # the field that matched
    account_id: int | None = None
    account_name: str = ""
    row: int | None = None
    pending: NewAccount | None = None

    def message(self) -> str:
        if self.kind == "hidden":
            return _("Matches an existing account you cannot see.")
        if self.kind == "row":
            return _("Duplicate of row %(row)d of this file.") % {"row": self.row}
        return _("Matches the existing account %(name)s.") % {"name": self.account_name}

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "by": self.by, "message": self.message()}
        if self.kind == "existing":
            data.update(account_id=self.account_id, account_name=self.account_name)
        if self.kind == "row":
            data["row"] = self.row
        return data


def name_key(name: str) -> str:
    """search.short_name until nothing more comes off: 某某公司有限公司 and 某某公司 meet at 某某."""
    short = search.short_name(name)
    while (shorter := search.short_name(short)) != short:
        short = shorter
    return short


def match_keys(*, name: str = "", credit_code: str = "", phone: str = "") -> list[tuple[str, str]]:
    """Duplicate keys in priority order: credit code exact, normalised short name, phone digits."""
    keys: list[tuple[str, str]] = []
    if credit_code:
        keys.append(("credit_code", credit_code.strip().upper()))
    if name:
        short = name_key(name)
        if short:
            keys.append(("name", short))
    digits = _NON_DIGIT.sub("", phone or "")
    if len(digits) >= 7:
        keys.append(("phone", digits[-11:]))
    return keys


# --- Bulk writing ---------------------------------------------------------------------------------
# Contact columns an import fills (the contact_ targets without their prefix).
CONTACT_COLUMNS = tuple(target[8:] for target in CONTACT_FIELDS)
_ACCOUNT_COLUMNS = frozenset(ACCOUNT_FIELDS) - {"owner", "tags"}


@functools.cache
def column_default(model: type[Any], name: str) -> Any:
    value = model._meta.get_field(name).get_default()
    return str(value) if isinstance(value, str) else value  # a TextChoices member as its plain value


class NewAccount:
    """An account of the chunk being written, before it has an id: its row's values and people."""

    __slots__ = ("code", "keys", "owner", "people", "pk", "row", "values")

    def __init__(self, row: int, values: dict[str, str], owner: User | None,
                 keys: list[tuple[str, str]] | None = None) -> None:
        self.row = row
        self.values = values
        self.owner = owner
        self.keys = keys  # its duplicate keys, None once a later row changed it
        self.people: list[str] = []
        self.code = ""
        self.pk: int | None = None

    def __getattr__(self, name: str) -> Any:  # the import's account fields, read like a model's
        if name in _ACCOUNT_COLUMNS:
            return self.values.get(name, column_default(Account, name))
        raise AttributeError(name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in NewAccount.__slots__:
            object.__setattr__(self, name, value)
        elif name in _ACCOUNT_COLUMNS:
            self.values[name] = value
        else:
            raise AttributeError(name)

    @property
    def name(self) -> str:
        return self.values.get("name", "")

    @property
    def owner_id(self) -> int | None:
        return self.owner.pk if self.owner is not None else None

    @property
    def department_id(self) -> int | None:
        return self.owner.department_id if self.owner is not None else None


@dataclass(slots=True)
class RowOutcome:
    """What happened to one row (an ImportRowResult before it is written)."""

    row_number: int
    status: str
    errors: list[dict[str, str]] = field(default_factory=list)
    account: NewAccount | None = None
    account_id: int | None = None


_PLAIN = (models.CharField, models.TextField, models.IntegerField, models.BooleanField, models.ForeignKey)


class BulkTable:
    """Multi-row INSERTs of one model, rows given as tuples of the named columns' database values.

    Every other column gets its fixed value or the field's default, prepared once. Text,
    numbers and ids go in as they are; other columns (JSON, dates) through the field's
    own ``get_db_prep_save``. No model instance per row: this is what makes 100,000-row
    imports fast; the caller fills derived columns (search text) itself.
    """

    def __init__(self, model: type[Any], columns: list[str], fixed: dict[str, Any]) -> None:
        self.model = model
        fields = {f.attname: f for f in model._meta.concrete_fields if not f.primary_key}
        template = model(**fixed)
        rest = [name for name in fields if name not in columns]
        self.fields = [fields[name] for name in columns]
        self.tail = tuple(fields[name].get_db_prep_save(getattr(template, name), connection) for name in rest)
        self.prepare: list[tuple[int, Callable[[Any], Any]]] = []
        for i, f in enumerate(self.fields):
            if isinstance(f, models.JSONField):
                self.prepare.append((i, functools.partial(connection.ops.adapt_json_value, encoder=f.encoder)))
            elif not isinstance(f, _PLAIN):
                self.prepare.append((i, functools.partial(f.get_db_prep_save, connection=connection)))
        qn = connection.ops.quote_name
        self.table, self.pk = model._meta.db_table, model._meta.pk.column
        names = ", ".join(qn(fields[name].column) for name in [*columns, *rest])
        self.head = f"INSERT INTO {qn(self.table)} ({names}) VALUES "  # noqa: S608 (the model's table and columns)
        self.copy = f"COPY {qn(self.table)} ({names}) FROM STDIN"
        self.copy_pk = f"COPY {qn(self.table)} ({qn(self.pk)}, {names}) FROM STDIN"
        self.width = len(fields)
        self.one = "(" + ", ".join(["%s"] * self.width) + ")"
        self.returning = f" RETURNING {qn(self.pk)}"

    def insert(self, rows: list[tuple[Any, ...]], *, returning: bool = False) -> list[int]:
        """Insert ``rows``; with ``returning``, their new ids in the same order."""
        if not rows:
            return []
        if self.prepare:
            prepared = []
            for row in rows:
                values = list(row)
                for i, prepare in self.prepare:
                    if values[i] is not None:
                        values[i] = prepare(values[i])
                prepared.append(values)
            full = [(*row, *self.tail) for row in prepared]
        else:
            full = [row + self.tail for row in rows]
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # COPY, with the ids drawn from the table's sequence first: row-by-row INSERTs
                # made the server parse and plan every row, multi-row VALUES made psycopg's
                # client-side binding scan the statement for each of its thousands of placeholders.
                ids: list[int] = []
                statement = self.copy
                if returning:
                    cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                                   [self.table, self.pk, len(full)])
                    ids = sorted(r[0] for r in cursor.fetchall())
                    full = [(pk, *row) for pk, row in zip(ids, full, strict=True)]
                    statement = self.copy_pk
                with cursor.cursor.copy(statement) as copy:
                    for row in full:
                        copy.write_row(row)
                return ids
            if not returning:
                cursor.executemany(self.head + self.one, full)
                return []
            ids = []
            start = 0
            for size in _batch_sizes(len(full), max(1, min(256, _max_params() // self.width))):
                batch = full[start:start + size]
                start += size
                cursor.execute(self.head + ", ".join([self.one] * size) + self.returning,
                               [v for row in batch for v in row])
                # Ids come from an increasing sequence in the order of the VALUES rows.
                ids.extend(sorted(r[0] for r in cursor.fetchall()))
        return ids


def _batch_sizes(total: int, most: int) -> Iterator[int]:
    """``total`` split into statements of ``most`` rows, the rest in powers of two.

    A handful of statement shapes, the same in every chunk: the drivers cache prepared
    statements by their text, and one shape per leftover size would fill the cache with
    large statements (SQLite kept ~2 MB each, 500 MB peak at 100,000 rows).
    """
    while total >= most:
        yield most
        total -= most
    size = 1 << max(total.bit_length() - 1, 0)
    while total:
        if size <= total:
            yield size
            total -= size
        size >>= 1


def _max_params() -> int:
    """How many parameters one statement may carry (SQLite: as compiled; PostgreSQL: 65,535)."""
    if connection.vendor == "sqlite":
        import sqlite3

        connection.ensure_connection()
        try:
            limit = connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        except AttributeError:  # Python < 3.11
            limit = 999
        return min(limit, 32_766)
    return 32_766


def search_text(*, names: Iterable[str], phone: str, codes: Iterable[str]) -> str:
    """The search text Account.derived_fields gives an account without custom fields."""
    return search.build(names=names, phones=[phone], codes=codes)


class Importer:
    """Validates, dedupes and writes rows; one instance per import run (or card batch)."""

    def __init__(self, *, actor: Any, mode: str, mapping: dict[str, str], run: ImportRun | None = None,
                 default_owner: Any = ..., note: str = "") -> None:
        self.actor = actor
        self.mode = mode
        self.run = run
        self.fields = {column: target for column, target in mapping.items() if target in FIELDS}
        self.column_of = {target: column for column, target in self.fields.items()}
        self.default_owner = actor if default_owner is ... else default_owner
        self.may_assign = has_perm(actor, "account.reassign")
        self.note = note
        self.vis = access.visibility_for(actor)
        self.cleaners: dict[str, Cleaner] = {}
        for target in self.fields.values():
            if target in ("owner", "tags"):
                continue
            model, name = (Contact, target[8:]) if target.startswith("contact_") else (Account, target)
            self.cleaners[target] = Cleaner(model, name, upper=target == "credit_code",
                                            choices=_choice_map(model, name) if name in CHOICE_FIELDS else None)
        # Dedupe indexes, loaded once: key → account id; id → (owner, department, name, approved).
        self.index: dict[tuple[str, str], int] = {}
        self.meta: dict[int, tuple[int | None, int | None, str, bool]] = {}
        self.created_row: dict[int, int] = {}  # account id → the row of this file that created it
        self.pending: dict[tuple[str, str], tuple[int, NewAccount]] = {}
        self.tables: dict[Any, BulkTable] = {}
        self.users: dict[str, User | None] = {}
        self.now = timezone.now()

    # -- indexes --
    def preload(self) -> None:
        rows = Account.objects.values_list("id", "name", "credit_code", "phone", "owner_id", "department_id",
                                           "approval_state")
        for pk, name, credit, phone, owner_id, dept_id, state in rows.iterator(chunk_size=5000):
            self.meta[pk] = (owner_id, dept_id, name, state == "approved")
            for key in match_keys(name=name, credit_code=credit, phone=phone):
                self.index.setdefault(key, pk)

    def _remember(self, account: NewAccount) -> None:
        assert account.pk is not None
        self.meta[account.pk] = (account.owner_id, account.department_id, account.name, False)
        keys = account.keys
        if keys is None:
            keys = match_keys(name=account.name, credit_code=account.credit_code, phone=account.phone)
        for key in keys:
            self.index.setdefault(key, account.pk)

    # -- one row --
    def prepare(self, row: int, values: dict[str, str]) -> Prepared:
        """Clean one row given as {target field: text}; collect every error at once."""
        p = Prepared(row=row, raw=values)
        for target, value in values.items():
            value = (value or "").strip()
            try:
                if target == "owner":
                    if value:
                        p.owner = self._owner(value)
                    continue
                if target == "tags":
                    p.tags = [t.strip()[:50] for t in re.split(r"[,，;；、]", value) if t.strip()]
                    continue
                cleaned = self.cleaners[target](value)
            except ValidationError as exc:
                for message in exc.messages:
                    p.errors.append({"field": target, "column": self.column_of.get(target, target),
                                     "value": value, "message": str(message)})
                continue
            if not cleaned:
                continue
            if target.startswith("contact_"):
                p.contact[target[8:]] = cleaned
            else:
                p.account[target] = cleaned
        if not p.account.get("name"):
            p.errors.insert(0, {"field": "name", "column": self.column_of.get("name", "name"),
                                "value": values.get("name", ""), "message": _("Enter the account's name.")})
        if p.contact and not p.contact.get("name"):
            p.errors.append({"field": "contact_name", "column": self.column_of.get("contact_name", "contact_name"),
                             "value": "", "message": _("Enter the contact's name.")})
        p.keys = match_keys(name=p.account.get("name", ""), credit_code=p.account.get("credit_code", ""),
                            phone=p.account.get("phone", ""))
        return p

    def _owner(self, username: str) -> User | None:
        if not self.may_assign:
            raise ValidationError(_("Only a manager can assign an account to someone else."))
        if username not in self.users:
            self.users[username] = User.objects.filter(username=username, is_active=True).select_related(
                "department").first()
        user = self.users[username]
        if user is None or not access.manages_user(self.actor, user):
            raise ValidationError(_("Choose an active colleague you manage."))
        return user

    def match(self, p: Prepared) -> Match | None:
        for key in p.keys:
            if key in self.pending:
                row, obj = self.pending[key]
                return Match("row", key[0], row=row, pending=obj, account_name=obj.name)
            pk = self.index.get(key)
            if pk is not None:
                owner_id, dept_id, name, _approved = self.meta[pk]
                if not self.vis.allows(owner_id, dept_id):
                    return Match("hidden", key[0])
                first = self.created_row.get(pk)
                if first is not None:
                    return Match("row", key[0], account_id=pk, account_name=name, row=first)
                return Match("existing", key[0], account_id=pk, account_name=name)
        return None

    def register_preview(self, p: Prepared) -> None:
        """In the preview, later rows see this one as an earlier row of the file."""
        for key in p.keys:
            self.pending.setdefault(key, (p.row, NewAccount(p.row, {"name": p.account.get("name", "")}, None)))

    # -- a chunk --
    def write(self, prepared: list[Prepared], progress: jobs.Progress | None = None) -> list[RowOutcome]:
        """Write one chunk in bulk; the caller holds the transaction.

        New accounts, their people, ownership lines, row results and audit rows go in with
        one multi-row INSERT per table and batch (no model instance per row: at 100,000
        rows the ORM's per-object work was most of the time). Existing accounts changed by
        update/merge mode are locked and saved through the ORM.
        """
        actor_user = self.actor if getattr(self.actor, "is_authenticated", False) else None
        outcomes: list[RowOutcome] = []
        new: list[NewAccount] = []
        contacts: list[tuple[NewAccount | Account, dict[str, str]]] = []
        tag_links: list[tuple[Any, list[str]]] = []
        updates: dict[int, dict[str, list[Any]]] = {}  # existing account id → {field: [before, after]}
        touched_existing: set[int] = set()
        matched: list[tuple[Prepared, Match, RowOutcome]] = []
        invalid = ImportRowResult.Status.INVALID
        self.pending = {}
        for p in prepared:
            if p.errors:
                outcomes.append(RowOutcome(p.row, invalid, errors=[{"column": e["column"], "value": e["value"],
                                                                    "message": e["message"]} for e in p.errors]))
                continue
            m = self.match(p)
            if m is None:
                owner = self.default_owner if p.owner is ... else p.owner
                account = NewAccount(p.row, dict(p.account), owner, p.keys)
                new.append(account)
                for key in p.keys:
                    self.pending.setdefault(key, (p.row, account))
                outcomes.append(RowOutcome(p.row, ImportRowResult.Status.CREATED, account=account))
                if p.contact:
                    contacts.append((account, p.contact))
                    account.people.append(p.contact["name"])
                if p.tags:
                    tag_links.append((account, p.tags))
                continue
            outcome = RowOutcome(p.row, ImportRowResult.Status.SKIPPED)
            outcomes.append(outcome)
            matched.append((p, m, outcome))

        existing_ids = {m.account_id for _p, m, _o in matched if m.kind in ("existing", "row") and m.account_id}
        locked: dict[int, Account] = {}
        if existing_ids and self.mode != ImportRun.Mode.SKIP:
            locked = Account.objects.select_for_update().in_bulk(existing_ids)
        for p, m, outcome in matched:
            column = self.column_of.get(m.by, m.by)
            note = {"column": column, "value": p.account.get(m.by, ""), "message": m.message()}
            if m.kind == "hidden":
                outcome.errors = [note]
                continue
            pending = m.pending
            saved = locked.get(m.account_id or 0) if pending is None else None
            target: NewAccount | Account | None = pending if pending is not None else saved
            if pending is None:
                outcome.account_id = m.account_id
            else:
                outcome.account = pending
            if self.mode == ImportRun.Mode.SKIP or target is None:
                outcome.errors = [note]
                continue
            if saved is not None and records.needs_change_request(saved):
                outcome.errors = [{**note, "message": _("The account is approved: change it by hand, "
                                                        "through a change request.")}]
                continue
            if self.mode in (ImportRun.Mode.UPDATE, ImportRun.Mode.MERGE):
                changes = {k: v for k, v in p.account.items() if k != "name" and v != getattr(target, k)
                           and (self.mode == ImportRun.Mode.UPDATE or not getattr(target, k))}
                if "credit_code" in changes and not self._code_free(changes["credit_code"], target):
                    changes.pop("credit_code")
                if saved is not None and changes:
                    diff = updates.setdefault(saved.pk, {})
                    for k, v in changes.items():
                        diff[k] = [diff[k][0] if k in diff else getattr(target, k), v]
                for k, v in changes.items():
                    setattr(target, k, v)
                if pending is not None and changes:
                    pending.keys = None  # later rows now meet it under its new code and phone too
                    for key in match_keys(credit_code=pending.credit_code, phone=pending.phone):
                        self.pending.setdefault(key, (pending.row, pending))
                outcome.status = (ImportRowResult.Status.UPDATED if self.mode == ImportRun.Mode.UPDATE
                                  else ImportRowResult.Status.MERGED)
            else:  # "attach" (business cards): the person joins the existing account
                outcome.status = ImportRowResult.Status.MERGED
            if p.contact:
                contacts.append((target, p.contact))
                if saved is not None:
                    touched_existing.add(saved.pk)
                elif pending is not None:
                    pending.people.append(p.contact["name"])
            if p.tags:
                tag_links.append((target, p.tags))

        actor_id = actor_user.pk if actor_user else None
        if new:
            self._insert_accounts(new, actor_id)
        if updates:
            objs = [locked[pk] for pk in updates]
            for obj in objs:
                obj.version += 1
                obj.updated_at = self.now
            names = sorted({k for changes in updates.values() for k in changes} | {"version", "updated_at"})
            Account.objects.bulk_update(objs, names, batch_size=500)
        contact_ids: list[int] = []
        if contacts:
            table = self._table(Contact, ["account_id", *CONTACT_COLUMNS],
                                created_by_id=actor_id, created_at=self.now, updated_at=self.now)
            contact_ids = table.insert([(a.pk, *[values.get(k, "") for k in CONTACT_COLUMNS])
                                        for a, values in contacts], returning=True)
        refresh = touched_existing | set(updates)
        if refresh:
            names_of: dict[int, list[str]] = {}
            for account_id, name in Contact.objects.filter(account_id__in=refresh).values_list("account_id", "name"):
                names_of.setdefault(account_id, []).append(name)
            objs = list(Account.objects.filter(pk__in=refresh).only("id", "name", "phone", "code", "credit_code",
                                                                     "custom"))
            for obj in objs:
                obj.search_text = obj.derived_fields(contact_names=names_of.get(obj.pk, []))["search_text"]
            Account.objects.bulk_update(objs, ["search_text"], batch_size=500)
        if tag_links:
            self._tags(tag_links)
        if new:
            table = self._table(OwnershipChange, ["account_id", "to_user_id"], from_user_id=None,
                                kind=OwnershipChange.Kind.IMPORTED, actor_id=actor_id, reason=self.note, at=self.now)
            table.insert([(a.pk, a.owner_id) for a in new])
        self._audit(actor_user, new, updates, locked, contacts, contact_ids)
        for outcome in outcomes:
            if outcome.account is not None:
                outcome.account_id = outcome.account.pk
        if self.run is not None:
            table = self._table(ImportRowResult, ["row_number", "status", "account_id", "errors"], run_id=self.run.pk)
            table.insert([(o.row_number, o.status, o.account_id, o.errors) for o in outcomes])
        if progress is not None:
            failed = sum(1 for o in outcomes if o.status == invalid)
            progress.advance(len(outcomes) - failed, failed,
                             checkpoint={"row": prepared[-1].row} if prepared else None)
        self.pending = {}
        return outcomes

    def _code_free(self, credit_code: str, target: NewAccount | Account) -> bool:
        """May ``target`` take this credit code (no other account, saved or about to be, has it)?"""
        key = ("credit_code", credit_code)
        holder = self.pending.get(key)
        if holder is not None and holder[1] is not target:
            return False
        pk = self.index.get(key)
        return pk is None or pk == target.pk

    def _table(self, model: type[Any], columns: list[str], **fixed: Any) -> BulkTable:
        key = (model, tuple(columns), tuple(sorted(fixed.items(), key=lambda kv: kv[0])))
        table = self.tables.get(key)
        if table is None:
            table = self.tables[key] = BulkTable(model, columns, fixed)
        return table

    def _insert_accounts(self, new: list[NewAccount], actor_id: int | None) -> None:
        """Codes reserved for the chunk in one call, the search text computed once per account."""
        numbers = codes.reserve("customer", len(new))
        year = timezone.localdate().year
        columns = sorted({k for a in new for k in a.values} - {"name"})
        table = self._table(Account, ["code", "name", *columns, "owner_id", "department_id", "pool_entered_at",
                                      "search_text"],
                            created_by_id=actor_id, last_activity_at=self.now, created_at=self.now,
                            updated_at=self.now)
        rows = []
        for account, number in zip(new, numbers, strict=True):
            account.code = codes.customer_code(number, year)
            values = account.values
            rows.append((account.code, account.name, *[values.get(k, "") for k in columns], account.owner_id,
                         account.department_id, None if account.owner_id else self.now,
                         search_text(names=[account.name, *account.people], phone=account.phone,
                                     codes=(account.code, account.credit_code))))
        for account, pk in zip(new, table.insert(rows, returning=True), strict=True):
            account.pk = pk
            self.created_row[pk] = account.row
            self._remember(account)

    def _tags(self, links: list[tuple[Any, list[str]]]) -> None:
        wanted = {t for _a, names in links for t in names}
        existing = dict(Tag.objects.filter(name__in=wanted).values_list("name", "id"))
        missing = [Tag(name=n) for n in sorted(wanted - set(existing))]
        if missing:
            Tag.objects.bulk_create(missing, ignore_conflicts=True)
            existing = dict(Tag.objects.filter(name__in=wanted).values_list("name", "id"))
        through = Account.tags.through
        Through: Any = through
        through.objects.bulk_create([Through(account_id=a.pk, tag_id=existing[n]) for a, names in links
                                     for n in dict.fromkeys(names)], ignore_conflicts=True)

    def _audit(self, actor_user: User | None, new: list[NewAccount], updates: dict[int, dict[str, list[Any]]],
               locked: dict[int, Account], contacts: list[tuple[NewAccount | Account, dict[str, str]]],
               contact_ids: list[int]) -> None:
        """One create/update row per record written (S15), inserted in bulk."""
        origin = context.current()
        account_type = ContentType.objects.get_for_model(Account).pk
        contact_type = ContentType.objects.get_for_model(Contact).pk
        table = self._table(AuditEvent, ["action", "content_type_id", "object_id", "object_repr", "changes"],
                            actor=actor_user, actor_name=(actor_user.get_username() if actor_user else "system")[:150],
                            ip=origin.ip, channel=origin.channel, note=self.note, at=self.now)
        owners: dict[int | None, Any] = {}
        rows: list[tuple[Any, ...]] = []
        for a in new:
            if a.owner_id not in owners:
                owners[a.owner_id] = audit.serialise(a.owner)
            changes: dict[str, Any] = {k: [None, v] for k, v in a.values.items()}
            changes["code"] = [None, a.code]
            changes["owner"] = [None, owners[a.owner_id]]
            rows.append(("create", account_type, str(a.pk), a.name[:200], changes))
        for pk, changed in updates.items():
            rows.append(("update", account_type, str(pk), str(locked[pk])[:200], changed))
        for (_a, values), pk in zip(contacts, contact_ids, strict=True):
            rows.append(("create", contact_type, str(pk), values["name"][:200],
                         {k: [None, v] for k, v in values.items()}))
        table.insert(rows)


# --- Upload, mapping, preview, start ------------------------------------------------------------
def _check_import(actor: Any) -> None:
    if not has_perm(actor, "account.import"):
        raise Forbidden()


@transaction.atomic
def import_upload(*, actor: Any, name: str, data: bytes) -> ImportRun:
    """Keep an uploaded CSV/Excel file under a random name and read its columns."""
    _check_import(actor)
    lower = (name or "").lower()
    if len(data) > MAX_UPLOAD_BYTES:
        raise Invalid(errors={"file": [_("The file is larger than %(mb)d MB; split it into smaller files.")
                                       % {"mb": MAX_UPLOAD_BYTES // (1024 * 1024)}]})
    if not data:
        raise Invalid(errors={"file": [_("The file is empty: the first row must name the columns.")]})
    if lower.endswith(".xlsx"):
        if not data.startswith(b"PK\x03\x04"):
            raise Invalid(errors={"file": [_("This Excel file cannot be read; save it again as .xlsx or CSV.")]})
    elif lower.endswith((".csv", ".txt")):
        if b"\0" in data[:8192]:
            raise Invalid(errors={"file": [_("This is not a text CSV file.")]})
    else:
        raise Invalid(errors={"file": [_("Upload a CSV file or an Excel workbook (.xlsx); "
                                         "save an old .xls workbook as .xlsx first.")]})
    columns, rows = read_rows(data, lower)
    total = sum(1 for _row in rows)
    run = ImportRun(original_name=(name or "import")[:200], columns=columns, mapping=guess_mapping(columns),
                    total_rows=total, created_by=actor)
    run.file.save(f"{uuid.uuid4().hex}", ContentFile(data), save=False)
    run.save()
    audit.record(actor=actor, action="create", obj=run, changes={"file": [None, run.original_name],
                                                                "rows": [None, total]})
    return run


def _clean_mapping(actor: Any, run: ImportRun, mapping: dict[str, str]) -> dict[str, str]:
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, str] = {}
    seen: dict[str, str] = {}
    for column, target in mapping.items():
        if not target:
            continue
        if column not in run.columns:
            errors.setdefault("mapping", []).append(_("The file has no column “%(column)s”.") % {"column": column})
        elif target not in FIELDS:
            errors.setdefault("mapping", []).append(_("“%(field)s” is not a field one can import.") % {"field": target})
        elif target in seen:
            errors.setdefault("mapping", []).append(
                _("“%(a)s” and “%(b)s” both go to %(field)s; choose one.")
                % {"a": seen[target], "b": column, "field": FIELDS[target]})
        else:
            seen[target] = column
            cleaned[column] = target
    if "name" not in seen:
        errors.setdefault("mapping", []).append(_("Choose the column that holds the account's name."))
    if "owner" in seen and not has_perm(actor, "account.reassign"):
        errors.setdefault("mapping", []).append(_("Only a manager can assign an account to someone else."))
    if errors:
        raise Invalid(errors=errors)
    return cleaned


@transaction.atomic
def import_set_mapping(*, actor: Any, run: ImportRun, mapping: dict[str, str], mode: str,
                       save_as: str = "") -> ImportRun:
    """Choose what each column fills and what happens to duplicates; optionally save the mapping."""
    _check_import(actor)
    run = ImportRun.objects.select_for_update().get(pk=run.pk)
    if run.state not in (ImportRun.State.UPLOADED, ImportRun.State.MAPPED):
        raise Conflict(_("This import has started already."))
    if mode not in ImportRun.Mode.values:
        raise Invalid(errors={"mode": [_("Choose what to do with duplicates.")]})
    cleaned = _clean_mapping(actor, run, mapping)
    before = {"mapping": run.mapping, "mode": run.mode}
    run.mapping, run.mode, run.state = cleaned, mode, ImportRun.State.MAPPED
    run.save(update_fields=["mapping", "mode", "state"])
    audit.record(actor=actor, action="update", obj=run, changes={"mapping": [before["mapping"], cleaned],
                                                                "mode": [before["mode"], mode]})
    if save_as.strip():
        mapping_save(actor=actor, name=save_as, columns=cleaned)
    return run


@transaction.atomic
def mapping_save(*, actor: Any, name: str, columns: dict[str, str]) -> ImportMapping:
    """Save (or replace) a named mapping {column header: field} for the next file of the same shape."""
    _check_import(actor)
    name = name.strip()[:100]
    if not name:
        raise Invalid(errors={"name": [_("Name the mapping.")]})
    bad = sorted(t for t in columns.values() if t and t not in FIELDS)
    if bad:
        raise Invalid(errors={"columns": [_("“%(field)s” is not a field one can import.") % {"field": bad[0]}]})
    columns = {str(k)[:200]: v for k, v in columns.items() if v}
    obj = ImportMapping.objects.filter(name=name, target="account").first()
    if obj is None:
        obj = ImportMapping.objects.create(name=name, columns=columns, created_by=actor)
        audit.record(actor=actor, action="create", obj=obj, changes={"columns": [None, columns]})
    else:
        before = obj.columns
        obj.columns = columns
        obj.save(update_fields=["columns"])
        audit.record(actor=actor, action="update", obj=obj, changes={"columns": [before, columns]})
    return obj


def apply_saved_mapping(run: ImportRun, saved: ImportMapping) -> dict[str, str]:
    """The saved mapping's choices for the columns this file has (matched by header)."""
    return {c: saved.columns[c] for c in run.columns if saved.columns.get(c)}


def _row_values(columns: list[str], mapping: dict[str, str], cells: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for i, column in enumerate(columns):
        target = mapping.get(column)
        if target:
            values[target] = cells[i] if i < len(cells) else ""
    return values


def import_preview(*, actor: Any, run: ImportRun, limit: int = PREVIEW_ROWS) -> list[dict[str, Any]]:
    """The first rows as they will be read: cleaned values, errors per cell, the duplicate matched.

    Writes nothing; hidden accounts are reported without their name.
    """
    _check_import(actor)
    importer = Importer(actor=actor, mode=run.mode, mapping=run.mapping, run=None)
    importer.preload()
    _columns, rows = read_rows(run_data(run), run.original_name)
    out: list[dict[str, Any]] = []
    for number, cells in rows:
        p = importer.prepare(number, _row_values(run.columns, run.mapping, cells))
        m = importer.match(p) if not p.errors else None
        importer.register_preview(p)
        by_column: dict[str, list[str]] = {}
        for e in p.errors:
            by_column.setdefault(e["column"], []).append(e["message"])
        out.append({"row": number, "cells": [cells[i] if i < len(cells) else "" for i in range(len(run.columns))],
                    "errors": by_column, "error_list": p.errors, "duplicate": m.as_dict() if m else None})
        if len(out) >= limit:
            break
    return out


@transaction.atomic
def import_start(*, actor: Any, run: ImportRun) -> Job:
    """Queue the import as a background job (the job page shows its progress)."""
    _check_import(actor)
    run = ImportRun.objects.select_for_update().get(pk=run.pk)
    if run.state != ImportRun.State.MAPPED:
        raise Conflict(_("Map the columns first; an import runs once."))
    job = jobs.job_start(actor=actor, kind="customers.import", params={"run": run.pk})
    run.job, run.state = job, ImportRun.State.RUNNING
    run.save(update_fields=["job", "state"])
    audit.record(actor=actor, action="update", obj=run, changes={"state": [ImportRun.State.MAPPED, run.state]})
    return job


@transaction.atomic
def import_resume(*, actor: Any, run: ImportRun) -> Job:
    """Queue a failed import again, or one whose worker died (stalled): it carries on after
    the last committed row, and rows already written are skipped (S16)."""
    _check_import(actor)
    run = ImportRun.objects.select_for_update().get(pk=run.pk)
    if run.job is None or run.state == ImportRun.State.DONE or not (run.job.state == Job.State.FAILED
                                                                      or run.job.stalled):
        raise Conflict(_("Only a failed or stalled import can be resumed."))
    previous = run.job.state
    Job.objects.filter(pk=run.job.pk).update(state=Job.State.QUEUED, finished_at=None)
    from guanxi.core.tasks import run_job

    job_id = str(run.job.pk)
    transaction.on_commit(lambda: run_job(job_id))
    audit.record(actor=actor, action="update", obj=run, changes={"job": [previous, Job.State.QUEUED]})
    return run.job


def _after_chunk(run: ImportRun, last_row: int) -> None:
    """Called after each committed chunk (tests make it raise to simulate a crash)."""


def import_counts(run: ImportRun) -> dict[str, int]:
    counts = {s: 0 for s in ImportRowResult.Status.values}
    for status, n in run.rows.values_list("status").annotate(n=Count("id")).values_list("status", "n"):
        counts[status] = n
    return counts


@jobs.handler("customers.import")
def _import_job(job: Job, progress: jobs.Progress) -> dict[str, Any]:
    run = ImportRun.objects.select_related("created_by", "created_by__department").get(pk=job.params["run"])
    actor = run.created_by
    done = set(run.rows.values_list("row_number", flat=True))
    progress.set_total(run.total_rows)
    importer = Importer(actor=actor, mode=run.mode, mapping=run.mapping, run=run,
                        note=f"import #{run.pk} {run.original_name}"[:200])
    batch: list[Prepared] = []

    def flush() -> None:
        with transaction.atomic():
            importer.write(batch, progress)
        _after_chunk(run, batch[-1].row)
        batch.clear()
        gc.freeze()

    # The dedupe index of every account and the rows read so far are long-lived: frozen, the
    # garbage collector stops walking them again and again (about 15 % of the time).
    gc.freeze()
    try:
        importer.preload()
        _columns, rows = read_rows(run_data(run), run.original_name)
        gc.freeze()
        for number, cells in rows:
            if number in done:
                continue
            batch.append(importer.prepare(number, _row_values(run.columns, run.mapping, cells)))
            if len(batch) >= CHUNK:
                flush()
        if batch:
            flush()
    finally:
        gc.unfreeze()
    counts = import_counts(run)
    with transaction.atomic():
        ImportRun.objects.filter(pk=run.pk).update(state=ImportRun.State.DONE, stats=counts)
        audit.record(actor=actor, action="import", obj=run, changes={"rows": run.total_rows, **counts})
    return {"run": run.pk, **counts}


# --- Business cards (trade fairs) -------------------------------------------------------------------
CARD_FIELDS: dict[str, str] = {"company": "name", "name": "contact_name", "title": "contact_title",
                               "mobile": "contact_mobile", "email": "contact_email", "wechat": "contact_wechat",
                               "notes": "contact_notes"}


@transaction.atomic
def cards_create(*, actor: Any, rows: Iterable[dict[str, str]], owner: Any = ...) -> list[RowOutcome]:
    """Enter several people from business cards at once, all or nothing.

    Each card creates an account (or joins the matching account the actor can see) and
    the person at it. ``owner``: the actor by default, a colleague the actor manages, or
    None for the pool (managers only). Errors come back as {"<row index>.<field>": [msg]}.
    """
    if not (has_perm(actor, "account.add") and has_perm(actor, "contact.add")):
        raise Forbidden()
    owner = actor if owner is ... else owner
    if owner is None or owner.pk != actor.pk:
        if not has_perm(actor, "account.reassign"):
            raise Forbidden(_("Only a manager can assign an account to someone else."))
        if owner is not None and (not owner.is_active or not access.manages_user(actor, owner)):
            raise Invalid(errors={"owner": [_("Choose an active colleague you manage.")]})
    mapping = {card: target for card, target in CARD_FIELDS.items()}
    importer = Importer(actor=actor, mode="attach", mapping=mapping, default_owner=owner, note="business cards")
    importer.preload()
    prepared: list[Prepared] = []
    errors: dict[str, list[str]] = {}
    index_of: dict[int, int] = {}
    for i, card in enumerate(rows):
        values = {CARD_FIELDS[k]: str(card.get(k, "") or "") for k in CARD_FIELDS}
        if not any(v.strip() for v in values.values()):
            continue
        p = importer.prepare(i + 1, values)
        if not p.contact.get("name") and not any(e["field"] == "contact_name" for e in p.errors):
            p.errors.append({"field": "contact_name", "column": "name", "value": "",
                             "message": _("Enter the contact's name.")})
        m = importer.match(p) if not p.errors else None
        if m is not None and m.kind == "hidden":
            p.errors.append({"field": "name", "column": "company", "value": p.account.get("name", ""),
                             "message": _("Matches an existing account you cannot see; ask your manager.")})
        importer.register_preview(p)
        index_of[p.row] = i
        for e in p.errors:
            errors.setdefault(f"{i}.{e['column']}", []).append(e["message"])
        prepared.append(p)
    if not prepared:
        raise Invalid(errors={"cards": [_("Enter at least one business card.")]})
    if errors:
        raise Invalid(errors=errors)
    importer.pending = {}
    return importer.write(prepared)
