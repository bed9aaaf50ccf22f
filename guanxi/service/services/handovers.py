"""Hand-overs (R5.2): the only way a case changes owner.

The owner offers the case to a colleague who may handle cases (``case.change``), with a
note; one offer per case is open at a time. The colleague sees the case from then on and
accepts it (owner and department move to them) or declines with an answer; the owner may
withdraw the offer before. Every step is a ``CaseEvent`` on the case, an audit row in its
history and a notification to the other side.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.errors import Conflict, Forbidden, Invalid, NotFound
from guanxi.core.models import User
from guanxi.core.permissions import has_perm
from guanxi.core.services import records
from guanxi.sales.services.common import owner_department, raise_if, require
from guanxi.service.models import Case, CaseEvent, Handover
from guanxi.service.services.cases import case_url, clean_text, event, lock, owner_only, tell

H = Handover.State


def _user(value: Any) -> User | None:
    pk = getattr(value, "pk", value)
    return User.objects.filter(pk=pk).first() if str(pk or "").isdigit() else None


def _locked(handover: Handover, expected_version: int | None) -> Handover:
    """Lock the hand-over's row; stale (given or the instance's version) → Conflict."""
    fresh = Handover.objects.select_for_update().filter(pk=handover.pk).values("version", "state").first()
    if fresh is None:
        raise NotFound()
    version = handover.version if expected_version is None else int(expected_version)
    if fresh["version"] != version or handover.version != version:
        raise Conflict()
    if handover.state != H.OFFERED:
        raise Invalid(_("This hand-over was already %(state)s.") % {
            "state": str(handover.get_state_display()).lower()})
    return handover


def _decide(handover: Handover, state: str, answer: str) -> None:
    now = timezone.now()
    rows = Handover.objects.filter(pk=handover.pk, version=handover.version, state=H.OFFERED).update(
        state=state, answer=answer, decided_at=now, version=handover.version + 1, updated_at=now)
    if rows != 1:
        raise Conflict()
    handover.state, handover.answer, handover.decided_at = state, answer, now
    handover.version += 1
    handover.updated_at = now


def _case(handover: Handover) -> Case:
    case = Case.objects.filter(pk=handover.case_id).first()
    if case is None:
        raise NotFound()
    return case


@transaction.atomic
def handover_offer(*, actor: Any, case: Case, to_user: Any, note: str = "") -> Handover:
    """Offer ``case`` to ``to_user`` (owner only; one open offer per case)."""
    require(actor, "case.change")
    lock(case, None)
    owner_only(actor, case, "handover")
    errors: dict[str, list[str]] = {}
    person = _user(to_user)
    if person is None or not person.is_active or not has_perm(person, "case.change"):
        errors["to_user"] = [_("Choose an active colleague who handles cases.")]
    elif person.pk == case.owner_id:
        errors["to_user"] = [_("The case is already theirs.")]
    text = clean_text(note, "note", errors)
    if case.state == Case.State.CLOSED:
        errors.setdefault("__all__", []).append(_("A closed case cannot be handed over."))
    if Handover.objects.filter(case=case, state=H.OFFERED).exists():
        errors.setdefault("__all__", []).append(
            _("This case is already offered to someone; withdraw that offer first."))
    raise_if(errors)
    assert person is not None
    try:
        with transaction.atomic():
            handover = Handover.objects.create(case=case, from_user=actor, to_user=person, note=text)
    except IntegrityError:
        raise Invalid(_("This case is already offered to someone; withdraw that offer first.")) from None
    event(case, CaseEvent.Type.HANDOVER_OFFERED, actor, to_user=person, note=text, at=handover.created_at)
    audit.record(actor=actor, action="request", obj=case,
                 changes={"handover": [None, {"id": handover.pk, "to": person.pk, "state": H.OFFERED}]},
                 note=_("hand-over offered to %(person)s") % {"person": person} + (f": {text}" if text else ""))
    tell(person, lambda: _("%(owner)s offers you case %(code)s %(title)s") % {
        "owner": actor, "code": case.code, "title": case.title}, body=lambda: text, url=case_url(case))
    return handover


def _only_recipient(actor: Any, handover: Handover) -> None:
    if handover.to_user_id != actor.pk:
        raise Forbidden(_("Only %(person)s can answer this hand-over.") % {"person": handover.to_user})


@transaction.atomic
def handover_accept(*, actor: Any, handover: Handover, answer: str = "",
                    expected_version: int | None = None) -> Handover:
    """Take the case over: its owner and department become the actor's."""
    require(actor, "case.change")
    _only_recipient(actor, handover)
    _locked(handover, expected_version)
    case = _case(handover)
    lock(case, None)
    errors: dict[str, list[str]] = {}
    text = clean_text(answer, "answer", errors)
    raise_if(errors)
    if case.owner_id != handover.from_user_id:
        raise Invalid(_("The case changed owner since this offer; it cannot be accepted."))
    _decide(handover, H.ACCEPTED, text)
    before = User.objects.filter(pk=case.owner_id).first()
    records.apply_update(actor=actor, obj=case, changes={"owner": actor, "department_id": owner_department(actor)},
                         expected_version=case.version, action="reassign",
                         note=_("hand-over from %(person)s accepted") % {"person": before})
    event(case, CaseEvent.Type.HANDOVER_ACCEPTED, actor, to_user=actor, note=text, at=handover.decided_at)
    tell(before, lambda: _("%(person)s accepted case %(code)s %(title)s") % {
        "person": actor, "code": case.code, "title": case.title}, body=lambda: text, url=case_url(case))
    return handover


