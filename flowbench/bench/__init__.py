"""Benchmarks: compare objectives under matched budgets, FID against iterations, over seeds.

* :mod:`~flowbench.bench.spec`: the benchmark TOML schema, validation, and the matrix of cells.
* :mod:`~flowbench.bench.runner`: runs the cells (resumable; in-process or one worker per GPU).
* :mod:`~flowbench.bench.collect`: every evaluation in one pandas table, with provenance.
* :mod:`~flowbench.bench.convergence`: iterations to reach a FID, speed-ups with intervals.
* :mod:`~flowbench.bench.report`: CSV, Markdown, self-contained HTML and figures.
"""
