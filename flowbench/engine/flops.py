"""Training and sampling FLOPs of a run config, counted on a real step with ``torch.utils.flop_counter``.

:func:`count_training_flops` builds the run's objective and backbone (as :func:`flowbench.engine.train`
does, from the same config) and runs one *real* training micro-step under
:class:`torch.utils.flop_counter.FlopCounterMode`: ``objective.loss(backbone, codes, labels)`` forward,
then ``loss.backward()``. One optimizer step is ``grad_accum x world_size`` such micro-steps of
``micro_batch`` samples each, so

.. math:: F_\\text{step} = F_\\text{micro}(m) \\cdot a \\cdot W, \\qquad m = B / (a W)

for global batch ``B``, ``a = train.grad_accum`` and ``W`` processes (the same split DeepSpeed uses,
:func:`flowbench.engine.ds_config.plan_deepspeed`). Nothing is extrapolated: the counted micro-step has
the run's micro-batch, grid, codebook and backbone.

What ``FlopCounterMode`` counts: matrix multiplies (``mm``, ``addmm``, ``bmm``, ...), convolutions and
fused attention kernels, at 2 FLOPs per multiply-add, forward and backward. It does *not* count
elementwise maths (activations, normalisation, softmax / cross-entropy, the path ``t x1 + (1-t) x0``),
table lookups (embeddings, ``E[c]``) nor the optimizer: AdamW's update is about
:data:`ADAMW_FLOPS_PER_PARAM` elementwise FLOPs per parameter, a vanishing share of a step of a model
trained on hundreds of positions per sample (:attr:`FlopCount.optimizer_share` says how small).
Precision does not change the count (bf16 and fp32 do the same multiplies).

Where it runs: on PyTorch's ``meta`` device by default: parameters and activations have shapes but no
storage, so DiT-XL/2 at ``K = 16384`` on a 32x32 grid at batch 256 is counted in seconds without
allocating its 750M weights. Attention then takes PyTorch's reference (``math``) path, whose batched
matrix multiplies are counted; on a real CPU the fused kernel ``_scaled_dot_product_flash_attention_for_cpu``
is *invisible* to the counter, which is why a CPU count (the fallback for an objective that cannot run
on ``meta``, e.g. one that reads a tensor's values) forces the ``math`` attention backend. A test checks
that the meta and CPU counts agree exactly.

The tokenizer is built for real when it can be (its codebook shape and grid are what the objective and
backbone see); when its checkpoint is not on this machine and its factory takes ``pretrained``, the
architecture is built without weights on ``meta`` instead (the shapes are the same). The class count
comes from the token cache or the dataset; when neither is readable here it is taken as 1: FLOPs do not
depend on it (labels are a table lookup) but the parameter count then leaves out the other classes'
embedding rows, and the result says so in :attr:`FlopCount.notes`.

:func:`count_sampling_flops` counts one network evaluation of sampling (``objective.predict`` under
``no_grad``, with the run's guidance, which doubles the batch) per sample; a sample costs
``sampler.nfe(steps)`` of them. Decoding codes to images and the evaluator's feature extractor are not
included.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from flowbench.build import build_backbone, build_dataset, build_objective, build_sampler, build_tokenizer
from flowbench.config import RunConfig
from flowbench.errors import CheckpointError, FlowbenchError
from flowbench.plugins import registry

__all__ = [
    "ADAMW_FLOPS_PER_PARAM",
    "FlopCount",
    "SamplingFlops",
    "count_training_flops",
    "count_sampling_flops",
]

#: Elementwise FLOPs of one AdamW update per parameter (two moment updates, bias corrections, the
#: square root, the division, weight decay and the step: about a dozen); not counted, see the module doc.
ADAMW_FLOPS_PER_PARAM = 12

_COUNTED = (
    "matrix multiplies, convolutions and attention (torch.utils.flop_counter, 2 FLOPs per multiply-add) of "
    "objective.loss through the backbone, forward and backward"
)
_NOT_COUNTED = (
    "elementwise ops, normalisation, softmax/cross-entropy, embedding lookups and the AdamW update "
    f"(~{ADAMW_FLOPS_PER_PARAM} FLOPs per parameter)"
)


@dataclass(frozen=True)
class FlopCount:
    """Training FLOPs of one optimizer step of a run config.

    Attributes:
        flops_per_step: FLOPs of one optimizer step (the whole global batch, all ranks together).
        flops_per_sample: ``flops_per_step / global_batch``.
        params: trainable backbone parameters.
        global_batch: ``train.batch_size``.
        micro_batch: samples per counted micro-step.
        micro_steps: micro-steps per optimizer step (``grad_accum x world_size``).
        world_size: processes the batch was split over.
        by_op: FLOPs per aten op over one optimizer step (e.g. ``{"aten.mm": ...}``).
        device: where the counted step ran (``"meta"`` or ``"cpu"``).
        counted: what the figure includes and what it leaves out, in words.
        notes: fallbacks taken while building the components (empty when none).
        objective, backbone: the names counted.
        grid_shape, codebook_size, embed_dim, num_classes: the shapes counted.
    """

    flops_per_step: int
    flops_per_sample: float
    params: int
    global_batch: int
    micro_batch: int
    micro_steps: int
    world_size: int
    by_op: dict[str, int]
    device: str
    counted: str
    notes: tuple[str, ...]
    objective: str
    backbone: str
    grid_shape: tuple[int, int]
    codebook_size: int
    embed_dim: int
    num_classes: int

    @property
    def optimizer_share(self) -> float:
        """The uncounted AdamW update as a fraction of :attr:`flops_per_step`."""
        return ADAMW_FLOPS_PER_PARAM * self.params / max(1, self.flops_per_step)

    def total(self, steps: int) -> int:
        """Training FLOPs of ``steps`` optimizer steps."""
        return self.flops_per_step * int(steps)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly record (tuples become lists)."""
        data = asdict(self)
        data["grid_shape"] = list(self.grid_shape)
        data["notes"] = list(self.notes)
        data["optimizer_share"] = self.optimizer_share
        return data


