from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from guanxi.customers.models import Account, Contact


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


class ContactForm(forms.Form):
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
    birthday = forms.DateField(label=_("Birthday"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    personality = forms.CharField(label=_("Personality"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    interests = forms.CharField(label=_("Interests and hobbies"), required=False,
                                widget=forms.Textarea(attrs={"rows": 2}))
    experience = forms.CharField(label=_("Experience"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    background = forms.CharField(label=_("Family and social background"), required=False,
                                 widget=forms.Textarea(attrs={"rows": 2}))
    preferences = forms.CharField(label=_("Preferences"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    taboos = forms.CharField(label=_("Taboos"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class ContactEditForm(ContactForm):
    version = forms.IntegerField(widget=forms.HiddenInput)
