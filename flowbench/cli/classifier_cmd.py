"""``flowbench classifier``: train and test the small dataset classifier used for metrics.

The ``fmnist-classifier`` feature extractor ships weights made by::

    nice -n 10 flowbench classifier train --dataset fashion-mnist --out plugins/metrics/weights \\
        --name fmnist-classifier --seed 0 --epochs 3
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

__all__ = ["classifier"]


@click.group("classifier")
def classifier() -> None:
    """Train or test the small CNN classifier whose features serve FID/KID/PR on small datasets."""


@classifier.command("train")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Directory.")
@click.option("--name", default="classifier", show_default=True, help="File stem: NAME.safetensors + NAME.json.")
@click.option("--dataset", default="fashion-mnist", show_default=True, help="Registered dataset (train/test splits).")
@click.option("--root", default=None, help="Dataset directory (default: the dataset's own search).")
@click.option("--image-size", type=click.IntRange(min=4), default=None, help="Image side (default: the dataset's).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=3e-3, show_default=True)
def train(
    out: Path,
    name: str,
    dataset: str,
    root: str | None,
    image_size: int | None,
    seed: int,
    epochs: int,
    batch_size: int,
    lr: float,
) -> None:
    """Train on the train split, measure test accuracy, save weights (safetensors) and config (JSON)."""
    from flowbench.metrics.classifier_train import train_classifier

    console = Console(stderr=True)
    command = "flowbench " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("loading data", total=None, info="")

        def progress(phase: str, done: int, total: int, values: dict[str, float]) -> None:
            info = " ".join(f"{k} {v:.4f}" for k, v in values.items())
            bar.update(task, description=phase, completed=done, total=total, info=info)

        result = train_classifier(
            out,
            dataset=dataset,
            name=name,
            seed=seed,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            root=root,
            image_size=image_size,
            command=command,
            progress=progress,
        )
    click.echo(f"test accuracy {result.test_accuracy:.4f} ({result.info['test_images']} images)")
    click.echo(f"train time {result.train_seconds:.0f} s")
    click.echo(f"wrote {result.weights} and {result.config_path}")


@classifier.command("test")
@click.argument("weights", type=click.Path(path_type=Path))
@click.option("--dataset", default="fashion-mnist", show_default=True)
@click.option("--split", default="test", show_default=True)
@click.option("--root", default=None)
def test(weights: Path, dataset: str, split: str, root: str | None) -> None:
    """Accuracy of classifier WEIGHTS (.safetensors, JSON next to it) on a dataset split."""
    from flowbench.metrics.classifier import load_classifier
    from flowbench.metrics.classifier_train import accuracy_of, load_uint8_split

    loaded = load_classifier(weights)
    images, labels, _ = load_uint8_split(dataset, split, root, loaded.model.config.image_size)
    acc = accuracy_of(loaded.model, images, labels)
    click.echo(f"{dataset} {split}: accuracy {acc:.4f} on {len(labels)} images")


command = classifier
