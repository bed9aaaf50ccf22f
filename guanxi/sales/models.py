"""Sales (R4, R11.2–R11.4): the transaction side of the customer file.

Products and price lists are a catalogue everyone reads. Leads, opportunities, quotes,
orders and contracts are *owned* records: each carries its own ``owner`` and the owner's
``department`` (one indexed column, as accounts do), so "salespeople see their own deals,
managers their team's" is ``core.access.visible`` on the record itself. Payment plans,
receipts, lines and stage history hang off their parent and are visible with it.

Amounts are stored in the record's currency with the rate to CNY fixed when the record was
written (``rate_to_cny``), so totals in CNY never move when the rate table changes.
``AccountSales`` keeps each customer's cumulative figures (R11.4); every service that
writes an order, a contract or a receipt updates it in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from guanxi.core.models import Department, SoftDeletable, Team, Versioned
from guanxi.customers.models import Account, Contact

CNY = "CNY"


def product_picture_path(instance: Product, filename: str) -> str:
    return f"products/{timezone.now():%Y/%m}/{filename}"


class Channel(models.TextChoices):
    """How a customer buys from us: what a price list may be limited to."""

    DIRECT = "direct", _("Direct")  # 直销
    DISTRIBUTOR = "distributor", _("Distributor")  # 经销
    ONLINE = "online", _("Online")  # 网销


# --- Currencies ----------------------------------------------------------------------------
class ExchangeRate(Versioned):
    """How many CNY one unit of ``currency`` is worth from ``valid_from`` on (CNY itself is 1)."""

    currency = models.CharField(_("currency"), max_length=3)
    rate = models.DecimalField(_("CNY per unit"), max_digits=16, decimal_places=6)
    valid_from = models.DateField(_("valid from"))

    class Meta:
        verbose_name = _("exchange rate")
        verbose_name_plural = _("exchange rates")
        ordering = ["currency", "-valid_from"]
        constraints = [models.UniqueConstraint(fields=["currency", "valid_from"], name="exchange_rate_unique")]

    def __str__(self) -> str:
        return f"{self.currency} {self.rate} ({self.valid_from:%Y-%m-%d})"


# --- Products and price lists --------------------------------------------------------------
class Product(SoftDeletable, Versioned):
    """One thing we sell, described the way the quote shows it (R4.2)."""

    code = models.CharField(_("product code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=200)
    model = models.CharField(_("model"), max_length=100, blank=True)  # 型号
    specification = models.TextField(_("specification"), blank=True)  # 规格
    packaging = models.CharField(_("packaging"), max_length=200, blank=True)  # 包装
    unit = models.CharField(_("unit"), max_length=20, default="件")  # 单位
    features = models.TextField(_("features"), blank=True)  # 特点, one per line
    description = models.TextField(_("description"), blank=True)
    category = models.CharField(_("product line"), max_length=100, blank=True)
    picture = models.ImageField(_("picture"), upload_to=product_picture_path, max_length=200, blank=True)
    list_price = models.DecimalField(_("list price"), max_digits=16, decimal_places=2, default=Decimal("0"))
    currency = models.CharField(_("currency"), max_length=3, default=CNY)
    tax_rate = models.DecimalField(_("tax rate (%)"), max_digits=5, decimal_places=2, default=Decimal("13"))
    active = models.BooleanField(_("on sale"), default=True)
    # Name, pinyin, initials, code and model in one lowercase text (core/search.py).
    search_text = models.TextField(default="", blank=True, editable=False)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["code"]
        indexes = [models.Index(fields=["category", "code"], name="product_category_code")]

    def __str__(self) -> str:
        return f"{self.name} {self.model}".strip()


class PriceList(SoftDeletable, Versioned):
    """Prices for some customers over a period: by grade, region (province) or channel.

    Empty criteria match everyone; when several lists match an account on a date, the one
    with the highest ``priority`` wins, then the most specific.
    """

    name = models.CharField(_("name"), max_length=100)
    currency = models.CharField(_("currency"), max_length=3, default=CNY)
    grade = models.CharField(_("customer grade"), max_length=8, blank=True)
    province = models.CharField(_("region (province)"), max_length=32, blank=True)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices, blank=True)
    valid_from = models.DateField(_("valid from"), null=True, blank=True)
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    priority = models.SmallIntegerField(_("priority"), default=0)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("price list")
        verbose_name_plural = _("price lists")
        ordering = ["-priority", "name"]

    def __str__(self) -> str:
        return self.name


class PriceListItem(Versioned):
    price_list = models.ForeignKey(PriceList, on_delete=models.CASCADE, related_name="items",
                                   verbose_name=_("price list"))
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="prices", verbose_name=_("product"))
    min_quantity = models.DecimalField(_("from quantity"), max_digits=14, decimal_places=3, default=Decimal("1"))
    price = models.DecimalField(_("unit price"), max_digits=16, decimal_places=2)

    class Meta:
        verbose_name = _("price")
        verbose_name_plural = _("prices")
        ordering = ["price_list", "product", "min_quantity"]
        constraints = [models.UniqueConstraint(fields=["price_list", "product", "min_quantity"],
                                               name="price_list_item_unique")]

    def __str__(self) -> str:
        return f"{self.product} ≥{self.min_quantity}: {self.price}"


# --- Leads (R4.1) --------------------------------------------------------------------------
class Lead(SoftDeletable, Versioned):
    """Someone who may buy, not yet qualified: converted into account + contact + deal."""

    class State(models.TextChoices):
        NEW = "new", pgettext_lazy("lead state", "New")  # 新线索
        ASSIGNED = "assigned", _("Assigned")  # 已分配
        WORKING = "working", _("Working")  # 跟进中
        QUALIFIED = "qualified", _("Qualified")  # 已确认
        DISQUALIFIED = "disqualified", _("Disqualified")  # 无效
        CONVERTED = "converted", _("Converted")  # 已转化

    class Source(models.TextChoices):
        FORM = "form", _("Web form")
        IMPORT = "import", _("Import")
        API = "api", _("API")
        MAIL = "mail", pgettext_lazy("lead source", "E-mail")
        MANUAL = "manual", _("Entered by hand")
        REFERRAL = "referral", _("Referral")  # 转介绍
        EXHIBITION = "exhibition", _("Exhibition")  # 展会
        PHONE = "phone", _("Phone enquiry")  # 来电

    code = models.CharField(_("lead number"), max_length=32, unique=True, editable=False)
    person_name = models.CharField(_("person"), max_length=100, blank=True)
    company = models.CharField(_("company"), max_length=200, blank=True)
    title = models.CharField(_("job title"), max_length=100, blank=True)
    mobile = models.CharField(_("mobile"), max_length=32, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    wechat = models.CharField(_("WeChat"), max_length=64, blank=True)
    province = models.CharField(_("province"), max_length=32, blank=True)
    city = models.CharField(_("city"), max_length=32, blank=True)
    credit_code = models.CharField(_("unified social credit code"), max_length=18, blank=True)
    interest = models.TextField(_("interested in"), blank=True)
    products = models.ManyToManyField(Product, blank=True, related_name="leads", verbose_name=_("products"))
    estimated_amount = models.DecimalField(_("estimated amount"), max_digits=16, decimal_places=2, null=True, blank=True)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices, default=Source.MANUAL)
    source_detail = models.CharField(_("source detail"), max_length=200, blank=True)  # which fair, who referred
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.NEW)
    notes = models.TextField(_("notes"), blank=True)
    disqualify_reason = models.CharField(_("reason not qualified"), max_length=200, blank=True)
    # Unassigned leads (no owner) wait for a manager who holds lead.assign.
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="leads", verbose_name=_("owner"))
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="leads", verbose_name=_("department"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", verbose_name=_("created by"))
    assigned_at = models.DateTimeField(_("assigned at"), null=True, blank=True)
    converted_at = models.DateTimeField(_("converted at"), null=True, blank=True)
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.PROTECT, related_name="leads",
                                verbose_name=_("account"))
    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.PROTECT, related_name="leads",
                                verbose_name=_("contact"))
    opportunity = models.ForeignKey("Opportunity", null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+", verbose_name=_("opportunity"))
    search_text = models.TextField(default="", blank=True, editable=False)

    class Meta:
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["owner", "-id"], condition=Q(deleted_at__isnull=True), name="lead_owner_alive"),
            models.Index(fields=["department", "-id"], condition=Q(deleted_at__isnull=True),
                         name="lead_department_alive"),
            models.Index(fields=["state", "-id"], name="lead_state"),
        ]

    def __str__(self) -> str:
        return " · ".join(x for x in (self.company, self.person_name) if x) or self.code


# --- Pipelines and opportunities (R4.1, R13.2) ---------------------------------------------
class Pipeline(Versioned):
    """A sales process with its own stages (e.g. projects, distributor orders, exports)."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    is_default = models.BooleanField(_("default pipeline"), default=False)
    active = models.BooleanField(_("active"), default=True)
    sort_order = models.PositiveIntegerField(_("sort order"), default=0)

    class Meta:
        verbose_name = _("pipeline")
        verbose_name_plural = _("pipelines")
        ordering = ["sort_order", "id"]

    def __str__(self) -> str:
        return self.name


