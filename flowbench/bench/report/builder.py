"""Build a benchmark report: ``results.csv``, ``report.md``, ``report.html`` and PNG figures.

What is compared with what comes from the benchmark's ``[report]`` table (copied into
``bench.json``) or from the caller: the reference objective (default: the one with the lowest final
mean FID), the target FID (default: per pair, the worse final mean FID of the two objectives; the
iterations table uses the worst final mean FID among all objectives) and the interval rule
(bootstrap over seeds or min-max). See :mod:`flowbench.bench.convergence` for the maths.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import re
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from flowbench import __version__
from flowbench.bench import layout
from flowbench.bench.collect import collect, read_bench
from flowbench.bench.convergence import mean_curve
from flowbench.bench.report import figures, tables
from flowbench.bench.report.render import Document, Figure, Heading, Table, Text, to_html, to_markdown
from flowbench.bench.spec import ReportSettings
from flowbench.engine.rundir import last_sample_grid
from flowbench.errors import ConfigError, DataError
from flowbench.io import atomic_open, atomic_path, write_text

__all__ = ["ReportFiles", "build_report", "SETUP_COLUMNS"]

#: Provenance shown in the report's setup table (every row of results.csv carries all of them).
SETUP_COLUMNS: tuple[str, ...] = (
    "dataset",
    "reference_split",
    "tokenizer",
    "tokenizer_checkpoint",
    "backbone",
    "train_steps",
    "effective_batch",
    "world_size",
    "numeric_precision",
    "lr",
    "ema_decay",
    "sampler",
    "sample_steps",
    "nfe",
    "guidance",
    "temperature",
    "num_samples",
    "feature_extractor",
    "evaluator",
    "seed",
    "hardware",
    "flowbench_version",
    "torch_version",
)


@dataclass
class ReportFiles:
    """What :func:`build_report` wrote."""

    out: Path
    csv: Path
    markdown: Path
    html: Path
    figures: list[Path] = field(default_factory=list)
    reference: str | None = None
    target_fid: float | None = None


def _settings(bench: dict, **overrides: object) -> ReportSettings:
    raw = dict(bench.get("report") or {})
    s = ReportSettings(**{k: v for k, v in raw.items() if k in ReportSettings.__dataclass_fields__})
    return replace(s, **{k: v for k, v in overrides.items() if v is not None})


def build_report(
    results_dir: str | Path,
    out: str | Path | None = None,
    *,
    target_fid: float | None = None,
    reference: str | None = None,
    interval: str | None = None,
    level: float | None = None,
) -> ReportFiles:
    """Write the report of the benchmark in ``results_dir`` to ``out`` (default ``results_dir/report``).

    Raises:
        DataError: no results to report.
        ConfigError: an unknown reference objective or a bad target.
    """
    root = Path(results_dir)
    df = collect(root)
    bench = read_bench(root)
    settings = _settings(bench, target_fid=target_fid, reference=reference, interval=interval, level=level)
    if settings.target_fid is not None and not settings.target_fid > 0:
        raise ConfigError(f"--target-fid must be > 0, got {settings.target_fid}")
    if settings.interval not in ("bootstrap", "minmax"):
        raise ConfigError(f"--interval must be 'bootstrap' or 'minmax', got {settings.interval!r}")
    present = list(dict.fromkeys(df["objective"]))
    objectives = [o for o in bench.get("objectives", []) if o in present] + [
        o for o in present if o not in bench.get("objectives", [])
    ]
    out_dir = Path(out) if out is not None else root / layout.REPORT
    out_dir.mkdir(parents=True, exist_ok=True)

    csv_path = out_dir / "results.csv"
    with atomic_open(csv_path, "w", encoding="utf-8", newline="") as fh:
        df.to_csv(fh, index=False)

    curve_map = {k: v for k, v in ((o, tables.curves(df).get(o)) for o in objectives) if v}
    if not curve_map:
        raise DataError(f"no FID evaluations under {str(root)!r}: nothing to compare")
    ref = settings.reference
    if ref is not None and ref not in curve_map:
        raise ConfigError(f"reference objective {ref!r} has no results; objectives: {', '.join(curve_map)}")
    if ref is None:
        ref = min(curve_map, key=lambda o: mean_curve(curve_map[o]).final)
    global_target = settings.target_fid or tables.default_global_target(curve_map)

    title = f"flowbench report: {bench.get('name', root.name)}" + (
        f" (profile {bench['profile']})" if bench.get("profile") else ""
    )
    doc = Document(title)
    figs: list[Path] = []
    _intro(doc, bench, df, root, objectives)

    doc.add(Heading("Setup"))
    doc.add(Text("Settings of every evaluation row (a comma-separated cell lists values that differ between rows)."))
    doc.add(Table(tables.provenance_table(df, SETUP_COLUMNS)))

    doc.add(Heading("FID against training iterations"))
    p = figures.fid_vs_iterations(curve_map, out_dir / "fid_vs_iterations.png", target=global_target)
    figs.append(p)
    doc.add(Figure(p, "FID (log scale) against iterations: geometric mean over seeds; band = min-max over seeds."))

    doc.add(Heading("Iterations to reach a FID"))
    rule = (
        "given explicitly"
        if settings.target_fid
        else "the worst final mean FID among objectives, so every objective reaches it"
    )
    doc.add(
        Text(
            f"Target FID {tables.fmt(global_target)} ({rule}). Iterations are interpolated linearly in log-FID "
            "between the two evaluations around the first crossing of the target; 'not reached' means the "
            "curve stays above the target within the budget."
        )
    )
    doc.add(Table(tables.iterations_table(curve_map, global_target)))

    speed_results = []
    if len(curve_map) > 1:
        doc.add(Heading(f"Speed-up of {ref}"))
        pair_rule = (
            f"at the fixed target FID {tables.fmt(settings.target_fid)}"
            if settings.target_fid
            else "per pair at the worse final mean FID of the two objectives (the FID both reach)"
        )
        how = (
            f"a {int(settings.level * 100)}% percentile bootstrap over seeds ({settings.resamples} resamples of "
            "each objective's seeds, independently; with few seeds read it as a spread, not a calibrated interval)"
            if settings.interval == "bootstrap"
            else "the smallest and largest ratio over all pairs of a reference seed and a baseline seed"
        )
        doc.add(
            Text(
                f"Speed-up = iterations the baseline needs / iterations {ref} needs to reach the same FID, "
                f"measured {pair_rule}. Interval: {how}"
                + ("" if settings.target_fid else ", the target re-derived for each resample or pair")
                + "."
            )
        )
        frame, speed_results = tables.speedup_table(
            curve_map,
            ref,
            settings.target_fid,
            method=settings.interval,
            level=settings.level,
            resamples=settings.resamples,
        )
        doc.add(Table(frame))
        speed_csv = out_dir / "speedups.csv"
        with atomic_open(speed_csv, "w", encoding="utf-8", newline="") as fh:
            pd.DataFrame([dataclasses.asdict(r) for r in speed_results]).to_csv(fh, index=False)
        doc.add(Text("Unrounded values: `speedups.csv`."))
        if settings.notes:
            doc.add(Text(f"Note: {settings.notes}"))
        p = figures.speedup_bars(speed_results, out_dir / "speedup.png")
        if p:
            figs.append(p)
            doc.add(Figure(p, f"Speed-up of {ref} over each baseline, with its interval."))

    doc.add(Heading("Final metrics"))
    doc.add(
        Text(
            "At each cell's last evaluation (EMA weights, default temperature and guidance): mean ± sample std "
            "over seeds. s/step is the median training time per optimiser step (excluding evaluation)."
        )
    )
    doc.add(Table(tables.final_metrics(df, objectives)))

    for axis in ("temperature", "guidance"):
        points = tables.sweep_points(df, axis)
        table = tables.sweep_table(df, axis, objectives)
        if table.empty:
            continue
        doc.add(Heading(f"FID against {axis}"))
        doc.add(
            Text(
                f"Final EMA weights of each cell evaluated at several {axis} values (no retraining); "
                "mean ± std over seeds."
            )
        )
        doc.add(Table(table))
        p = figures.fid_vs_knob(points, axis, out_dir / f"fid_vs_{axis}.png", objectives)
        if p:
            figs.append(p)
            doc.add(Figure(p, f"FID against {axis} (final EMA weights)."))

    samples = _copy_samples(df, root, out_dir, objectives)
    if samples:
        doc.add(Heading("Samples"))
        for label, p, cell in samples:
            figs.append(p)
            doc.add(Figure(p, f"{label}: last sample grid of cell {cell} (EMA weights)."))

    doc.add(Heading("Data"))
    doc.add(
        Text(
            f"`results.csv` holds {len(df)} rows (one per cell x evaluation step x temperature/guidance), each "
            "with its full provenance. Columns: " + ", ".join(f"`{c}`" for c in df.columns) + "."
        )
    )

    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    write_text(md_path, to_markdown(doc, out_dir))
    write_text(html_path, to_html(doc))
    return ReportFiles(out_dir, csv_path, md_path, html_path, figs, ref, global_target)


def _intro(doc: Document, bench: dict, df: pd.DataFrame, root: Path, objectives: list[str]) -> None:
    if bench.get("description"):
        doc.add(Text(bench["description"]))
    cells = bench.get("cells", [])
    status = df.drop_duplicates("cell").set_index("cell")["status"]
    done = int((status == "done").sum())
    total = len(cells) or len(status)
    when = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    doc.add(
        Text(
            f"Cells finished: {done}/{total}. Objectives: {', '.join(objectives)}; "
            f"seeds: {', '.join(str(s) for s in sorted(df['seed'].unique()))}. "
            f"Generated {when} by flowbench {__version__} from `{root}`."
        )
    )
    unfinished = sorted(set(status.index[status != "done"]) | ({c["name"] for c in cells} - set(status.index)))
    if unfinished:
        doc.add(Text(f"Unfinished cells (partial results included): {', '.join(unfinished)}."))


def _copy_samples(df: pd.DataFrame, root: Path, out_dir: Path, objectives: list[str]) -> list[tuple[str, Path, str]]:
    out = []
    for label in objectives:
        cells = df[df["objective"] == label].sort_values("seed")["cell"].unique()
        for cell in cells:
            last = last_sample_grid(root / layout.CELLS / cell)
            if last is not None:
                src = last[1]
                safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", label)
                dst = out_dir / f"samples_{safe}.png"
                with atomic_path(dst) as tmp:
                    shutil.copyfile(src, tmp)
                out.append((label, dst, str(cell)))
                break
    return out
