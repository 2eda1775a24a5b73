"""The follow-up report (*laporan tindak lanjut*) for the superior, as HTML (Jinja2) and PDF (fpdf2).

R7a/R7b: each level reports in writing to the one above. The report holds the review (R6), the
handling plan, what was done (the event log and internal notes), the related complaints the
officer confirmed (R6c) and the result (the answer of R8). It is an internal document: the
reporter's name appears only when the complaint is not anonymous.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import jinja2
from sqlmodel import Session, select

from intake import rules
from intake.models import Complaint, Event, Reporter, User
from intake.office import OfficeProfile
from intake.workflow import HANDLING_PLANS, TRACKS, notes_of
from intake.workflow_models import LINK_CONFIRMED, DeadlineAlert, RelatedLink
from reports.evaluation import STATUS_WORDS

#: Unicode TrueType fonts tried for the PDF (Debian fonts-dejavu-core); else fpdf's core font.
FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),
    Path("/usr/local/share/fonts/DejaVuSans.ttf"),
)


def report_data(
    session: Session,
    complaint: Complaint,
    *,
    office: OfficeProfile,
    now: dt.datetime,
    author: User | None = None,
) -> dict[str, Any]:
    """Gather everything the follow-up report shows, as plain values."""
    reporter = session.get(Reporter, complaint.reporter_id) if complaint.reporter_id else None
    service = office.service(complaint.service_code)
    problem = office.problem_type(complaint.problem_type)
    events = session.exec(
        select(Event).where(Event.complaint_id == complaint.id).order_by(Event.id)  # type: ignore[arg-type]
    ).all()
    links = session.exec(
        select(RelatedLink).where(
            RelatedLink.complaint_id == complaint.id, RelatedLink.status == LINK_CONFIRMED
        )
    ).all()
    related = [session.get(Complaint, link.related_id) for link in links]
    alerts = session.exec(
        select(DeadlineAlert).where(DeadlineAlert.complaint_id == complaint.id).order_by(DeadlineAlert.id)  # type: ignore[arg-type]
    ).all()
    approver = session.get(User, complaint.apip_approved_by_id) if complaint.apip_approved_by_id else None
    assignee = session.get(User, complaint.assignee_id) if complaint.assignee_id else None
    today = office.calendar.local_date(now)
    return {
        "office": office.name,
        "tracking_number": complaint.tracking_number,
        "kind": complaint.kind,
        "status": STATUS_WORDS.get(complaint.status, complaint.status),
        "channel": complaint.channel,
        "received_at": complaint.received_at.astimezone(office.calendar.timezone).strftime("%Y-%m-%d %H:%M"),
        "due_date": complaint.due_date.isoformat(),
        "working_days_left": rules.working_days_left(
            complaint.due_date, today=today, calendar=office.calendar
        ),
        "reporter": "ANONIM" if complaint.anonymous or reporter is None else (reporter.name or "-"),
        "service": f"{service.name} ({service.code})" if service else (complaint.service_code or "-"),
        "problem_type": problem.name if problem else (complaint.problem_type or "-"),
        "text": complaint.text,
        "core_problem": complaint.core_problem or "-",
        "standard_ref": complaint.standard_ref or "-",
        "handling_plan": HANDLING_PLANS.get(complaint.handling_plan or "", complaint.handling_plan or "-"),
        "track": TRACKS.get(complaint.track or "", complaint.track or "-"),
        "agency": complaint.agency,
        "agency_liaison": complaint.agency_liaison,
        "agency_follow_up_date": complaint.agency_follow_up_date.isoformat()
        if complaint.agency_follow_up_date
        else None,
        "apip_approved": f"{approver.full_name or approver.username}, {complaint.apip_approved_at:%Y-%m-%d}"
        if approver and complaint.apip_approved_at
        else None,
        "assignee": (assignee.full_name or assignee.username) if assignee else "-",
        "actions": [
            {
                "at": e.at.astimezone(office.calendar.timezone).strftime("%Y-%m-%d %H:%M"),
                "actor": e.actor,
                "action": e.action,
                "detail": " ".join(
                    str(x) for x in (e.field, e.old_value and f"{e.old_value} →", e.new_value, e.note) if x
                ),
            }
            for e in events
        ],
        "notes": [
            {"at": n.created_at.strftime("%Y-%m-%d"), "author": n.author, "text": n.text}
            for n in notes_of(session, complaint)
        ],
        "related": [r.tracking_number for r in related if r is not None],
        "alerts": [
            {
                "checkpoint": a.checkpoint,
                "occurrence": a.occurrence,
                "date": a.created_at.strftime("%Y-%m-%d"),
                "late": a.late,
            }
            for a in alerts
        ],
        "answer": complaint.answer_text or "(belum dijawab)",
        "answered_at": complaint.answered_at.strftime("%Y-%m-%d") if complaint.answered_at else None,
        "author": (author.full_name or author.username) if author else "Aduan",
        "generated_at": now.astimezone(office.calendar.timezone).strftime("%Y-%m-%d %H:%M"),
    }


_HTML = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
    """<!doctype html>