class Stage(Versioned):
    class Kind(models.TextChoices):
        OPEN = "open", pgettext_lazy("stage kind", "Open")
        WON = "won", _("Won")  # 赢单
        LOST = "lost", _("Lost")  # 输单

    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="stages",
                                 verbose_name=_("pipeline"))
    name = models.CharField(_("name"), max_length=100)
    probability = models.PositiveSmallIntegerField(_("default probability (%)"), default=10)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.OPEN)
    position = models.PositiveSmallIntegerField(_("order"), default=1)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("stage")
        verbose_name_plural = _("stages")
        ordering = ["pipeline", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["pipeline", "name"], name="stage_name_unique")]

    def __str__(self) -> str:
        return self.name


class LossReason(Versioned):
    name = models.CharField(_("name"), max_length=100, unique=True)
    active = models.BooleanField(_("active"), default=True)
    sort_order = models.PositiveIntegerField(_("sort order"), default=0)

    class Meta:
        verbose_name = _("loss reason")
        verbose_name_plural = _("loss reasons")
        ordering = ["sort_order", "id"]

    def __str__(self) -> str:
        return self.name


class Opportunity(SoftDeletable, Versioned):
    """A deal (商机): an amount we expect from an account by a date, moving through stages."""

    class State(models.TextChoices):
        OPEN = "open", pgettext_lazy("deal state", "Open")
        WON = "won", _("Won")
        LOST = "lost", _("Lost")

    code = models.CharField(_("deal number"), max_length=32, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=200)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="opportunities",
                                verbose_name=_("account"))
    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="opportunities", verbose_name=_("contact"))
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="opportunities",
                                 verbose_name=_("pipeline"))
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="opportunities", verbose_name=_("stage"))
    state = models.CharField(_("state"), max_length=8, choices=State.choices, default=State.OPEN)
    probability = models.PositiveSmallIntegerField(_("probability (%)"), default=10)
    amount = models.DecimalField(_("amount"), max_digits=16, decimal_places=2, default=Decimal("0"))
    currency = models.CharField(_("currency"), max_length=3, default=CNY)
    rate_to_cny = models.DecimalField(_("rate to CNY"), max_digits=16, decimal_places=6, default=Decimal("1"))
    expected_close = models.DateField(_("expected close date"), null=True, blank=True)
    closed_on = models.DateField(_("closed on"), null=True, blank=True)
    competitors = models.TextField(_("competitors"), blank=True)
    loss_reason = models.ForeignKey(LossReason, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("loss reason"))
    loss_note = models.TextField(_("why we lost"), blank=True)
    description = models.TextField(_("description"), blank=True)
    next_step = models.CharField(_("next step"), max_length=200, blank=True)
    products = models.ManyToManyField(Product, blank=True, related_name="opportunities", verbose_name=_("products"))
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="opportunities",
                              verbose_name=_("owner"))
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="opportunities", verbose_name=_("department"))
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                             verbose_name=_("from lead"))
    # Order of the card inside its kanban column (lower first); ties fall back to id.
    rank = models.IntegerField(default=0, editable=False)
    stage_changed_at = models.DateTimeField(_("in this stage since"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("opportunity")
        verbose_name_plural = _("opportunities")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["owner", "-id"], condition=Q(deleted_at__isnull=True), name="deal_owner_alive"),
            models.Index(fields=["department", "-id"], condition=Q(deleted_at__isnull=True),
                         name="deal_department_alive"),
            # The kanban board: a pipeline's open cards column by column.
            models.Index(fields=["pipeline", "stage", "rank", "id"], condition=Q(deleted_at__isnull=True),
                         name="deal_board"),
            # The board's rows: a pipeline's open deals and those closed lately, each side of the
            # OR from the index (measured at M: the general manager's board 95 → ? ms of SQL).
            models.Index(fields=["pipeline", "state", "closed_on"], condition=Q(deleted_at__isnull=True),
                         name="deal_board_rows"),
            models.Index(fields=["account", "state"], name="deal_account_state"),
            # The weighted pipeline by month (R11.3): everything it reads of a deal is in the index,
            # so the open deals of the months asked for are summed without visiting their rows.
            models.Index(fields=["state", "expected_close", "owner", "department", "account", "amount",
                                 "rate_to_cny", "probability", "deleted_at"], condition=Q(deleted_at__isnull=True),
                         name="deal_forecast_covering"),
        ]

    def __str__(self) -> str:
        return self.name

    # Where the deal sat on the board when it was read: the board's figures of that place are
    # recounted after a change even when the change moved the deal elsewhere (``services.board``).
    BOARD_FIELDS = ("pipeline_id", "stage_id", "owner_id", "state", "closed_on")

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any, **kwargs: Any) -> Opportunity:
        instance = super().from_db(db, field_names, values, **kwargs)
        loaded = instance.__dict__
        if all(name in loaded for name in cls.BOARD_FIELDS):
            instance.board_loaded = tuple(loaded[name] for name in cls.BOARD_FIELDS)
        return instance

    board_loaded: tuple[Any, ...] | None = None

    @property
    def weighted_amount(self) -> Decimal:
        return (self.amount * self.rate_to_cny * self.probability / 100).quantize(Decimal("0.01"))