@dataclass(frozen=True)
class SamplingFlops:
    """FLOPs of sampling one code grid with a run's sample settings.

    Attributes:
        flops_per_nfe: FLOPs of one network evaluation per sample (guidance > 1 included: it doubles
            the batch of that evaluation).
        nfe: network evaluations per sample (``sampler.nfe(steps)``).
        flops_per_sample: ``flops_per_nfe x nfe``.
        sampler, steps, guidance: the settings counted.
        device: where the counted evaluation ran.
        counted: what the figure includes and what it leaves out.
        notes: fallbacks taken while building the components.
    """

    flops_per_nfe: int
    nfe: int
    flops_per_sample: int
    sampler: str
    steps: int
    guidance: float
    device: str
    counted: str
    notes: tuple[str, ...] = field(default=())

    def total(self, num_samples: int) -> int:
        """FLOPs of drawing ``num_samples`` samples."""
        return self.flops_per_sample * int(num_samples)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["notes"] = list(self.notes)
        return data


# ---------------------------------------------------------------------------------------- building


def _takes(kind: str, name: str, option: str) -> bool:
    try:
        return option in inspect.signature(registry(kind).get(name).factory).parameters
    except (TypeError, ValueError):
        return False


def _codebook_and_grid(cfg: RunConfig, notes: list[str]) -> tuple[torch.Tensor, tuple[int, int]]:
    """The tokenizer's ``(K, D)`` codebook (on the CPU, or ``meta``) and its grid."""
    try:
        tokenizer = build_tokenizer(cfg.tokenizer, cfg.tokenizer_checkpoint)
    except CheckpointError as exc:
        if not _takes("tokenizer", cfg.tokenizer.name, "pretrained"):
            raise
        options = {**cfg.tokenizer.options, "pretrained": False}
        with torch.device("meta"):
            tokenizer = registry("tokenizer").get(cfg.tokenizer.name).factory(**options)
        notes.append(f"tokenizer checkpoint not readable here ({exc}); shapes from its architecture without weights")
    return tokenizer.codebook().detach(), tuple(int(s) for s in tokenizer.grid_shape)  # type: ignore[return-value]


