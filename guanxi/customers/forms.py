from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from guanxi.customers.models import Account


class AccountForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    kind = forms.ChoiceField(label=_("Kind"), choices=Account.Kind.choices)
    credit_code = forms.CharField(label=_("Unified social credit code"), max_length=18, required=False)
    phone = forms.CharField(label=_("Phone"), max_length=32, required=False)
    region = forms.CharField(label=_("Region"), max_length=100, required=False)
    address = forms.CharField(label=_("Address"), max_length=300, required=False)
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3}))


class AccountEditForm(AccountForm):
    version = forms.IntegerField(widget=forms.HiddenInput)
    reason = forms.CharField(label=_("Reason for the change"), required=False,
                             help_text=_("Needed when the account is approved: the change goes to the approver."))