class StageChange(models.Model):
    """Every move of a deal between stages (the stage history)."""

    opportunity = models.ForeignKey(Opportunity, on_delete=models.CASCADE, related_name="stage_changes",
                                    verbose_name=_("opportunity"))
    from_stage = models.ForeignKey(Stage, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("from stage"))
    to_stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="+", verbose_name=_("to stage"))
    probability = models.PositiveSmallIntegerField(_("probability (%)"))
    amount = models.DecimalField(_("amount"), max_digits=16, decimal_places=2)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", verbose_name=_("changed by"))
    changed_at = models.DateTimeField(_("changed at"), default=timezone.now)

    class Meta:
        verbose_name = _("stage change")
        verbose_name_plural = _("stage changes")
        ordering = ["-changed_at", "-id"]
        indexes = [models.Index(fields=["opportunity", "-changed_at"], name="stage_change_deal")]

    def __str__(self) -> str:
        return f"{self.from_stage} → {self.to_stage}"


class BoardFigures(models.Model):
    """The kanban board's column figures, kept by the deal services (``services.board``).

    One row per (pipeline, stage, owner, state, close day) with the count, the CNY amount and
    the weighted CNY amount of the live deals (of live accounts) in it. Open deals share the
    day ``OPEN_DAY`` (the last day there is: they are on every day's board), closed ones
    without a date ``NO_DAY`` (on none), so the board's rows — open, or closed on or after a
    day — are one range of an index. The board sums a few hundred of these rows instead of
    every deal. Every service that writes a deal recounts the rows of the deal's old and new
    place in its transaction; ``guanxi sales_recount`` and the nightly job rebuild them all.
    Who sees a row is decided by its owner (a deal's department is always its owner's).
    """

    OPEN_DAY = dt.date(9999, 12, 31)
    NO_DAY = dt.date(1970, 1, 1)

    # No index of their own: an index in stage order tempted SQLite's planner to walk the whole
    # table for the board's GROUP BY stage instead of reading its range of ``board_figures_read``.
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="+", db_index=False)
    stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="+", db_index=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    state = models.CharField(max_length=8)
    closed_on = models.DateField()  # OPEN_DAY for open deals, NO_DAY for closed ones without a date
    count = models.PositiveIntegerField(default=0)
    amount = models.DecimalField(max_digits=26, decimal_places=8, default=Decimal("0"))
    weighted = models.DecimalField(max_digits=28, decimal_places=10, default=Decimal("0"))

    class Meta:
        verbose_name = _("board figures")
        verbose_name_plural = _("board figures")
        constraints = [models.UniqueConstraint(fields=["pipeline", "closed_on", "stage", "owner", "state"],
                                               name="board_figures_key")]
        # The board's read: a pipeline's rows from a day on, with what it sums (no table visit).
        indexes = [models.Index(fields=["pipeline", "closed_on", "stage", "owner", "count", "amount", "weighted"],
                                name="board_figures_read")]

    def __str__(self) -> str:
        return f"{self.stage_id} {self.owner_id} {self.state} {self.closed_on}: {self.count}"


