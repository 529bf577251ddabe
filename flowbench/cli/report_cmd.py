"""``flowbench report RESULTS_DIR``: CSV, Markdown, self-contained HTML and figures of a benchmark."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["report", "command"]


@click.command("report")
@click.argument("results_dir", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Report directory [RESULTS_DIR/report].")
@click.option(
    "--target-fid",
    type=float,
    default=None,
    help="FID at which iterations and speed-ups are measured [per pair: the worse final FID of the two].",
)
@click.option(
    "--reference",
    default=None,
    help="Objective whose speed-up over the others is reported "
    "[the benchmark's report.reference, else the one with the lowest final FID].",
)
@click.option(
    "--interval",
    type=click.Choice(["bootstrap", "minmax"]),
    default=None,
    help="Interval over seeds for speed-ups [bootstrap].",
)
def report(
    results_dir: Path, out: Path | None, target_fid: float | None, reference: str | None, interval: str | None
) -> None:
    """Write results.csv, report.md, report.html and PNG figures for a `flowbench bench` results directory."""
    from flowbench.bench.report import build_report

    files = build_report(results_dir, out, target_fid=target_fid, reference=reference, interval=interval)
    click.echo(f"reference {files.reference}; target FID {files.target_fid:.4g}")
    for p in (files.csv, files.markdown, files.html, *files.figures):
        click.echo(f"wrote {p}")


command = report
