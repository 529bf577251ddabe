"""The ``vqvae`` tokenizer: flowbench's own VQ-VAE, shipped pretrained on Fashion-MNIST.

``vqvae`` with no options loads the checkpoint shipped in ``plugins/vqvae/weights/``;
``checkpoint=PATH`` loads a directory (or its ``model.safetensors``) written by
``flowbench tokenizer train``; ``pretrained=False`` builds a randomly initialised model from the
architecture options (what training starts from).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from flowbench.builtin.vqvae import checkpoint as ckpt
from flowbench.builtin.vqvae.model import VQVAE, VQVAEConfig
from torch import Tensor

from flowbench.errors import CheckpointError, ConfigError
from flowbench.interfaces import Tokenizer
from flowbench.weights import file_sha256, load_strict, state_sha256

__all__ = ["VQVAETokenizer"]


class VQVAETokenizer(Tokenizer):
    """flowbench's convolutional VQ-VAE (EMA codebook) as a :class:`Tokenizer`.

    Args:
        checkpoint: directory or ``model.safetensors`` written by ``flowbench tokenizer train``
            (default: the shipped Fashion-MNIST checkpoint).
        pretrained: ``False`` for a random initialisation from ``options`` (no checkpoint).
        **options: :class:`~flowbench.builtin.vqvae.model.VQVAEConfig` fields; with a checkpoint they must
            agree with its ``config.json``.
    """

    registry_name = "vqvae"

    def __init__(self, checkpoint: str | Path | None = None, pretrained: bool = True, **options: Any) -> None:
        super().__init__()
        self.checkpoint_path: Path | None = None
        self.training_info: dict[str, Any] = {}
        if checkpoint is None and not pretrained:
            cfg = VQVAEConfig.from_dict(options)
            self.model = VQVAE(cfg)
            self._sha: str | None = None
        else:
            if checkpoint is not None and not pretrained:
                raise ConfigError("vqvae: pass either checkpoint=PATH or pretrained=False, not both")
            weights, config_file = ckpt.resolve(checkpoint if checkpoint is not None else ckpt.SHIPPED_DIR)
            cfg, data = ckpt.read_config(config_file)
            self.training_info = {k: v for k, v in data.items() if k != "model"}
            given = VQVAEConfig.from_dict({**cfg.to_dict(), **options})
            if given != cfg:
                diff = [k for k, v in given.to_dict().items() if cfg.to_dict()[k] != v]
                raise CheckpointError(
                    f"vqvae options {', '.join(f'{k}={options[k]!r}' for k in diff)} disagree with the checkpoint "
                    f"{weights} ({', '.join(f'{k}={cfg.to_dict()[k]!r}' for k in diff)})"
                )
            self.model = VQVAE(cfg)
            load_strict(self.model, ckpt.load_state(weights), weights)
            self.checkpoint_path = weights
            self._sha = file_sha256(weights)
        self.model.eval()
        self.cfg = cfg
        self.codebook_size = cfg.codebook_size
        self.embed_dim = cfg.embed_dim
        self.grid_shape = (cfg.grid_size, cfg.grid_size)
        self.image_size = cfg.image_size
        self.image_channels = cfg.image_channels

    @property
    def checkpoint_sha256(self) -> str:
        """SHA-256 of the weights file, or of the in-memory weights for an unsaved model."""
        if self._sha is None:
            return state_sha256(self.model.state_dict())
        return self._sha

    def _check_images(self, images: Tensor) -> None:
        expected = (self.image_channels, self.image_size, self.image_size)
        if images.dim() != 4 or tuple(images.shape[1:]) != expected:
            raise ConfigError(
                f"vqvae expects images (B, {', '.join(map(str, expected))}), got {tuple(images.shape)}; "
                f"set the dataset's image_size to {self.image_size}"
            )

    @torch.no_grad()
    def encode(self, images: Tensor) -> Tensor:
        self._check_images(images)
        z = self.model.encoder(images.to(self.device, torch.float32))
        flat = self.model.quantizer._prepare(z)
        b, _, h, w = z.shape
        return self.model.quantizer.nearest(flat).view(b, h, w)

    @torch.no_grad()
    def decode(self, indices: Tensor) -> Tensor:
        latent = self.embed(indices.to(self.device))
        return self.model.decoder(latent).clamp_(-1.0, 1.0)

    def codebook(self) -> Tensor:
        return self.model.quantizer.codebook()

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "name": self.registry_name,
            "config": self.cfg.to_dict(),
            "checkpoint": str(self.checkpoint_path) if self.checkpoint_path else None,
            "checkpoint_sha256": self.checkpoint_sha256,
        }

    @classmethod
    def train_tokenizer(
        cls,
        dataset: Any,
        out_dir: str | Path,
        options: dict[str, Any],
        settings: dict[str, Any],
        meta: dict[str, Any] | None = None,
        on_step: Any = None,
    ) -> Path:
        """Train a new vqvae on ``dataset`` into ``out_dir`` (``flowbench tokenizer train``).

        ``options`` are :class:`VQVAEConfig` fields (image size and channels default to the
        dataset's); ``settings`` are :class:`~flowbench.builtin.vqvae.train.TrainSettings` fields.
        """
        from flowbench.builtin.vqvae.train import TrainSettings, train_vqvae

        cfg = VQVAEConfig.from_dict({"image_size": dataset.image_size, "image_channels": dataset.channels, **options})
        known = set(TrainSettings.__dataclass_fields__)
        bad = sorted(set(settings) - known)
        if bad:
            raise ConfigError(f"vqvae training has no setting {bad[0]!r}; settings: {', '.join(sorted(known))}")
        return train_vqvae(dataset, out_dir, cfg, TrainSettings(**settings), meta=meta, on_step=on_step)