# --- Quotes (R4.2) -------------------------------------------------------------------------
class Quote(SoftDeletable, Versioned):
    """A priced offer to an account. Each sent revision is kept (``QuoteRevision``).

    A line discount above the configured limit (``GUANXI_QUOTE_DISCOUNT_LIMIT``) needs a
    manager's approval before the quote can be sent; editing an approved quote asks again.
    """

    class State(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PENDING = "pending", _("Waiting for approval")
        APPROVED = "approved", _("Approved")
        SENT = "sent", _("Sent")
        ACCEPTED = "accepted", _("Accepted")
        DECLINED = "declined", _("Declined")
        EXPIRED = "expired", _("Expired")
        CANCELLED = "cancelled", pgettext_lazy("quote state", "Cancelled")

    code = models.CharField(_("quote number"), max_length=32, unique=True, editable=False)
    revision = models.PositiveSmallIntegerField(_("revision"), default=1)
    # Meaningful by rule (R4.2): "<customer> <subject> 报价单 <date>", never just "报价单".
    title = models.CharField(_("title"), max_length=300)
    subject = models.CharField(_("subject"), max_length=200)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="quotes", verbose_name=_("account"))
    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.PROTECT, related_name="quotes",
                                verbose_name=_("attention of"))
    opportunity = models.ForeignKey(Opportunity, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="quotes", verbose_name=_("opportunity"))
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.DRAFT)
    quote_date = models.DateField(_("quote date"), default=timezone.localdate)
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3, default=CNY)
    rate_to_cny = models.DecimalField(_("rate to CNY"), max_digits=16, decimal_places=6, default=Decimal("1"))
    prices_include_tax = models.BooleanField(_("prices include tax"), default=True)
    payment_terms = models.TextField(_("payment terms"), blank=True)
    delivery_terms = models.TextField(_("delivery terms"), blank=True)
    terms = models.TextField(_("other terms"), blank=True)
    notes = models.TextField(_("notes"), blank=True)
    # Derived from the lines by the quote service.
    subtotal = models.DecimalField(_("subtotal"), max_digits=16, decimal_places=2, default=Decimal("0"), editable=False)
    discount_total = models.DecimalField(_("discount"), max_digits=16, decimal_places=2, default=Decimal("0"), editable=False)
    tax_total = models.DecimalField(_("tax"), max_digits=16, decimal_places=2, default=Decimal("0"), editable=False)
    total = models.DecimalField(_("total"), max_digits=16, decimal_places=2, default=Decimal("0"), editable=False)
    max_discount = models.DecimalField(_("largest discount (%)"), max_digits=5, decimal_places=2,
                                       default=Decimal("0"), editable=False)
    # Approval of a discount above the limit.
    approval_requested_at = models.DateTimeField(_("approval requested at"), null=True, blank=True)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+", verbose_name=_("decided by"))
    approved_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    approval_note = models.TextField(_("decision note"), blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="quotes",
                              verbose_name=_("owner"))
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="quotes", verbose_name=_("department"))

    class Meta:
        verbose_name = _("quote")
        verbose_name_plural = _("quotes")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["owner", "-id"], condition=Q(deleted_at__isnull=True), name="quote_owner_alive"),
            models.Index(fields=["department", "-id"], condition=Q(deleted_at__isnull=True),
                         name="quote_department_alive"),
            models.Index(fields=["account", "-id"], name="quote_account"),
            models.Index(fields=["state", "-id"], name="quote_state"),
        ]

    def __str__(self) -> str:
        return self.title


