"""The tokenizer contract: what every :class:`~flowbench.interfaces.Tokenizer` must do.

Subclass :class:`TokenizerContract` in a pytest file::

    from flowbench.testing import TokenizerContract

    class TestMyVQ(TokenizerContract):
        component_name = "my-vq"
        checkpoint = "tests/data/tiny.safetensors"   # or None for the shipped default
        min_reencode_agreement = 0.8                  # encode(decode(c)) == c for this share of codes

        def images(self, tokenizer, seed=0):         # real images make the round trip meaningful
            ...

Images are random in ``[-1, 1]`` unless :meth:`TokenizerContract.images` is overridden.
"""

from __future__ import annotations

import json
from typing import ClassVar

import torch
from torch import Tensor

from flowbench.interfaces import Tokenizer
from flowbench.testing.base import ContractBase

__all__ = ["TokenizerContract"]


class TokenizerContract(ContractBase):
    """Contract tests for a tokenizer (see the module docstring).

    Class attributes beyond :class:`~flowbench.testing.base.ContractBase`'s:
        checkpoint: passed as ``checkpoint=`` to the factory.
        batch_size: images per check.
        min_reencode_agreement: share of the codes ``c`` of :meth:`images` with ``encode(decode(c)) == c``
            (default 0: no threshold). Set it with real images: a trained VQ autoencoder keeps most codes.
    """

    kind: ClassVar[str] = "tokenizer"
    checkpoint: ClassVar[str | None] = None
    batch_size: ClassVar[int] = 2
    min_reencode_agreement: ClassVar[float] = 0.0

    _cache: ClassVar[dict[type, Tokenizer]] = {}

    def make_tokenizer(self) -> Tokenizer:
        """The tokenizer under test (built once per test class: checkpoints can be slow to load)."""
        key = type(self)
        cache = TokenizerContract._cache
        if key not in cache:
            cache[key] = self.build(checkpoint=self.checkpoint).eval()
        return cache[key]

    def images(self, tokenizer: Tokenizer, seed: int = 0) -> Tensor:
        g = torch.Generator().manual_seed(seed)
        shape = (self.batch_size, tokenizer.image_channels, tokenizer.image_size, tokenizer.image_size)
        return torch.rand(shape, generator=g) * 2 - 1

    def codes(self, tokenizer: Tokenizer, seed: int = 0) -> Tensor:
        g = torch.Generator().manual_seed(seed)
        return torch.randint(0, tokenizer.codebook_size, (self.batch_size, *tokenizer.grid_shape), generator=g)

    # -- the contract -----------------------------------------------------------------------------

    def test_registered(self) -> None:
        self.check_registered(checkpoint=self.checkpoint)

    def test_declares_its_shapes(self) -> None:
        tok = self.make_tokenizer()
        assert isinstance(tok, Tokenizer)
        for name in ("codebook_size", "embed_dim", "image_size", "image_channels"):
            assert isinstance(getattr(tok, name), int) and getattr(tok, name) > 0, f"{name} = {getattr(tok, name)!r}"
        assert tok.image_channels in (1, 3)
        assert len(tok.grid_shape) == 2 and all(isinstance(s, int) and s > 0 for s in tok.grid_shape)

    def test_codebook(self) -> None:
        tok = self.make_tokenizer()
        codebook = tok.codebook()
        assert codebook.shape == (tok.codebook_size, tok.embed_dim) and codebook.dtype == torch.float32
        assert torch.isfinite(codebook).all()
        c = self.codes(tok)
        assert torch.equal(tok.embed(c), codebook[c].permute(0, 3, 1, 2)), "embed(c) must be E[c] as (B, D, h, w)"

    def test_encode(self) -> None:
        tok = self.make_tokenizer()
        with torch.no_grad():
            c = tok.encode(self.images(tok))
        assert c.shape == (self.batch_size, *tok.grid_shape) and c.dtype == torch.int64
        assert ((c >= 0) & (c < tok.codebook_size)).all(), "codes outside [0, K)"
        with torch.no_grad():
            assert torch.equal(c, tok.encode(self.images(tok))), "encode is not deterministic"

    def test_decode(self) -> None:
        tok = self.make_tokenizer()
        with torch.no_grad():
            images = tok.decode(self.codes(tok))
        shape = (self.batch_size, tok.image_channels, tok.image_size, tok.image_size)
        assert images.shape == shape and images.dtype == torch.float32, f"{tuple(images.shape)} {images.dtype}"
        assert torch.isfinite(images).all() and images.min() >= -1.0 - 1e-5 and images.max() <= 1.0 + 1e-5, (
            "decoded images must lie in [-1, 1]"
        )

    def test_reencode_agreement(self) -> None:
        """Codes of :meth:`images` survive a decode/encode round trip (override ``images`` with real data)."""
        tok = self.make_tokenizer()
        with torch.no_grad():
            c = tok.encode(self.images(tok))
            again = tok.encode(tok.decode(c))
        agreement = float((again == c).float().mean())
        assert agreement >= self.min_reencode_agreement, (
            f"encode(decode(c)) == c for {agreement:.1%} of codes (needs {self.min_reencode_agreement:.0%})"
        )

    def test_batch_independence(self) -> None:
        tok = self.make_tokenizer()
        images = self.images(tok)
        with torch.no_grad():
            assert torch.equal(tok.encode(images)[:1], tok.encode(images[:1])), "batch mates change a code grid"

    def test_describe_is_plain_data(self) -> None:
        described = self.make_tokenizer().describe()
        assert isinstance(described, dict) and described
        json.dumps(described)
