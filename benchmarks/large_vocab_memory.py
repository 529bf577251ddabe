"""Peak memory of the categorical maths at a large vocabulary: chunked (flowbench.categorical) vs naive.

At K = 16384 codes on a 32x32 grid (N = 1024 positions) the logits dominate memory: one float32
``(B, K, N)`` tensor is 64 MiB per sample. This script measures, for ``B`` such logits, the peak
memory *above* the logits themselves of

* ``loss``: cross-entropy + z-loss, forward and backward (``F.cross_entropy`` + ``logsumexp`` vs
  :func:`flowbench.categorical.cross_entropy_terms`); the gradient of the logits (one more
  ``(B, K, N)`` tensor) is part of both;
* ``posterior``: the sampling-time posterior mean ``softmax(l / tau) @ E`` and its entropy
  (``softmax`` + ``einsum`` vs :func:`flowbench.categorical.posterior_mean`).

Each case runs in a fresh process. On a CPU the peak is the process's peak resident set
(``VmHWM``, reset through ``/proc/self/clear_refs`` once the inputs exist) minus its resident set at
that moment; on CUDA it is ``torch.cuda.max_memory_allocated`` minus the allocation before the case.

Run::

    python benchmarks/large_vocab_memory.py --batch 4            # CPU
    python benchmarks/large_vocab_memory.py --batch 16 --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

CASES = ("loss-naive", "loss-chunked", "posterior-naive", "posterior-chunked")


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def run_case(case: str, batch: int, codes: int, positions: int, dim: int, device: str) -> dict:
    """Run one case in this process and return its peak extra memory (bytes) and time (s)."""
    import torch
    import torch.nn.functional as F

    from flowbench.categorical import cross_entropy_terms, posterior_mean

    torch.manual_seed(0)
    side = int(positions**0.5)
    logits = torch.randn(batch, codes, side, side, device=device)
    target = torch.randint(0, codes, (batch, side, side), device=device)
    book = torch.randn(codes, dim, device=device)
    if case.startswith("loss"):
        logits.requires_grad_(True)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak resident set (VmHWM) to the current one
        base = _rss_kib("VmRSS") * 1024
    start = time.perf_counter()
    if case == "loss-naive":
        loss = F.cross_entropy(logits, target) + 1e-5 * torch.logsumexp(logits, dim=1).pow(2).mean()
        loss.backward()
    elif case == "loss-chunked":
        ce, lse = cross_entropy_terms(logits, target)
        loss = ce.mean() + 1e-5 * lse.pow(2).mean()
        loss.backward()
    elif case == "posterior-naive":
        with torch.no_grad():
            z = logits / 0.9
            pi = torch.softmax(z, dim=1)
            mu = torch.einsum("bkhw,kd->bdhw", pi, book)
            entropy = -(pi * torch.log_softmax(z, dim=1)).sum(dim=1)
            del mu, entropy
    elif case == "posterior-chunked":
        with torch.no_grad():
            mu, entropy = posterior_mean(logits, book, 0.9, need_entropy=True)
            del mu, entropy
    else:
        raise ValueError(case)
    if device == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
    else:
        peak = _rss_kib("VmHWM") * 1024
    seconds = time.perf_counter() - start
    return {"case": case, "extra_bytes": peak - base, "seconds": seconds, "logits_bytes": logits.numel() * 4}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--codes", type=int, default=16384)
    parser.add_argument("--positions", type=int, default=1024, help="a square number (32x32 = 1024)")
    parser.add_argument("--dim", type=int, default=8, help="codebook dimension D")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:  # child process: one case, JSON on stdout
        print(json.dumps(run_case(args.case, args.batch, args.codes, args.positions, args.dim, args.device)))
        return

    rows = []
    for case in CASES:
        cmd = [sys.executable, __file__, "--case", case, *sys.argv[1:]]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=os.environ.copy())
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    mib = 2**20
    logits_mib = rows[0]["logits_bytes"] / mib
    import torch

    where = torch.cuda.get_device_name() if args.device == "cuda" else platform.processor() or platform.machine()
    print(
        f"B={args.batch} K={args.codes} N={args.positions} D={args.dim} device={args.device} ({where}), "
        f"torch {torch.__version__}; one float32 (B, K, N) tensor = {logits_mib:.0f} MiB\n"
    )
    print("| case | peak memory above the logits (MiB) | in logits tensors | time (s) |")
    print("|---|---:|---:|---:|")
    for r in rows:
        extra = r["extra_bytes"] / mib
        print(f"| {r['case']} | {extra:.0f} | {extra / logits_mib:.2f} | {r['seconds']:.2f} |")


if __name__ == "__main__":
    main()
