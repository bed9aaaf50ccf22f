"""HTML forms: parse and present input; the services hold the rules."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from guanxi.core.models import AuditEvent, Department, Role, User


class LoginForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150,
                               widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username"}))
    password = forms.CharField(label=_("Password"), widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))


class DepartmentForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    parent = forms.ModelChoiceField(label=_("Parent department"), queryset=Department.objects.all(), required=False)


class UserCreateForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150)
    name = forms.CharField(label=_("Full name"), max_length=100, required=False)
    email = forms.EmailField(label=_("E-mail"), required=False)
    password = forms.CharField(label=_("Initial password"), widget=forms.PasswordInput)
    department = forms.ModelChoiceField(label=_("Department"), queryset=Department.objects.all(), required=False)
    roles = forms.MultipleChoiceField(label=_("Roles"), choices=Role.Code.choices, required=False,
                                      widget=forms.CheckboxSelectMultiple)


class UserEditForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    name = forms.CharField(label=_("Full name"), max_length=100, required=False)
    email = forms.EmailField(label=_("E-mail"), required=False)
    department = forms.ModelChoiceField(label=_("Department"), queryset=Department.objects.all(), required=False)
    roles = forms.MultipleChoiceField(label=_("Roles"), choices=Role.Code.choices, required=False,
                                      widget=forms.CheckboxSelectMultiple)


class TeamForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    department = forms.ModelChoiceField(label=_("Department"), queryset=Department.objects.all())
    leader = forms.ModelChoiceField(label=_("Leader"), queryset=User.objects.filter(is_active=True), required=False)
    members = forms.ModelMultipleChoiceField(label=_("Members"), queryset=User.objects.filter(is_active=True),
                                             required=False, widget=forms.SelectMultiple(attrs={"size": 8}))


class GrantForm(forms.Form):
    department = forms.ModelChoiceField(label=_("Department"), queryset=Department.objects.all(), required=False)
    user = forms.ModelChoiceField(label=_("Person"), queryset=User.objects.filter(is_active=True), required=False)
    days = forms.IntegerField(label=_("Days"), min_value=1, max_value=90, initial=7)
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}))


class TokenForm(forms.Form):
    name = forms.CharField(label=_("Token name"), max_length=100)


class AuditSearchForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False)
    action = forms.ChoiceField(label=_("Action"), required=False,
                               choices=[("", "—"), *AuditEvent.Action.choices])
    actor = forms.ModelChoiceField(label=_("Who"), queryset=User.objects.all(), required=False)
    since = forms.DateField(label=pgettext_lazy("date range", "From"), required=False,
                            widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    until = forms.DateField(label=_("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