def _num_classes(cfg: RunConfig, notes: list[str]) -> int:
    d = cfg.data
    try:
        if d.tokens:
            from flowbench.tokens import TokenDataset

            ds: Any = TokenDataset(d.tokens)
            manifest = getattr(ds, "manifest", None) or {}
            n = getattr(ds, "num_classes", None) or manifest.get("num_classes")
            if n is None:
                raise FlowbenchError(f"token cache {d.tokens!r} does not record its class count")
            return int(n)
        return int(build_dataset(d.dataset, d.split, root=d.root, image_size=d.image_size).num_classes)
    except (FlowbenchError, OSError) as exc:
        notes.append(
            f"dataset not readable here ({exc}); counted with 1 class: FLOPs do not depend on the class count, "
            f"the parameter count leaves out the other classes' label-embedding rows"
        )
        return 1


@dataclass
class _Parts:
    objective: Any
    backbone: torch.nn.Module
    grid: tuple[int, int]
    codebook_size: int
    embed_dim: int
    num_classes: int
    notes: list[str]


def _build(cfg: RunConfig, device: str, shapes: tuple[torch.Tensor, tuple[int, int], int, list[str]]) -> _Parts:
    codebook, grid, num_classes, notes = shapes
    with torch.device(device):
        objective = build_objective(cfg.objective, codebook.to(device))
        spec = objective.backbone_spec(grid, num_classes)
        torch.manual_seed(cfg.train.seed)
        backbone = build_backbone(cfg.backbone, spec)
    objective.to(device)
    backbone.to(device)
    k, d = codebook.shape
    return _Parts(objective, backbone, grid, int(k), int(d), num_classes, list(notes))


def _shapes(cfg: RunConfig) -> tuple[torch.Tensor, tuple[int, int], int, list[str]]:
    notes: list[str] = []
    codebook, grid = _codebook_and_grid(cfg, notes)
    return codebook, grid, _num_classes(cfg, notes), notes


@contextlib.contextmanager
def _counting_context(device: str) -> Iterator[None]:
    """On a real device, make attention visible to the counter (the reference ``math`` kernel)."""
    if device == "meta":
        yield
        return
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel([SDPBackend.MATH]):
        yield


