from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from guanxi.customers.models import Account, AccountAttachment, Category, Contact, CustomField

BLANK = [("", "—")]


def _optional(choices: Any) -> list[tuple[str, Any]]:
    return BLANK + list(choices)


def _text(label: Any, rows: int = 2) -> forms.CharField:
    return forms.CharField(label=label, required=False, widget=forms.Textarea(attrs={"rows": rows}))


def custom_form_field(field: CustomField) -> forms.Field:
    """The form field for one admin-defined field; the service validates the value again."""
    common: dict[str, Any] = {"label": field.label, "required": field.required}
    if field.type == CustomField.Type.NUMBER:
        return forms.DecimalField(**common, max_digits=20, decimal_places=6)
    if field.type == CustomField.Type.DATE:
        return forms.DateField(**common, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    if field.type == CustomField.Type.CHOICE:
        return forms.ChoiceField(**common, choices=_optional((c, c) for c in field.choices))
    return forms.CharField(**common, max_length=1000)


class CustomFieldsMixin:
    """Adds a ``cf_<key>`` field per active custom field of ``custom_target``."""

    custom_target = CustomField.Target.ACCOUNT
    fields: dict[str, forms.Field]
    cleaned_data: dict[str, Any]

    def add_custom_fields(self, current: dict[str, Any] | None = None) -> list[str]:
        names = []
        for field in CustomField.objects.filter(target=self.custom_target, active=True).order_by("sort_order", "key"):
            name = f"cf_{field.key}"
            self.fields[name] = custom_form_field(field)
            if current and current.get(field.key) not in (None, ""):
                self.fields[name].initial = current[field.key]
            names.append(name)
        return names

    def custom_values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in self.cleaned_data.items():
            if not name.startswith("cf_"):
                continue
            if isinstance(value, dt.date):
                value = value.isoformat()
            elif value is not None and not isinstance(value, str):
                value = str(value)
            out[name[3:]] = value if value is not None else ""
        return out


def category_choices() -> list[tuple[str, str]]:
    out = list(BLANK)
    for cat in Category.objects.filter(active=True).order_by("path", "sort_order", "name").only("id", "name", "path"):
        depth = max(cat.path.count("/") - 2, 0)
        out.append((str(cat.pk), "\u3000" * depth + cat.name))
    return out


ACCOUNT_SECTIONS: list[tuple[Any, tuple[str, ...]]] = [
    (_("Basics"), ("name", "kind", "credit_code", "phone", "email", "website", "notes")),
    (_("Roles"), ("is_customer", "is_distributor", "is_supplier", "is_partner", "is_foreign")),
    (_("Region"), ("province", "city", "district", "region", "address")),
    (_("Company profile"), ("size", "operating_status", "founded_on", "industry", "credit_standing", "importance",
                            "business_scope", "organisation_traits", "philosophy", "culture", "industry_position",
                            "prospects", "development_strategy")),
    (_("Classification"), ("category", "lifecycle", "relationship_type", "value_segment", "urgency", "tags")),
]


class AccountForm(CustomFieldsMixin, forms.Form):
    # Basics
    name = forms.CharField(label=_("Name"), max_length=200)
    kind = forms.ChoiceField(label=_("Kind"), choices=Account.Kind.choices)
    credit_code = forms.CharField(label=_("Unified social credit code"), max_length=18, required=False)
    phone = forms.CharField(label=_("Phone"), max_length=32, required=False)
    email = forms.CharField(label=_("E-mail"), max_length=254, required=False)
    website = forms.CharField(label=_("Website"), max_length=200, required=False)
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    # Roles (R1.2)
    is_customer = forms.BooleanField(label=_("Customer"), required=False, initial=True)
    is_distributor = forms.BooleanField(label=_("Distributor"), required=False)
    is_supplier = forms.BooleanField(label=_("Supplier"), required=False)
    is_partner = forms.BooleanField(label=_("Partner"), required=False)
    is_foreign = forms.BooleanField(label=_("Foreign"), required=False)
    # Sent by this form: an unticked role box then means "no". Without it (an older client
    # posting only some fields) the roles are left as they are.
    roles_shown = forms.CharField(widget=forms.HiddenInput, required=False, initial="1")
    # Region
    province = forms.CharField(label=_("Province"), max_length=32, required=False)
    city = forms.CharField(label=_("City"), max_length=32, required=False)
    district = forms.CharField(label=_("District"), max_length=32, required=False)
    region = forms.CharField(label=_("Region"), max_length=100, required=False,
                             help_text=_("Filled in from province, city and district when those are given."))
    address = forms.CharField(label=_("Address"), max_length=300, required=False)
    # Company profile (R1.3)
    size = forms.ChoiceField(label=_("Company size"), choices=_optional(Account.Size.choices), required=False)
    operating_status = forms.ChoiceField(label=_("Operating status"),
                                         choices=_optional(Account.OperatingStatus.choices), required=False)
    founded_on = forms.DateField(label=_("Founded on"), required=False,
                                 widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    industry = forms.CharField(label=_("Industry"), max_length=100, required=False)
    credit_standing = forms.ChoiceField(label=_("Credit standing"), choices=_optional(Account.CreditStanding.choices),
                                        required=False)
    importance = forms.ChoiceField(label=_("Importance to us"), choices=_optional(Account.Importance.choices),
                                   required=False)
    business_scope = _text(_("Business scope"))
    organisation_traits = _text(_("Organisation traits"))
    philosophy = _text(_("Business philosophy"))
    culture = _text(_("Culture"))
    industry_position = _text(_("Industry position"))
    prospects = _text(_("Prospects"))
    development_strategy = _text(_("Development strategy"))
    # Classification (R2)
    category = forms.ChoiceField(label=_("Category"), required=False)
    lifecycle = forms.ChoiceField(label=_("Lifecycle stage"), choices=Account.Lifecycle.choices,
                                  initial=Account.Lifecycle.POTENTIAL, required=False)
    relationship_type = forms.ChoiceField(label=_("Relationship type"),
                                          choices=_optional(Account.RelationshipType.choices), required=False)
    value_segment = forms.ChoiceField(label=_("Value segment"), choices=_optional(Account.ValueSegment.choices),
                                      required=False)
    urgency = forms.ChoiceField(label=_("Follow-up urgency"), choices=_optional(Account.Urgency.choices),
                                required=False)
    tags = forms.CharField(label=_("Tags"), max_length=500, required=False,
                           help_text=_("Separate tags with commas."))

    def __init__(self, *args: Any, custom: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = category_choices()  # type: ignore[attr-defined]
        self.custom_names = self.add_custom_fields(custom)

    def sections(self) -> list[tuple[Any, list[Any]]]:
        out = [(title, [self[name] for name in names if name in self.fields]) for title, names in ACCOUNT_SECTIONS]
        if self.custom_names:
            out.append((_("Custom fields"), [self[name] for name in self.custom_names]))
        return out

    def to_service(self) -> dict[str, Any]:
        """The cleaned data as the account services take it."""
        data = {k: v for k, v in self.cleaned_data.items() if not k.startswith("cf_")}
        data.pop("version", None)
        data.pop("reason", None)
        if data.pop("roles_shown", "") != "1":
            for name in ("is_customer", "is_distributor", "is_supplier", "is_partner", "is_foreign"):
                data.pop(name, None)
        if not data.get("lifecycle"):
            data.pop("lifecycle", None)  # not sent: the default (new) or unchanged (edit)
        data["category"] = int(data["category"]) if data.get("category") else None
        data["tags"] = [t for t in (data.get("tags") or "").replace("，", ",").split(",") if t.strip()]
        custom = self.custom_values()
        if custom:
            data["custom"] = custom
        return data


class AccountEditForm(AccountForm):
    version = forms.IntegerField(widget=forms.HiddenInput)
    reason = forms.CharField(label=_("Reason for the change"), required=False,
                             help_text=_("Needed when the account is approved: the change goes to the approver."))

    def sections(self) -> list[tuple[Any, list[Any]]]:
        return [*super().sections(), (_("Reason for the change"), [self["reason"]])]


def account_initial(account: Account) -> dict[str, Any]:
    from guanxi.customers.services import EDITABLE

    initial = {f: getattr(account, f) for f in EDITABLE if f not in ("owner", "custom", "category")}
    initial["category"] = str(account.category_id or "")
    initial["tags"] = ", ".join(account.tags.values_list("name", flat=True))
    initial["version"] = account.version
    return initial


class ContactForm(CustomFieldsMixin, forms.Form):
    custom_target = CustomField.Target.CONTACT

    name = forms.CharField(label=_("Name"), max_length=100)
    title = forms.CharField(label=_("Job title"), max_length=100, required=False)
    role = forms.ChoiceField(label=_("Role at the account"), choices=Contact.Role.choices, initial=Contact.Role.OTHER)
    depth = forms.ChoiceField(label=_("Relationship depth"), choices=Contact.Depth.choices,
                              initial=Contact.Depth.PASSER_BY)
    mobile = forms.CharField(label=_("Mobile"), max_length=32, required=False)
    phone = forms.CharField(label=_("Phone"), max_length=32, required=False)
    email = forms.CharField(label=_("E-mail"), max_length=254, required=False)
    wechat = forms.CharField(label=_("WeChat"), max_length=64, required=False)
    address = forms.CharField(label=_("Address"), max_length=300, required=False)
    birthday = forms.DateField(label=_("Birthday"), required=False,
                               widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    personality = forms.CharField(label=_("Personality"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    interests = forms.CharField(label=_("Interests and hobbies"), required=False,
                                widget=forms.Textarea(attrs={"rows": 2}))
    experience = forms.CharField(label=_("Experience"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    background = forms.CharField(label=_("Family and social background"), required=False,
                                 widget=forms.Textarea(attrs={"rows": 2}))
    preferences = forms.CharField(label=_("Preferences"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    taboos = forms.CharField(label=_("Taboos"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, custom: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.custom_names = self.add_custom_fields(custom)

    def to_service(self) -> dict[str, Any]:
        data = {k: v for k, v in self.cleaned_data.items() if not k.startswith("cf_")}
        data.pop("version", None)
        custom = self.custom_values()
        if custom:
            data["custom"] = custom
        return data


class ContactEditForm(ContactForm):
    version = forms.IntegerField(widget=forms.HiddenInput)


# --- Lists: custom fields, attachments, saved views ------------------------------------------------
class CustomFieldForm(forms.Form):
    target = forms.ChoiceField(label=_("Record type"), choices=CustomField.Target.choices)
    key = forms.CharField(label=_("Key"), max_length=50,
                          help_text=_("Lowercase letters, digits and underscores; cannot be changed later."))
    label = forms.CharField(label=_("Label"), max_length=100)
    type = forms.ChoiceField(label=_("Type"), choices=CustomField.Type.choices)
    choices = forms.CharField(label=_("Choices"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
                              help_text=_("For a choice field: one choice per line."))
    required = forms.BooleanField(label=_("Required"), required=False)
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    sort_order = forms.IntegerField(label=_("Sort order"), min_value=0, initial=0)


class CustomFieldEditForm(CustomFieldForm):
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("target", "key", "type"):
            self.fields[name].disabled = True
            self.fields[name].required = False


class AttachmentForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=AccountAttachment.Kind.choices,
                             initial=AccountAttachment.Kind.OTHER)
    file = forms.FileField(label=_("File"))


class SavedViewForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