<html lang="id"><head><meta charset="utf-8"><title>Laporan tindak lanjut {{ d.tracking_number }}</title>
<style>body{font-family:sans-serif;max-width:50rem;margin:2rem auto;line-height:1.4}
th{text-align:left;vertical-align:top;padding-right:1rem}td,th{border-bottom:1px solid #ddd;padding:.25rem}
table{border-collapse:collapse;width:100%}h2{margin-top:1.5rem}</style></head><body>
<h1>Laporan Tindak Lanjut Pengaduan</h1>
<p>{{ d.office }} — nomor <strong>{{ d.tracking_number }}</strong> —
dibuat {{ d.generated_at }} oleh {{ d.author }}</p>
<h2>Data pengaduan</h2><table>
<tr><th>Diterima</th><td>{{ d.received_at }} ({{ d.channel }})</td></tr>
<tr><th>Batas jawaban (R4)</th><td>{{ d.due_date }} — sisa {{ d.working_days_left }} hari kerja</td></tr>
<tr><th>Status</th><td>{{ d.status }}</td></tr>
<tr><th>Pelapor</th><td>{{ d.reporter }}</td></tr>
<tr><th>Layanan</th><td>{{ d.service }}</td></tr>
<tr><th>Jenis masalah</th><td>{{ d.problem_type }}</td></tr>
<tr><th>Isi pengaduan</th><td>{{ d.text }}</td></tr>
<tr><th>Penanggung jawab</th><td>{{ d.assignee }}</td></tr></table>
<h2>Penelaahan (R6)</h2><table>
<tr><th>Pokok masalah</th><td>{{ d.core_problem }}</td></tr>
<tr><th>Standar / SOP / peraturan</th><td>{{ d.standard_ref }}</td></tr>
<tr><th>Rencana penanganan</th><td>{{ d.handling_plan }}</td></tr>
<tr><th>Pengaduan terkait</th><td>{{ d.related | join(", ") or "-" }}</td></tr></table>
<h2>Jalur penyelesaian (R7)</h2><table>
<tr><th>Jalur</th><td>{{ d.track }}</td></tr>
{% if d.agency %}<tr><th>Perangkat daerah</th><td>{{ d.agency }} — penghubung {{ d.agency_liaison or "-" }},
tindak lanjut {{ d.agency_follow_up_date or "-" }}</td></tr>{% endif %}
{% if d.apip_approved %}<tr><th>Persetujuan APIP</th><td>{{ d.apip_approved }}</td></tr>{% endif %}</table>
<h2>Yang telah dilakukan</h2><table>
{% for a in d.actions %}<tr><td>{{ a.at }}</td><td>{{ a.actor }}</td><td>{{ a.action }}</td>
<td>{{ a.detail }}</td></tr>
{% endfor %}</table>
{% if d.notes %}<h2>Catatan internal</h2><ul>
{% for n in d.notes %}<li>{{ n.at }} {{ n.author }}: {{ n.text }}</li>
{% endfor %}</ul>{% endif %}
<h2>Hasil (R8)</h2><p>{{ d.answer }}{% if d.answered_at %} — dijawab {{ d.answered_at }}{% endif %}</p>
</body></html>
"""
)


def render_html(data: dict[str, Any]) -> str:
    """Render the follow-up report as a standalone HTML page."""
    return _HTML.render(d=data)


def _font_path() -> Path | None:
    return next((p for p in FONT_CANDIDATES if p.is_file()), None)


def _latin1(text: str) -> str:
    """Make text printable by fpdf's core fonts (Latin-1 only) when no Unicode font is installed."""
    replaced = text.replace("—", "-").replace("→", "->").replace("“", '"').replace("”", '"').replace("’", "'")
    return replaced.encode("latin-1", "replace").decode("latin-1")


def render_pdf(data: dict[str, Any]) -> bytes:
    """Render the follow-up report as a PDF (DejaVu Sans if installed, else a sanitised core font)."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    font = _font_path()
    if font is not None:
        pdf.add_font("DejaVu", "", str(font))
        bold = font.with_name("DejaVuSans-Bold.ttf")
        pdf.add_font("DejaVu", "B", str(bold if bold.is_file() else font))
        family, clean = "DejaVu", (lambda s: s)
    else:
        family, clean = "Helvetica", _latin1
    pdf.set_title(f"Laporan tindak lanjut {data['tracking_number']}")
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin

    def heading(text: str, size: int = 12) -> None:
        pdf.set_font(family, "B", size)
        pdf.multi_cell(width, 7, clean(text), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)

    def row(label: str, value: object) -> None:
        pdf.set_font(family, "B", 9)
        pdf.multi_cell(width, 5, clean(label), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(family, "", 10)
        pdf.multi_cell(
            width, 5, clean(str(value if value not in (None, "") else "-")), new_x="LMARGIN", new_y="NEXT"
        )
        pdf.ln(1)

    heading("Laporan Tindak Lanjut Pengaduan", 15)
    pdf.set_font(family, "", 10)
    pdf.multi_cell(
        width,
        5,
        clean(
            f"{data['office']} - nomor {data['tracking_number']} - dibuat "
            f"{data['generated_at']} oleh {data['author']}"
        ),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(3)
    heading("Data pengaduan")
    row("Nomor pelacakan", data["tracking_number"])
    row("Diterima", f"{data['received_at']} ({data['channel']})")
    row("Batas jawaban (R4)", f"{data['due_date']} - sisa {data['working_days_left']} hari kerja")
    row("Status", data["status"])
    row("Pelapor", data["reporter"])
    row("Layanan", data["service"])
    row("Jenis masalah", data["problem_type"])
    row("Isi pengaduan", data["text"])
    row("Penanggung jawab", data["assignee"])
    heading("Penelaahan (R6)")
    row("Pokok masalah", data["core_problem"])
    row("Standar / SOP / peraturan", data["standard_ref"])
    row("Rencana penanganan", data["handling_plan"])
    row("Pengaduan terkait", ", ".join(data["related"]))
    heading("Jalur penyelesaian (R7)")
    row("Jalur", data["track"])
    if data["agency"]:
        row(
            "Perangkat daerah",
            f"{data['agency']} - penghubung {data['agency_liaison'] or '-'}, "
            f"tindak lanjut {data['agency_follow_up_date'] or '-'}",
        )
    if data["apip_approved"]:
        row("Persetujuan APIP", data["apip_approved"])
    heading("Yang telah dilakukan")
    pdf.set_font(family, "", 9)
    for a in data["actions"]:
        pdf.multi_cell(
            width,
            5,
            clean(f"{a['at']}  {a['actor']}  {a['action']}  {a['detail']}"),
            new_x="LMARGIN",
            new_y="NEXT",
        )
    if data["notes"]:
        heading("Catatan internal")
        pdf.set_font(family, "", 9)
        for n in data["notes"]:
            pdf.multi_cell(
                width, 5, clean(f"{n['at']} {n['author']}: {n['text']}"), new_x="LMARGIN", new_y="NEXT"
            )
    heading("Hasil (R8)")
    row("Jawaban", data["answer"] + (f" - dijawab {data['answered_at']}" if data["answered_at"] else ""))
    return bytes(pdf.output())
