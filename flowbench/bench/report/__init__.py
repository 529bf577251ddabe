"""``flowbench report``: tables, figures, Markdown and self-contained HTML from a benchmark's results."""

from flowbench.bench.report.builder import SETUP_COLUMNS, ReportFiles, build_report

__all__ = ["ReportFiles", "build_report", "SETUP_COLUMNS"]
