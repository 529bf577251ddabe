"""Metrics cost: feature extraction and the metric maths, per extractor, on the CPU.

What an evaluation costs besides sampling: extracting features of the generated images (and, once,
of the reference split; then cached), and computing FID, KID and precision/recall from them.
Measured in one process with one torch thread, as CPU time (``time.process_time``) because the
machine this was written on is shared and wall time swings; wall time is printed too.

* ``fmnist-classifier``: the shipped weights, the 10,000 Fashion-MNIST test images (28x28).
* ``inception-v3``: torch-fidelity's ``inception-v3-compat`` architecture with random weights (the
  real file cannot be downloaded here; the cost is the same), ``--inception-images`` images at 28x28
  (resized to 299 inside), extrapolated to 10,000.
* metric maths: torch-fidelity's FID, KID (100 subsets of 1000) and precision/recall (k=3) on
  Gaussian features of the two extractors' widths, 1,000 generated against 10,000 reference
  (precision/recall against a 1,000-feature subsample, as flowbench computes them).

Run::

    python benchmarks/metrics_speed.py                 # writes benchmarks/metrics_speed.md
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

OUT = Path(__file__).with_suffix(".md")


def timed(fn):
    c0, w0 = time.process_time(), time.perf_counter()
    result = fn()
    return result, time.process_time() - c0, time.perf_counter() - w0


def random_inception(tmp: Path) -> Path:
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class Unloaded(FeatureExtractorInceptionV3):
        def load_state_dict(self, state_dict, strict=True, assign=False):
            return None

    empty = tmp / "empty.pth"
    torch.save({}, empty)
    module = Unloaded("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(empty))
    path = tmp / "inception-random.pth"
    torch.save(module.state_dict(), path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inception-images", type=int, default=32)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)

    import tempfile

    from flowbench.metrics import build_extractor, compute_scores, to_fidelity_uint8
    from flowbench.metrics.classifier_train import load_uint8_split

    images, _, _ = load_uint8_split("fashion-mnist", "test")
    images = to_fidelity_uint8(images)
    rows = []

    fe = build_extractor("fmnist-classifier")
    fe.extract(images[:256])  # build the module once
    _, cpu, wall = timed(lambda: fe.extract(images, batch_size=256))
    rows.append(("fmnist-classifier features", len(images), cpu, wall, len(images) / cpu, cpu))

    with tempfile.TemporaryDirectory() as tmp:
        inc = build_extractor("inception-v3", str(random_inception(Path(tmp))))
        n = args.inception_images
        inc.extract(images[:2], batch_size=2)
        _, cpu, wall = timed(lambda: inc.extract(images[:n], batch_size=16))
        rows.append(("inception-v3 features", n, cpu, wall, n / cpu, cpu / n * 10_000))

    maths = []
    for dim in (128, 2048):
        gen = torch.randn(1000, dim)
        ref = torch.randn(10_000, dim) + 0.1
        _, cpu, wall = timed(lambda gen=gen, ref=ref: compute_scores(gen, ref))
        maths.append((dim, cpu, wall))

    lines = [
        "# Metrics cost on the CPU",
        "",
        f"Command: `python benchmarks/metrics_speed.py` ({time.strftime('%Y-%m-%d')}).",
        "",
        f"Machine: {platform.processor() or platform.machine()}, "
        f"{_cpu_model()}, one torch thread, torch {torch.__version__}, Python {sys.version.split()[0]}; "
        "shared with other jobs, so CPU time is the figure to read.",
        "",
        "| feature extraction | images | CPU s | wall s | images per CPU s | CPU s for 10,000 |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, count, cpu, wall, rate, per10k in rows:
        extrap = per10k if count != 10_000 else cpu
        lines.append(f"| {name} | {count} | {cpu:.1f} | {wall:.1f} | {rate:.1f} | {extrap:.0f} |")
    lines += [
        "",
        "| metric maths (1,000 generated vs 10,000 reference) | CPU s | wall s |",
        "| --- | --- | --- |",
    ]
    for dim, cpu, wall in maths:
        lines.append(
            f"| FID + KID (100 x 1000) + PR (k=3, 1,000 vs 1,000), {dim}-d features | {cpu:.1f} | {wall:.1f} |"
        )
    lines += [
        "",
        "Reading: the reference side is extracted once per (dataset, split, extractor, weights) and cached, so",
        "an evaluation pays the generated side's extraction and the metric maths; on the CPU, Inception",
        "features are the dominant cost (use `fmnist-classifier` for Fashion-MNIST, Inception on GPUs).",
        "",
    ]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


def _cpu_model() -> str:
    from flowbench.engine.environment import cpu_model

    return cpu_model()


if __name__ == "__main__":
    main()