@transaction.atomic
def handover_decline(*, actor: Any, handover: Handover, answer: str,
                     expected_version: int | None = None) -> Handover:
    """Decline an offer, saying why; the case stays with its owner."""
    require(actor, "case.change")
    _only_recipient(actor, handover)
    _locked(handover, expected_version)
    case = _case(handover)
    errors: dict[str, list[str]] = {}
    text = clean_text(answer, "answer", errors, required=_("Say why you decline."))
    raise_if(errors)
    _decide(handover, H.DECLINED, text)
    event(case, CaseEvent.Type.HANDOVER_DECLINED, actor, to_user=handover.from_user, note=text,
          at=handover.decided_at)
    audit.record(actor=actor, action="decide", obj=case,
                 changes={"handover": [{"id": handover.pk, "state": H.OFFERED}, {"id": handover.pk, "state": H.DECLINED}]},
                 note=_("hand-over declined by %(person)s") % {"person": actor} + f": {text}")
    tell(handover.from_user, lambda: _("%(person)s declined case %(code)s %(title)s") % {
        "person": actor, "code": case.code, "title": case.title}, body=lambda: text, url=case_url(case))
    return handover


@transaction.atomic
def handover_withdraw(*, actor: Any, handover: Handover, note: str = "",
                      expected_version: int | None = None) -> Handover:
    """Take back an open offer (whoever made it)."""
    require(actor, "case.change")
    if handover.from_user_id != actor.pk:
        raise Forbidden(_("Only %(person)s, who offered it, can withdraw this hand-over.") % {
            "person": handover.from_user})
    _locked(handover, expected_version)
    case = _case(handover)
    errors: dict[str, list[str]] = {}
    text = clean_text(note, "note", errors)
    raise_if(errors)
    _decide(handover, H.WITHDRAWN, text)
    event(case, CaseEvent.Type.HANDOVER_WITHDRAWN, actor, to_user=handover.to_user, note=text,
          at=handover.decided_at)
    audit.record(actor=actor, action="update", obj=case,
                 changes={"handover": [{"id": handover.pk, "state": H.OFFERED},
                                       {"id": handover.pk, "state": H.WITHDRAWN}]},
                 note=_("hand-over to %(person)s withdrawn") % {"person": handover.to_user}
                 + (f": {text}" if text else ""))
    tell(handover.to_user, lambda: _("%(person)s withdrew the offer of case %(code)s %(title)s") % {
        "person": actor, "code": case.code, "title": case.title}, body=lambda: text, url=case_url(case))
    return handover