class PricedLine(models.Model):
    """What a quote line and an order line share: the item, its quantity and its price."""

    position = models.PositiveSmallIntegerField(_("line"), default=1)
    name = models.CharField(_("name"), max_length=200)
    model = models.CharField(_("model"), max_length=100, blank=True)
    unit = models.CharField(_("unit"), max_length=20, blank=True)
    quantity = models.DecimalField(_("quantity"), max_digits=14, decimal_places=3, default=Decimal("1"))
    unit_price = models.DecimalField(_("unit price"), max_digits=16, decimal_places=2)
    discount = models.DecimalField(_("discount (%)"), max_digits=5, decimal_places=2, default=Decimal("0"))
    tax_rate = models.DecimalField(_("tax rate (%)"), max_digits=5, decimal_places=2, default=Decimal("13"))
    total = models.DecimalField(_("line total"), max_digits=16, decimal_places=2, default=Decimal("0"))
    remarks = models.CharField(_("remarks"), max_length=300, blank=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.name


class QuoteLine(PricedLine):
    """A line from the catalogue (product set; its description copied) or free (no product)."""

    quote = models.ForeignKey(Quote, on_delete=models.CASCADE, related_name="lines", verbose_name=_("quote"))
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                verbose_name=_("product"))
    specification = models.TextField(_("specification"), blank=True)
    packaging = models.CharField(_("packaging"), max_length=200, blank=True)
    features = models.TextField(_("features"), blank=True)

    class Meta:
        verbose_name = _("quote line")
        verbose_name_plural = _("quote lines")
        ordering = ["quote", "position", "id"]


class QuoteRevision(models.Model):
    """A revision as it was when superseded or sent: header, lines and totals as JSON."""

    quote = models.ForeignKey(Quote, on_delete=models.CASCADE, related_name="revisions", verbose_name=_("quote"))
    revision = models.PositiveSmallIntegerField(_("revision"))
    snapshot = models.JSONField(_("content"))
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", verbose_name=_("created by"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("quote revision")
        verbose_name_plural = _("quote revisions")
        ordering = ["quote", "-revision"]
        constraints = [models.UniqueConstraint(fields=["quote", "revision"], name="quote_revision_unique")]

    def __str__(self) -> str:
        return f"{self.quote_id} r{self.revision}"


# --- Orders (R4.3) -------------------------------------------------------------------------
class Order(SoftDeletable, Versioned):
    class State(models.TextChoices):
        DRAFT = "draft", _("Draft")
        CONFIRMED = "confirmed", _("Confirmed")  # 已确认
        SHIPPED = "shipped", _("Shipped")  # 已发货
        DELIVERED = "delivered", _("Delivered")  # 已签收
        CANCELLED = "cancelled", pgettext_lazy("order state", "Cancelled")

    code = models.CharField(_("order number"), max_length=32, unique=True, editable=False)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="orders", verbose_name=_("account"))
    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.PROTECT, related_name="orders",
                                verbose_name=_("contact"))
    quote = models.ForeignKey(Quote, null=True, blank=True, on_delete=models.PROTECT, related_name="orders",
                              verbose_name=_("from quote"))
    opportunity = models.ForeignKey(Opportunity, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="orders", verbose_name=_("opportunity"))
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.DRAFT)
    order_date = models.DateField(_("order date"), default=timezone.localdate)
    ship_date = models.DateField(_("ship date"), null=True, blank=True)
    delivered_on = models.DateField(_("delivered on"), null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3, default=CNY)
    rate_to_cny = models.DecimalField(_("rate to CNY"), max_digits=16, decimal_places=6, default=Decimal("1"))
    shipping_address = models.CharField(_("shipping address"), max_length=300, blank=True)
    remarks = models.TextField(_("remarks"), blank=True)
    subtotal = models.DecimalField(_("subtotal"), max_digits=16, decimal_places=2, default=Decimal("0"), editable=False)
    tax_total = models.DecimalField(_("tax"), max_digits=16, decimal_places=2, default=Decimal("0"), editable=False)
    total = models.DecimalField(_("total"), max_digits=16, decimal_places=2, default=Decimal("0"), editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders",
                              verbose_name=_("owner"))
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="orders", verbose_name=_("department"))

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["owner", "-id"], condition=Q(deleted_at__isnull=True), name="order_owner_alive"),
            models.Index(fields=["department", "-id"], condition=Q(deleted_at__isnull=True),
                         name="order_department_alive"),
            models.Index(fields=["account", "-order_date"], name="order_account_date"),
            models.Index(fields=["order_date"], name="order_date"),
        ]

    def __str__(self) -> str:
        return self.code


class OrderLine(PricedLine):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines", verbose_name=_("order"))
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.PROTECT, related_name="order_lines",
                                verbose_name=_("product"))

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        ordering = ["order", "position", "id"]
        indexes = [models.Index(fields=["product", "order"], name="order_line_product")]


