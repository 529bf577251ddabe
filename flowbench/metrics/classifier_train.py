"""Train a :class:`~flowbench.metrics.classifier.SmallCNN` on a registered dataset's train split.

The classifier must see images exactly as the evaluation will show them: the dataset's float images
mapped to uint8 by :func:`~flowbench.metrics.extractor.to_fidelity_uint8` (channel 0 of the
replicated image for a grey classifier). Training: AdamW with a one-cycle learning-rate schedule,
cross-entropy, random shifts of up to ``shift`` pixels (zero padding = the background) as the only
augmentation; seeded, so the same command gives the same weights on the same machine. The test split
accuracy is measured after training and stored with the weights.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from flowbench.errors import ConfigError
from flowbench.metrics.classifier import ClassifierConfig, SmallCNN, save_classifier
from flowbench.metrics.extractor import to_fidelity_uint8

__all__ = ["TrainedClassifier", "load_uint8_split", "random_shift", "accuracy_of", "train_classifier"]


@dataclass
class TrainedClassifier:
    weights: Path
    config_path: Path
    test_accuracy: float
    train_seconds: float
    info: dict[str, Any]


def load_uint8_split(
    dataset: str, split: str, root: str | None = None, image_size: int | None = None, batch: int = 2000
) -> tuple[Tensor, Tensor, int]:
    """``(images uint8 (N, C, H, W), labels (N,), num_classes)`` of a registered dataset split."""
    from flowbench.build import build_dataset

    ds = build_dataset(dataset, split, root=root, image_size=image_size)
    images, labels = [], []
    for start in range(0, len(ds), batch):
        items = [ds[i] for i in range(start, min(start + batch, len(ds)))]
        x = to_fidelity_uint8(torch.stack([im for im, _ in items]))
        images.append(x[:, : ds.channels])
        labels.append(torch.tensor([int(lab) for _, lab in items]))
    return torch.cat(images), torch.cat(labels), int(ds.num_classes)


def random_shift(images: Tensor, shift: int, generator: torch.Generator) -> Tensor:
    """Shift each image by up to ``shift`` pixels in x and y, filling with 0 (uint8 background)."""
    if shift <= 0:
        return images
    b, c, h, w = images.shape
    padded = F.pad(images, (shift, shift, shift, shift))
    oy = torch.randint(0, 2 * shift + 1, (b,), generator=generator)
    ox = torch.randint(0, 2 * shift + 1, (b,), generator=generator)
    rows = (oy[:, None] + torch.arange(h))[:, None, :, None]
    cols = (ox[:, None] + torch.arange(w))[:, None, None, :]
    return padded[torch.arange(b)[:, None, None, None], torch.arange(c)[None, :, None, None], rows, cols]


@torch.no_grad()
def accuracy_of(model: SmallCNN, images: Tensor, labels: Tensor, batch_size: int = 1000) -> float:
    """Top-1 accuracy of ``model`` (in eval mode) on uint8 ``images``."""
    was_training = model.training
    model.eval()
    correct = 0
    for start in range(0, len(images), batch_size):
        _, logits = model(images[start : start + batch_size])
        correct += int((logits.argmax(1) == labels[start : start + batch_size]).sum())
    model.train(was_training)
    return correct / len(images)


def train_classifier(
    out: str | Path,
    *,
    dataset: str = "fashion-mnist",
    name: str = "classifier",
    seed: int = 0,
    epochs: int = 3,
    batch_size: int = 128,
    lr: float = 3e-3,
    shift: int = 2,
    config: ClassifierConfig | None = None,
    root: str | None = None,
    image_size: int | None = None,
    command: str | None = None,
    progress: Callable[[str, int, int, dict[str, float]], None] | None = None,
) -> TrainedClassifier:
    """Train, test and save ``<out>/<name>.safetensors`` + ``<out>/<name>.json``.

    ``progress(phase, done, total, values)`` is called after each batch (phase ``"train"``) and once
    at the end (``"test"``).
    """
    if epochs < 1 or batch_size < 1 or lr <= 0:
        raise ConfigError("epochs, batch size and learning rate must be positive")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    x_train, y_train, num_classes = load_uint8_split(dataset, "train", root, image_size)
    x_test, y_test, _ = load_uint8_split(dataset, "test", root, image_size)
    config = config or ClassifierConfig()
    config = ClassifierConfig(
        in_channels=int(x_train.shape[1]),
        image_size=int(x_train.shape[-1]),
        num_classes=num_classes,
        widths=config.widths,
        feature_dim=config.feature_dim,
        dropout=config.dropout,
    )
    model = SmallCNN(config)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps_per_epoch = -(-len(x_train) // batch_size)
    total = epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total)
    t0 = time.perf_counter()
    model.train()
    done = 0
    for _epoch in range(epochs):
        order = torch.randperm(len(x_train), generator=gen)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            x = random_shift(x_train[idx], shift, gen)
            _, logits = model(x)
            loss = F.cross_entropy(logits, y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            done += 1
            if progress is not None:
                progress("train", done, total, {"loss": float(loss.detach())})
    train_seconds = time.perf_counter() - t0
    test_acc = accuracy_of(model, x_test, y_test)
    if progress is not None:
        progress("test", 1, 1, {"accuracy": test_acc})
    info = {
        "dataset": dataset,
        "train_split": "train",
        "test_split": "test",
        "train_images": len(x_train),
        "test_images": len(x_test),
        "test_accuracy": test_acc,
        "seed": seed,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "shift": shift,
        "train_seconds": round(train_seconds, 1),
        "torch_version": torch.__version__,
        "command": command,
    }
    weights, meta = save_classifier(Path(out) / name, model, info)
    return TrainedClassifier(weights, meta, test_acc, train_seconds, info)
