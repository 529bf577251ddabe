"""The backbone contract: what every :class:`~flowbench.interfaces.Backbone` must do.

Subclass :class:`BackboneContract` in a pytest file::

    from flowbench.testing import BackboneContract

    class TestMyNet(BackboneContract):
        component_name = "my-net"
        options = {"depth": 1, "width": 32}     # keep it tiny

Each check runs for both input kinds of :class:`~flowbench.interfaces.BackboneSpec` (set
``input_kinds`` to narrow it). Networks that start with a zero output layer (adaLN-Zero) are
perturbed before the checks that need a non-trivial output.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from flowbench.interfaces import Backbone, BackboneSpec, InputKind
from flowbench.testing.base import ContractBase

__all__ = ["BackboneContract"]


class BackboneContract(ContractBase):
    """Contract tests for a backbone (see the module docstring).

    Class attributes beyond :class:`~flowbench.testing.base.ContractBase`'s:
        input_kinds: the :class:`BackboneSpec` input kinds the backbone supports.
        embed_dim, codebook_size, grid_shape, num_classes, batch_size: the tiny problem.
    """

    kind: ClassVar[str] = "backbone"
    input_kinds: ClassVar[tuple[InputKind, ...]] = ("continuous", "tokens")
    embed_dim: ClassVar[int] = 4
    codebook_size: ClassVar[int] = 8
    grid_shape: ClassVar[tuple[int, int]] = (4, 4)
    num_classes: ClassVar[int] = 4
    batch_size: ClassVar[int] = 3

    def spec(self, input_kind: InputKind) -> BackboneSpec:
        if input_kind == "tokens":  # a masked objective's: K codes + MASK in, K logits out
            return BackboneSpec("tokens", self.codebook_size + 1, self.codebook_size, self.grid_shape, self.num_classes)
        return BackboneSpec("continuous", self.embed_dim, self.codebook_size, self.grid_shape, self.num_classes)

    def make_backbone(self, input_kind: InputKind, seed: int = 0, perturb: bool = False) -> Backbone:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = self.build(self.spec(input_kind))
            if perturb:  # make zero-initialised layers non-trivial
                with torch.no_grad():
                    for p in model.parameters():
                        p.add_(0.05 * torch.randn_like(p))
        return model

    def inputs(self, input_kind: InputKind, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
        g = torch.Generator().manual_seed(seed)
        b, (h, w) = self.batch_size, self.grid_shape
        if input_kind == "tokens":
            x = torch.randint(0, self.codebook_size + 1, (b, h, w), generator=g)
        else:
            x = torch.randn(b, self.embed_dim, h, w, generator=g)
        t = torch.rand(b, generator=g)
        y = torch.randint(0, self.num_classes, (b,), generator=g)
        return x, t, y

    def forward(self, model: Backbone, x: Tensor, t: Tensor, y: Tensor) -> Tensor:
        with torch.no_grad():
            return model.eval()(x, t, y)

    # -- the contract -----------------------------------------------------------------------------

    def test_registered(self) -> None:
        self.check_registered(self.spec(self.input_kinds[0]))

    def test_keeps_its_spec(self) -> None:
        for kind in self.input_kinds:
            model = self.make_backbone(kind)
            assert isinstance(model, Backbone)
            assert model.spec == self.spec(kind), "backbone.spec must be the spec it was built for"
            assert model.null_class == self.num_classes

    def test_output_shape_and_dtype(self) -> None:
        for kind in self.input_kinds:
            model = self.make_backbone(kind)
            out = self.forward(model, *self.inputs(kind))
            assert out.shape == (self.batch_size, self.codebook_size, *self.grid_shape), f"{kind}: {out.shape}"
            assert out.dtype == torch.float32 and torch.isfinite(out).all()

    def test_accepts_the_null_class(self) -> None:
        for kind in self.input_kinds:
            x, t, _ = self.inputs(kind)
            out = self.forward(self.make_backbone(kind), x, t, torch.full((self.batch_size,), self.num_classes))
            assert torch.isfinite(out).all()

    def test_is_conditioned_on_input_time_and_label(self) -> None:
        for kind in self.input_kinds:
            model = self.make_backbone(kind, perturb=True)
            x, t, y = self.inputs(kind)
            base = self.forward(model, x, t, y)
            x2, _, _ = self.inputs(kind, seed=1)
            assert not torch.allclose(base, self.forward(model, x2, t, y)), f"{kind}: output ignores x"
            assert not torch.allclose(base, self.forward(model, x, (t + 0.3) % 1.0, y)), f"{kind}: output ignores t"
            y2 = (y + 1) % (self.num_classes + 1)
            assert not torch.allclose(base, self.forward(model, x, t, y2)), f"{kind}: output ignores the label"

    def test_samples_are_independent(self) -> None:
        """In eval mode, a sample's output does not depend on the rest of the batch."""
        for kind in self.input_kinds:
            model = self.make_backbone(kind, perturb=True)
            x, t, y = self.inputs(kind)
            full = self.forward(model, x, t, y)
            alone = self.forward(model, x[:1], t[:1], y[:1])
            assert torch.allclose(full[:1], alone, atol=1e-5), f"{kind}: batch mates change a sample's output"

    def test_is_deterministic_in_eval_mode(self) -> None:
        for kind in self.input_kinds:
            model = self.make_backbone(kind, perturb=True)
            inputs = self.inputs(kind)
            assert torch.equal(self.forward(model, *inputs), self.forward(model, *inputs))

    def test_every_parameter_gets_a_gradient(self) -> None:
        """Unused parameters break data-parallel training (DeepSpeed, DDP)."""
        for kind in self.input_kinds:
            model = self.make_backbone(kind, perturb=True).train()
            x, t, y = self.inputs(kind)
            y = torch.cat([y[:-1], torch.full((1,), self.num_classes)])  # the null class is trained too
            (model(x, t, y) ** 2).mean().backward()
            missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
            assert not missing, f"{kind}: parameters without a gradient: {', '.join(missing)}"
            bad = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
            assert not bad, f"{kind}: non-finite gradients in {', '.join(bad)}"

    def test_seeded_construction(self) -> None:
        kind = self.input_kinds[0]
        a, b = self.make_backbone(kind, seed=0), self.make_backbone(kind, seed=0)
        for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.equal(pa, pb), f"same torch seed, different {name}"