# --- Contracts, payment plans and receipts (R4.4, R11.4) -----------------------------------
class Contract(SoftDeletable, Versioned):
    class State(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ACTIVE = "active", pgettext_lazy("contract state", "In force")  # 执行中
        COMPLETED = "completed", _("Completed")  # 已完成
        TERMINATED = "terminated", _("Terminated")  # 已终止
        EXPIRED = "expired", _("Expired")  # 已到期

    code = models.CharField(_("contract number"), max_length=40, unique=True)
    title = models.CharField(_("title"), max_length=300)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="contracts",
                                verbose_name=_("account"))
    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.PROTECT, related_name="contracts",
                                verbose_name=_("signed by (customer)"))
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.PROTECT, related_name="contracts",
                              verbose_name=_("order"))
    quote = models.ForeignKey(Quote, null=True, blank=True, on_delete=models.PROTECT, related_name="contracts",
                              verbose_name=_("quote"))
    opportunity = models.ForeignKey(Opportunity, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="contracts", verbose_name=_("opportunity"))
    party_a = models.CharField(_("party A (customer)"), max_length=200)  # 甲方
    party_b = models.CharField(_("party B (us)"), max_length=200)  # 乙方
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.DRAFT)
    amount = models.DecimalField(_("contract amount"), max_digits=16, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3, default=CNY)
    rate_to_cny = models.DecimalField(_("rate to CNY"), max_digits=16, decimal_places=6, default=Decimal("1"))
    signed_on = models.DateField(_("signed on"), null=True, blank=True)
    starts_on = models.DateField(_("starts on"), null=True, blank=True)
    ends_on = models.DateField(_("ends on"), null=True, blank=True)
    remind_days = models.PositiveSmallIntegerField(_("remind days before expiry"), default=30)
    expiry_notified_at = models.DateTimeField(null=True, blank=True, editable=False)
    terms = models.TextField(_("main terms"), blank=True)
    # Derived by the payment service: receipts recorded against this contract.
    received = models.DecimalField(_("received"), max_digits=16, decimal_places=2, default=Decimal("0"), editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="contracts",
                              verbose_name=_("owner"))
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="contracts", verbose_name=_("department"))

    class Meta:
        verbose_name = _("contract")
        verbose_name_plural = _("contracts")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["owner", "-id"], condition=Q(deleted_at__isnull=True),
                         name="contract_owner_alive"),
            models.Index(fields=["department", "-id"], condition=Q(deleted_at__isnull=True),
                         name="contract_department_alive"),
            models.Index(fields=["account", "-id"], name="contract_account"),
            models.Index(fields=["ends_on"], condition=Q(state="active", expiry_notified_at__isnull=True),
                         name="contract_expiry_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.title}"

    @property
    def outstanding(self) -> Decimal:
        return self.amount - self.received


class ContractStep(Versioned):
    """A main execution step of a contract (delivery, installation, acceptance…)."""

    class State(models.TextChoices):
        PENDING = "pending", _("Not started")
        ACTIVE = "active", _("In progress")
        DONE = "done", _("Done")
        BLOCKED = "blocked", _("Blocked")

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="steps", verbose_name=_("contract"))
    position = models.PositiveSmallIntegerField(_("order"), default=1)
    name = models.CharField(_("step"), max_length=200)
    due_on = models.DateField(_("due on"), null=True, blank=True)
    done_on = models.DateField(_("done on"), null=True, blank=True)
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.PENDING)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+", verbose_name=_("responsible"))
    notes = models.TextField(_("notes"), blank=True)

    class Meta:
        verbose_name = _("execution step")
        verbose_name_plural = _("execution steps")
        ordering = ["contract", "position", "id"]

    def __str__(self) -> str:
        return self.name


