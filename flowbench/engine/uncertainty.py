"""Heat maps of the posterior entropy along sampling trajectories.

For objectives with a categorical posterior over codes, the entropy per grid position,

.. math:: H_{t}(n) = -\\sum_k \\pi_{t,n,k} \\log \\pi_{t,n,k} \\quad\\text{(nats)},

shows where the model is still undecided at time :math:`t`: high everywhere near :math:`t = 0`,
collapsing first on the background and last on the details. One row per sample: the entropy at each
recorded time (shared colour scale, :math:`0` to :math:`\\log K`), then the decoded image.
"""

from __future__ import annotations

import math
from pathlib import Path

from torch import Tensor

from flowbench.interfaces import TrajectoryPoint
from flowbench.io import atomic_path

__all__ = ["DEFAULT_TIMES", "save_entropy_maps"]

#: Times at which ``flowbench sample --uncertainty`` records the posterior entropy.
DEFAULT_TIMES: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 0.95)


def save_entropy_maps(
    trajectory: list[TrajectoryPoint],
    images: Tensor,
    path: str | Path,
    codebook_size: int,
    rows: int = 8,
) -> Path:
    """Save a matplotlib figure of entropy maps ``(N, h, w)`` per time for the first ``rows`` samples."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [p for p in trajectory if p.entropy is not None]
    n = min(rows, len(images))
    cols = len(points) + 1
    fig, axes = plt.subplots(n, cols, figsize=(1.5 * cols + 1.2, 1.5 * n + 0.4), squeeze=False, layout="constrained")
    vmax = math.log(codebook_size)
    mappable = None
    for r in range(n):
        for c, point in enumerate(points):
            ax = axes[r][c]
            assert point.entropy is not None
            mappable = ax.imshow(point.entropy[r].float().numpy(), cmap="magma", vmin=0.0, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"t = {point.t:.2f}", fontsize=9)
        ax = axes[r][-1]
        img = ((images[r].float().clamp(-1, 1) + 1) / 2).permute(1, 2, 0)
        ax.imshow(img.squeeze(-1).numpy() if img.shape[-1] == 1 else img.numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        if r == 0:
            ax.set_title("sample", fontsize=9)
    if mappable is not None:
        fig.colorbar(mappable, ax=axes[:, :-1].ravel().tolist(), shrink=0.8, label="entropy (nats)")
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path
