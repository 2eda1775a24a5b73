"""How the inbox says things: the event log and refusals in the officer's language, no codes or ids.

The record keeps machine words (``user:dedi``, ``claimed_by_id``, ``set_review``); officers read
sentences ("Dedi mengambil pengaduan ini", "Telaah pengaduan dulu, lalu pilih jalur").
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from intake.models import Event

Translate = Callable[..., str]

#: Workflow and inbox refusals (English, for logs and the API) → catalogue keys of the officers' text.
ERRORS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), key)
    for pattern, key in (
        (r"review the complaint first", "err.review_first"),
        (r"choose a resolution track first", "err.track_first"),
        (r"APIP track needs the approval", "err.apip_needs_approval"),
        (r"name the agency", "err.agency_needed"),
        (r"say why the complaint cannot be solved", "err.apip_reason"),
        (r"APIP is already approved", "err.apip_already"),
        (r"no APIP request waiting|nobody has requested APIP", "err.apip_none"),
        (r"turning an APIP request down needs a reason", "err.reason_needed"),
        (r"reopen it before writing", "err.closed_reply"),
        (r"cannot be answered while", "err.cannot_answer"),
        (r"report after answering", "err.report_after_answer"),
        (r"reopening needs a reason|changing the kind needs a reason", "err.reason_needed"),
        (r"already claimed by another officer", "err.claimed_other"),
        (r"being handled by (?P<name>.+): claim it first", "err.claim_first"),
        (r"another reply was sent since you opened", "err.reply_conflict"),
        (r"the reply is empty|the answer is empty|the note is empty", "err.empty"),
        (r"no contact to reply to", "err.no_contact"),
        (r"the record is not claimed", "err.not_claimed"),
        (r"only the officer holding it", "err.release_denied"),
        (r"choose a member of staff", "err.assign_staff"),
        (r"give the tracking number of another record", "err.merge_target"),
        (r"cannot be merged|is itself merged|merged into itself", "err.merge_state"),
        (r"only an open saran can be promoted|only an open pengaduan can be filed", "err.kind_state"),
        (r"the record is already a", "err.kind_same"),
        (r"cannot go from", "err.transition"),
        (r"is possible while the record is open|applies to a pengaduan", "err.not_open"),
        (r"may not|needs a person with role", "err.role"),
    )
)


def error_text(message: str, t: Translate) -> str:
    """Return a refusal as a sentence in the officer's language (never the workflow's codes)."""
    for pattern, key in ERRORS:
        found = pattern.search(message)
        if found:
            return t(key, **found.groupdict())
    return t("err.generic")


@dataclass(frozen=True)
class EventLine:
    """One line of the event log as an officer reads it."""

    at: dt.datetime
    who: str
    what: str
    detail: str = ""


#: Workflow-made notes that are machine words; officers' own words (reasons) are shown as written.
_MACHINE_NOTES = re.compile(
    r"^(review started|track \w+|queued on \w+ \(outbox #\d+\)|no contact: .*|reported to .*|"
    r"kind changed|to \w+|into [A-Z]+-\d{4}-\d+|to the yearly evaluation.*|.*top of the ladder.*)$"
)


def actor_label(actor: str, *, usernames: Mapping[str, str], t: Translate) -> str:
    """Return who did it: a person's name, the bot, the system, or a channel."""
    kind, _, rest = actor.partition(":")
    if kind == "user":
        return usernames.get(rest, rest)
    if kind == "channel":
        return t("ev.actor_channel", name=rest)
    if actor in ("bot", "system"):
        return t(f"ev.actor_{actor}")
    return actor


def event_line(
    event: Event,
    *,
    names: Mapping[int, str],
    usernames: Mapping[str, str],
    t: Translate,
) -> EventLine:
    """Turn one stored event into a sentence (status names, people's names, no field codes)."""
    who = actor_label(event.actor, usernames=usernames, t=t)

    def staff(value: str | None) -> str:
        return names.get(int(value), "—") if value and value.isdigit() else "—"

    action, field, old, new = event.action, event.field or "", event.old_value, event.new_value
    note = (event.note or "").strip()
    detail = "" if not note or _MACHINE_NOTES.match(note) else note
    if action == "created":
        what = t("ev.created", kind=t(f"kind.{new}") if new else "—")
        detail = ""
    elif action == "purged":
        what = t("ev.purged")
        detail = ""
    elif action in ("status", "reopened") and field == "status":
        what = t("ev.status", old=t(f"status.{old}") if old else "—", new=t(f"status.{new}"))
    elif action == "claim":
        what = t("ev.claim") if new else t("ev.release")
    elif action == "release":
        what = t("ev.release")
    elif action in ("assign", "escalate", "report_up") and field == "assignee_id":
        what = t(f"ev.{action}", name=staff(new))
        detail = "" if action == "assign" else detail
    elif action == "escalate":
        what = t("ev.escalate_top")
        detail = ""
    elif action == "review":
        what = (
            t(f"ev.review.{field}")
            if field in ("core_problem", "standard_ref", "handling_plan")
            else t("ev.update")
        )
    elif action == "classify":
        what = t("ev.classify_service") if field == "service_code" else t("ev.classify_problem")
    elif action == "track":
        if field == "track":
            what = t("ev.track", track=t(f"track.{new}") if new else "—")
        else:
            what = t("ev.track_detail")
    elif action == "change_kind":
        what = t("ev.change_kind", old=t(f"kind.{old}") if old else "—", new=t(f"kind.{new}") if new else "—")
    elif action in ("apip_requested", "apip_approved", "apip_rejected", "note", "replied", "message"):
        what = t(f"ev.{action}")
    elif action == "delivery_failed":
        what = t("ev.delivery_failed")
        detail = ""
    elif action == "related":
        what = t("ev.related")
        detail = ""
    else:
        what = t("ev.update")
        detail = ""
    return EventLine(at=event.at, who=who, what=what, detail=detail)