class PaymentPlan(Versioned):
    """One instalment of a contract's payment plan (回款计划)."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="plan",
                                 verbose_name=_("contract"))
    position = models.PositiveSmallIntegerField(_("instalment"), default=1)
    description = models.CharField(_("description"), max_length=200, blank=True)  # 预付款, 到货款, 质保金
    due_on = models.DateField(_("due on"))
    amount = models.DecimalField(_("amount due"), max_digits=16, decimal_places=2)
    # Derived by the payment service from the receipts booked against this instalment.
    received = models.DecimalField(_("received"), max_digits=16, decimal_places=2, default=Decimal("0"), editable=False)
    overdue_notified_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("payment plan instalment")
        verbose_name_plural = _("payment plan")
        ordering = ["contract", "position", "due_on", "id"]
        indexes = [models.Index(fields=["due_on"], condition=Q(overdue_notified_at__isnull=True),
                                name="plan_overdue_pending")]

    def __str__(self) -> str:
        return f"{self.description or self.position} {self.due_on:%Y-%m-%d}"

    @property
    def outstanding(self) -> Decimal:
        return max(self.amount - self.received, Decimal("0"))

    @property
    def is_overdue(self) -> bool:
        return self.outstanding > 0 and self.due_on < timezone.localdate()


class Payment(SoftDeletable, Versioned):
    """A receipt (回款) against a contract, optionally against one instalment of its plan."""

    class Method(models.TextChoices):
        TRANSFER = "transfer", _("Bank transfer")  # 银行转账
        ACCEPTANCE = "acceptance", _("Bank acceptance bill")  # 承兑汇票
        CASH = "cash", _("Cash")
        CHEQUE = "cheque", _("Cheque")
        OTHER = "other", _("Other")

    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="payments",
                                 verbose_name=_("contract"))
    plan = models.ForeignKey(PaymentPlan, null=True, blank=True, on_delete=models.PROTECT, related_name="payments",
                             verbose_name=_("instalment"))
    # Copied from the contract: the customer's cumulative receipts are one indexed sum.
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="payments", verbose_name=_("account"))
    received_on = models.DateField(_("received on"), default=timezone.localdate)
    amount = models.DecimalField(_("amount"), max_digits=16, decimal_places=2)
    method = models.CharField(_("method"), max_length=16, choices=Method.choices, default=Method.TRANSFER)
    reference = models.CharField(_("bank reference"), max_length=100, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+", verbose_name=_("recorded by"))

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-received_on", "-id"]
        indexes = [models.Index(fields=["account", "-received_on"], name="payment_account_date"),
                   models.Index(fields=["contract", "-received_on"], name="payment_contract_date")]

    def __str__(self) -> str:
        return f"{self.amount} {self.received_on:%Y-%m-%d}"


class AccountSales(models.Model):
    """One customer's cumulative sales figures in CNY (R11.4), kept by the sales services.

    Written in the same transaction as every order, contract and receipt change, and
    checked against a full recount by ``sales.services.totals.recount``.
    """

    account = models.OneToOneField(Account, on_delete=models.CASCADE, primary_key=True, related_name="sales",
                                   verbose_name=_("account"))
    orders_count = models.PositiveIntegerField(_("orders"), default=0)
    orders_total = models.DecimalField(_("ordered"), max_digits=16, decimal_places=2, default=Decimal("0"))
    contracts_total = models.DecimalField(_("contracted"), max_digits=16, decimal_places=2, default=Decimal("0"))
    received_total = models.DecimalField(_("received"), max_digits=16, decimal_places=2, default=Decimal("0"))
    receivable_total = models.DecimalField(_("receivable"), max_digits=16, decimal_places=2, default=Decimal("0"))
    overdue_total = models.DecimalField(_("overdue"), max_digits=16, decimal_places=2, default=Decimal("0"))
    open_deals_total = models.DecimalField(_("open deals"), max_digits=16, decimal_places=2, default=Decimal("0"))
    first_order_on = models.DateField(_("first order"), null=True, blank=True)
    last_order_on = models.DateField(_("last order"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("customer sales figures")
        verbose_name_plural = _("customer sales figures")

    def __str__(self) -> str:
        return f"{self.account_id}: {self.orders_total}"


# --- Distributor rebates (R4.5) ------------------------------------------------------------
class RebateRule(Versioned):
    """How a distributor earns its year-end rebate (返利) and points (积分).

    ``tiers`` is a list of ``{"from": amount, "rate": percent}`` (volume tiers, the highest
    reached applies to the whole volume); ``target`` earns ``target_rate`` more when the
    year's volume reaches it; ``points_per_10k`` points per 10,000 CNY of volume.
    """

    class Basis(models.TextChoices):
        RECEIVED = "received", _("Receipts in the year")  # 回款额
        ORDERED = "ordered", _("Orders in the year")  # 订货额

    name = models.CharField(_("name"), max_length=100)
    year = models.PositiveSmallIntegerField(_("year"))
    basis = models.CharField(_("volume counted"), max_length=16, choices=Basis.choices, default=Basis.RECEIVED)
    tiers = models.JSONField(_("volume tiers"), default=list, blank=True)
    target = models.DecimalField(_("target volume"), max_digits=16, decimal_places=2, null=True, blank=True)
    target_rate = models.DecimalField(_("extra rate on reaching the target (%)"), max_digits=5, decimal_places=2,
                                      default=Decimal("0"))
    points_per_10k = models.DecimalField(_("points per 10,000 CNY"), max_digits=8, decimal_places=2,
                                         default=Decimal("0"))
    grade = models.CharField(_("for distributors of grade"), max_length=8, blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("rebate rule")
        verbose_name_plural = _("rebate rules")
        ordering = ["-year", "name"]

    def __str__(self) -> str:
        return f"{self.year} {self.name}"


class RebateDeduction(SoftDeletable, Versioned):
    """A deduction from a distributor's rebate for a violation (e.g. cross-territory selling)."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="rebate_deductions",
                                verbose_name=_("distributor"))
    year = models.PositiveSmallIntegerField(_("year"))
    amount = models.DecimalField(_("amount deducted"), max_digits=16, decimal_places=2, default=Decimal("0"))
    points = models.DecimalField(_("points deducted"), max_digits=12, decimal_places=2, default=Decimal("0"))
    reason = models.TextField(_("reason"))
    occurred_on = models.DateField(_("occurred on"), default=timezone.localdate)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+", verbose_name=_("recorded by"))

    class Meta:
        verbose_name = _("rebate deduction")
        verbose_name_plural = _("rebate deductions")
        ordering = ["-occurred_on", "-id"]
        indexes = [models.Index(fields=["account", "year"], name="rebate_deduction_account_year")]

    def __str__(self) -> str:
        return f"{self.year}: -{self.amount}"