def _batch(parts: _Parts, batch: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.device(device):
        codes = torch.randint(0, parts.codebook_size, (batch, *parts.grid), dtype=torch.int64)
        labels = torch.randint(0, parts.num_classes, (batch,), dtype=torch.int64)
    return codes, labels


def _count_loss(parts: _Parts, batch: int, device: str) -> dict[str, int]:
    parts.backbone.train()
    codes, labels = _batch(parts, batch, device)
    with _counting_context(device), FlopCounterMode(display=False) as counter:
        out = parts.objective.loss(parts.backbone, codes, labels)
        out.loss.backward()
    return {str(op): int(n) for op, n in counter.get_flop_counts().get("Global", {}).items()}


def _on_meta_or_cpu(cfg: RunConfig, device: str | None, fn: Any) -> tuple[Any, _Parts, str]:
    """Run ``fn(parts, device)`` on ``meta`` (or the given device); fall back to the CPU if the
    objective or backbone cannot run on ``meta`` (one note says so). The caller's RNG is left as it was."""
    with torch.random.fork_rng(devices=[]):
        return _meta_or_cpu(cfg, device, fn)


def _meta_or_cpu(cfg: RunConfig, device: str | None, fn: Any) -> tuple[Any, _Parts, str]:
    shapes = _shapes(cfg)
    if device is not None:
        parts = _build(cfg, device, shapes)
        return fn(parts, device), parts, device
    try:
        parts = _build(cfg, "meta", shapes)
        return fn(parts, "meta"), parts, "meta"
    except FlowbenchError:
        raise
    except (NotImplementedError, RuntimeError, ValueError, TypeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        parts = _build(cfg, "cpu", shapes)
        parts.notes.append(f"could not run on the meta device ({first[:160]}); counted on the CPU with real weights")
        return fn(parts, "cpu"), parts, "cpu"


# ---------------------------------------------------------------------------------------- public


def count_training_flops(config: RunConfig, *, world_size: int = 1, device: str | None = None) -> FlopCount:
    """FLOPs of one optimizer step of ``config`` (see the module doc for what is counted).

    Args:
        config: a run configuration (validated here).
        world_size: processes the global batch is split over (sets the micro-batch, as in training).
        device: ``None`` (``meta``, falling back to the CPU), ``"meta"`` or ``"cpu"``.

    Returns:
        A :class:`FlopCount`.

    Raises:
        FlowbenchError: a bad name or value, or a batch that does not split over ``world_size``.
    """
    from flowbench.engine.ds_config import plan_deepspeed

    cfg = config.validate()
    plan = plan_deepspeed(cfg, world_size, on_gpu=False)
    micro_steps = plan.grad_accum * world_size
    by_op, parts, where = _on_meta_or_cpu(cfg, device, lambda p, d: _count_loss(p, plan.micro_batch, d))
    by_op = {op: n * micro_steps for op, n in sorted(by_op.items())}
    total = sum(by_op.values())
    params = sum(p.numel() for p in parts.backbone.parameters() if p.requires_grad)
    counted = (
        f"{_COUNTED}, for one optimizer step of {cfg.train.batch_size} samples ({plan.micro_batch} per micro-step "
        f"x {plan.grad_accum} accumulation x {world_size} process(es)) on a {parts.grid[0]}x{parts.grid[1]} grid; "
        f"not counted: {_NOT_COUNTED}"
    )
    return FlopCount(
        flops_per_step=total,
        flops_per_sample=total / cfg.train.batch_size,
        params=int(params),
        global_batch=cfg.train.batch_size,
        micro_batch=plan.micro_batch,
        micro_steps=micro_steps,
        world_size=world_size,
        by_op=by_op,
        device=where,
        counted=counted,
        notes=tuple(parts.notes),
        objective=cfg.objective.name,
        backbone=cfg.backbone.name,
        grid_shape=parts.grid,
        codebook_size=parts.codebook_size,
        embed_dim=parts.embed_dim,
        num_classes=parts.num_classes,
    )


def count_sampling_flops(
    config: RunConfig,
    *,
    steps: int | None = None,
    guidance: float | None = None,
    batch: int = 1,
    device: str | None = None,
) -> SamplingFlops:
    """FLOPs of sampling one code grid with ``config.sample`` (or the given ``steps``/``guidance``).

    One network evaluation (``objective.predict`` at ``t = 0.5`` from the objective's initial state,
    ``no_grad``, the backbone in eval mode) is counted for ``batch`` samples and divided by ``batch``;
    a sample costs ``sampler.nfe(steps)`` evaluations. Not included: decoding and feature extraction.
    """
    cfg = config.validate()
    s = cfg.sample
    steps = s.steps if steps is None else int(steps)
    guidance = s.guidance if guidance is None else float(guidance)

    def count(parts: _Parts, where: str) -> tuple[int, str, int]:
        name = s.sampler or parts.objective.default_sampler
        sampler = build_sampler(name, parts.objective, objective_name=cfg.objective.name)
        parts.backbone.eval()
        with torch.device(where):
            x = parts.objective.initial_state(batch, parts.grid)
            t = torch.full((batch,), 0.5)
            labels = torch.zeros(batch, dtype=torch.int64)
        with _counting_context(where), torch.no_grad(), FlopCounterMode(display=False) as counter:
            parts.objective.predict(parts.backbone, x, t, labels, guidance=guidance, temperature=s.temperature)
        return counter.get_total_flops(), name, int(sampler.nfe(steps))

    (flops, name, nfe), parts, where = _on_meta_or_cpu(cfg, device, count)
    per_nfe = int(flops) // batch
    counted = (
        f"matrix multiplies, convolutions and attention of one objective.predict through the backbone per sample "
        f"(guidance {guidance:g}{', a doubled batch' if guidance != 1.0 else ''}) x {nfe} network evaluations "
        f"({name}, {steps} steps); not counted: elementwise ops, decoding the codes and feature extraction"
    )
    return SamplingFlops(per_nfe, nfe, per_nfe * nfe, name, steps, guidance, where, counted, tuple(parts.notes))
