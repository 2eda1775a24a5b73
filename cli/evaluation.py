"""Commands ``aduan report`` (periodic reports, E2) and ``aduan survey`` (E1 invitations and the IKM)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.app import app, container_of, echo_json, fail, parse_when

if TYPE_CHECKING:
    from reports import evaluation

survey_app = typer.Typer(help="Survei kepuasan masyarakat (satisfaction survey, E1).", no_args_is_help=True)
app.add_typer(survey_app, name="survey")


def _period(text: str) -> evaluation.Period:
    from reports import evaluation  # deliberate lazy import (CLI start-up time, issue 17)

    try:
        return evaluation.parse_period(text)
    except ValueError as exc:
        fail(str(exc))


def check_output(output: Path | None) -> None:
    """Refuse, in one line, an output file that cannot be written: a folder, or in a missing folder."""
    if output is None:
        return
    if output.is_dir():
        fail(f"-o {output} is a directory: give a file name, e.g. {output / 'laporan.xlsx'}")
    if not output.parent.is_dir():
        fail(f"-o {output}: the folder {output.parent} does not exist")


@app.command()
def report(
    ctx: typer.Context,
    period: Annotated[str, typer.Option("--period", help="Periode: 2026-11 (bulan), 2026-Q4, 2026 (tahun).")],
    fmt: Annotated[str, typer.Option("--format", help="Format: xlsx, csv, pdf, html.")] = "xlsx",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Berkas keluaran (output).")] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Keadaan per tanggal (as of); default: hari ini.")
    ] = None,
    charts: Annotated[
        Path | None, typer.Option("--charts", help="Folder untuk grafik PNG dan SVG (chart files).")
    ] = None,
) -> None:
    """Laporan pengaduan per periode (complaints report: counts, R4 timeliness, IKM, E2 saran, charts)."""
    # Deliberate lazy imports (CLI start-up time, issue 17): only this command pays for them.
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from intake import db
    from reports import evaluation

    chosen = _period(period)
    if fmt not in evaluation.FORMATS:
        fail(f"unknown format {fmt!r}; known: {', '.join(evaluation.FORMATS)}")
    check_output(output)
    if charts is not None and charts.exists() and not charts.is_dir():
        fail(f"--charts {charts} is a file: give a folder for the chart files")
    container = container_of(ctx)
    office = container.office
    if as_of:
        day = parse_when(as_of, ctx).date()
    else:
        day = evaluation.default_as_of(office, chosen, container.now())
    target = output or Path(f"laporan-{office.code}-{chosen.label}.{fmt}")
    chart_fmt = evaluation.CHART_FORMAT[fmt]
    steps = len(chosen.months) + 1 + (len(evaluation.CHART_KINDS) if chart_fmt else 0) + 1
    if charts is not None:
        steps += 2 * len(evaluation.CHART_KINDS)
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("membaca data", total=steps)

        def step(name: str) -> None:
            bar.update(task, description=name, advance=1)

        with db.session(container.engine) as s:
            built = evaluation.build_report(s, office, chosen, as_of=day, progress=step)
        if chart_fmt:
            for kind in evaluation.CHART_KINDS:
                evaluation.render_chart(built, kind, chart_fmt)
                step(f"grafik {kind}")
        if charts is not None:
            charts.mkdir(parents=True, exist_ok=True)
            for kind in evaluation.CHART_KINDS:
                for ext in ("png", "svg"):
                    image = evaluation.render_chart(built, kind, ext)
                    (charts / f"{chosen.label}-{kind}.{ext}").write_bytes(image)
                    step(f"grafik {kind}.{ext}")
        data = evaluation.export(built, fmt)
        target.write_bytes(data)
        step(f"menulis {fmt}")
    typer.echo(f"{target}  ({built.pengaduan} pengaduan, {built.saran} saran, {len(data):,} bytes)")


@survey_app.command("ikm")
def survey_ikm(
    ctx: typer.Context,
    period: Annotated[str, typer.Option("--period", help="Periode: 2026-11, 2026-Q4, 2026.")],
    as_json: Annotated[bool, typer.Option("--json", help="Keluaran JSON (JSON output).")] = False,
) -> None:
    """Indeks Kepuasan Masyarakat per periode, triwulan dan layanan (IKM, PermenPANRB 14/2017)."""
    from intake import db
    from reports import evaluation  # deliberate lazy imports (CLI start-up time, issue 17)

    chosen = _period(period)
    container = container_of(ctx)
    with db.session(container.engine) as s:
        data = evaluation.ikm_summary(s, container.office, chosen)
    if as_json:
        echo_json(data)
        return
    overall = data["overall"]
    if overall is None:
        typer.echo(f"{chosen.label}: belum ada responden (no respondents)")
        return
    typer.echo(
        f"{chosen.label}: IKM {overall['ikm']} ({overall['grade']}, {overall['grade_label']}), "
        f"{overall['respondents']} responden, unsur terendah {overall['weakest']}"
    )
    for element in overall["elements"]:
        typer.echo(
            f"  {element['code']}  NRR {element['nrr']}  indeks {element['index']:>6}  "
            f"{element['grade']}  {element['name']}"
        )
    for quarter, result in data["by_quarter"].items():
        typer.echo(f"  {quarter}: IKM {result['ikm']} ({result['grade']}), {result['respondents']} responden")


@survey_app.command("invite")
def survey_invite(
    ctx: typer.Context,
    quarterly: Annotated[
        bool, typer.Option("--quarterly", help="Undang semua warga triwulan ini (everyone of the quarter).")
    ] = False,
) -> None:
    """Kirim undangan survei (send survey invitations: answered complaints, or the quarterly round)."""
    from bot import survey  # deliberate lazy import (CLI start-up time, issue 17)

    container = container_of(ctx)
    answered = survey.invite_due(container)
    extra = survey.invite_quarter(container) if quarterly else 0
    typer.echo(f"undangan (invitations): {answered} setelah jawaban, {extra} triwulanan")