class RebateStatement(Versioned):
    """A distributor's yearly statement: volume, rebate earned, points, deductions, net."""

    class State(models.TextChoices):
        DRAFT = "draft", _("Draft")
        CONFIRMED = "confirmed", _("Confirmed")

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="rebate_statements",
                                verbose_name=_("distributor"))
    year = models.PositiveSmallIntegerField(_("year"))
    rule = models.ForeignKey(RebateRule, on_delete=models.PROTECT, related_name="statements",
                             verbose_name=_("rule"))
    volume = models.DecimalField(_("volume"), max_digits=16, decimal_places=2, default=Decimal("0"))
    rate = models.DecimalField(_("rate (%)"), max_digits=5, decimal_places=2, default=Decimal("0"))
    rebate = models.DecimalField(_("rebate earned"), max_digits=16, decimal_places=2, default=Decimal("0"))
    points = models.DecimalField(_("points earned"), max_digits=12, decimal_places=2, default=Decimal("0"))
    deductions = models.DecimalField(_("deductions"), max_digits=16, decimal_places=2, default=Decimal("0"))
    points_deducted = models.DecimalField(_("points deducted"), max_digits=12, decimal_places=2,
                                          default=Decimal("0"))
    net = models.DecimalField(_("net rebate"), max_digits=16, decimal_places=2, default=Decimal("0"))
    details = models.JSONField(_("details"), default=dict, blank=True)
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.DRAFT)
    computed_at = models.DateTimeField(_("computed at"), default=timezone.now)
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+", verbose_name=_("confirmed by"))

    class Meta:
        verbose_name = _("rebate statement")
        verbose_name_plural = _("rebate statements")
        ordering = ["-year", "account"]
        constraints = [models.UniqueConstraint(fields=["account", "year", "rule"], name="rebate_statement_unique")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.year}"


# --- Targets (R11.2) and the forecast's history (R11.3) -----------------------------------
class SalesTarget(Versioned):
    """A target for one person, one team or one department over a period."""

    class Metric(models.TextChoices):
        ORDERS = "orders", _("Orders (amount)")
        RECEIPTS = "receipts", _("Receipts (amount)")
        CONTRACTS = "contracts", _("Contracts signed (amount)")
        NEW_ACCOUNTS = "new_accounts", _("New customers")

    metric = models.CharField(_("measure"), max_length=16, choices=Metric.choices, default=Metric.ORDERS)
    period_start = models.DateField(_("period from"))
    period_end = models.DateField(_("period until"))
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                             related_name="sales_targets", verbose_name=_("salesperson"))
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.PROTECT, related_name="sales_targets",
                             verbose_name=_("team"))
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="sales_targets", verbose_name=_("department"))
    amount = models.DecimalField(_("target"), max_digits=16, decimal_places=2)
    notes = models.TextField(_("notes"), blank=True)

    class Meta:
        verbose_name = _("sales target")
        verbose_name_plural = _("sales targets")
        ordering = ["-period_start", "id"]
        indexes = [models.Index(fields=["user", "period_start"], name="target_user_period")]
        constraints = [
            models.CheckConstraint(
                condition=(Q(user__isnull=False, team__isnull=True, department__isnull=True)
                           | Q(user__isnull=True, team__isnull=False, department__isnull=True)
                           | Q(user__isnull=True, team__isnull=True, department__isnull=False)),
                name="target_one_holder"),
        ]

    def __str__(self) -> str:
        return f"{self.get_metric_display()} {self.period_start:%Y-%m-%d}–{self.period_end:%Y-%m-%d}"


class SalesMonth(models.Model):
    """Orders per month, product and province in CNY: the forecast's history (R11.3).

    A rollup rebuilt by the nightly job and kept current by the order service, so a
    forecast over years of history reads thousands of rows, not millions of order lines.
    """

    month = models.DateField(_("month"))  # the first day of the month
    # Free lines (no catalogue product) are not forecast by product.
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+", verbose_name=_("product"))
    province = models.CharField(_("province"), max_length=32, blank=True)
    quantity = models.DecimalField(_("quantity"), max_digits=18, decimal_places=3, default=Decimal("0"))
    amount = models.DecimalField(_("amount (CNY)"), max_digits=16, decimal_places=2, default=Decimal("0"))
    orders = models.PositiveIntegerField(_("orders"), default=0)
    # Bumped by every write of the row: with the rows' count and highest id it makes the
    # rollup's generation, under which the forecast caches what it reads of the rollup.
    changes = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        verbose_name = _("monthly sales")
        verbose_name_plural = _("monthly sales")
        ordering = ["month"]
        constraints = [models.UniqueConstraint(fields=["month", "product", "province"], name="sales_month_unique")]
        # The generation's read: count, highest id and sum of changes from this narrow index.
        indexes = [models.Index(fields=["changes"], name="sales_month_changes")]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.product_id} {self.province}"
