"""``flowbench tokenize``: encode a dataset split once into a token cache (see :mod:`flowbench.tokens`)."""

from __future__ import annotations

import click

from flowbench.build import build_dataset, create
from flowbench.cli.tokenizer_cmd import parse_options
from flowbench.tokens import TokenDataset, build_token_cache, ensure_token_cache

__all__ = ["command"]


@click.command("tokenize")
@click.option("--dataset", default="fashion-mnist", show_default=True, help="Registered dataset.")
@click.option("--split", default="train", show_default=True)
@click.option("--root", default=None, help="Dataset root directory.")
@click.option("--image-size", type=click.IntRange(min=1), default=None, help="Default: the tokenizer's.")
@click.option("--tokenizer", "tokenizer_name", default="vqvae", show_default=True, help="Registered tokenizer.")
@click.option("--tokenizer-checkpoint", default=None, help="Local checkpoint path (default: the tokenizer's own).")
@click.option("-o", "--option", "options", multiple=True, help="Tokenizer option NAME=VALUE (repeatable).")
@click.option(
    "--out",
    default=None,
    type=click.Path(file_okay=False),
    help="Cache directory (default: keyed under $FLOWBENCH_CACHE/tokens or ~/.cache/flowbench/tokens).",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True)
@click.option("--shard-size", type=click.IntRange(min=1), default=10_000, show_default=True)
@click.option("--num-workers", type=click.IntRange(min=0), default=0, show_default=True, help="Image loader processes.")
def tokenize(
    dataset: str,
    split: str,
    root: str | None,
    image_size: int | None,
    tokenizer_name: str,
    tokenizer_checkpoint: str | None,
    options: tuple[str, ...],
    out: str | None,
    batch_size: int,
    shard_size: int,
    num_workers: int,
) -> None:
    """Encode a dataset split with a tokenizer into sharded index arrays + manifest.json.

    Rerunning resumes an interrupted build (finished shards are kept).
    """
    tok = create("tokenizer", tokenizer_name, checkpoint=tokenizer_checkpoint, **parse_options(options))
    if out is None:
        path = ensure_token_cache(
            dataset,
            split,
            tok,
            tokenizer_name,
            root=root,
            image_size=image_size,
            batch_size=batch_size,
            num_workers=num_workers,
        )
    else:
        data = build_dataset(dataset, split, root=root, image_size=image_size or tok.image_size)
        path = build_token_cache(
            data,
            tok,
            out,
            dataset_name=dataset,
            tokenizer_name=tokenizer_name,
            split=split,
            batch_size=batch_size,
            shard_size=shard_size,
            num_workers=num_workers,
        )
    cache = TokenDataset(path)
    h, w = cache.grid_shape
    click.echo(f"{len(cache)} images of {dataset}/{split} as {h}x{w} codes (K={cache.codebook_size}) in {path}")


command = tokenize
