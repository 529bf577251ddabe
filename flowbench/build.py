"""Build components from configuration through the registries.

These helpers are the one place where names become objects; every command uses them, so an
unknown name, a bad option or an incompatible pairing fails the same way everywhere (a
:class:`~flowbench.errors.FlowbenchError` with one clear line).
"""

from __future__ import annotations

import inspect
from typing import Any

from flowbench.config import ComponentConfig, sampler_name
from flowbench.errors import ConfigError
from flowbench.interfaces import (
    Backbone,
    BackboneSpec,
    FeatureExtractor,
    ImageDataset,
    Objective,
    Sampler,
    Tokenizer,
)
from flowbench.plugins import registry

__all__ = [
    "create",
    "check_options",
    "build_tokenizer",
    "build_dataset",
    "build_objective",
    "build_backbone",
    "build_sampler",
    "build_feature_extractor",
]


def check_options(kind: str, name: str, factory: Any, options: dict[str, Any]) -> None:
    """Raise :class:`ConfigError` for an option ``factory``'s signature does not take (a factory with
    ``**options``, or without a signature, takes anything)."""
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):  # builtins without a signature
        return
    params = sig.parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return
    allowed = [
        p.name for p in params if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    for key in options:
        if key not in allowed:
            raise ConfigError(
                f"{kind.replace('_', ' ')} {name!r} has no option {key!r}; options: {', '.join(allowed) or '(none)'}"
            )


_check_options = check_options  # the old private name, still imported by bench/spec.py (until its refactor)


def create(kind: str, name: str, *args: Any, **options: Any) -> Any:
    """Look ``name`` up in the ``kind`` registry and call its factory with ``args``/``options``.

    Unknown option names raise :class:`ConfigError` listing the factory's options.
    """
    entry = registry(kind).get(name)
    check_options(kind, entry.name, entry.factory, options)
    return entry.factory(*args, **options)


def build_tokenizer(cfg: ComponentConfig, checkpoint: str | None = None) -> Tokenizer:
    return create("tokenizer", cfg.name, checkpoint=checkpoint, **cfg.options)


def build_dataset(
    name: str, split: str, root: str | None = None, image_size: int | None = None, **options: Any
) -> ImageDataset:
    return create("dataset", name, split, root=root, image_size=image_size, **options)


def build_objective(cfg: ComponentConfig, codebook: Any) -> Objective:
    if not cfg.name:
        names = ", ".join(registry("objective").names())
        raise ConfigError(f"no objective given; pass --objective NAME (choices: {names})")
    return create("objective", cfg.name, codebook, **cfg.options)


def build_backbone(cfg: ComponentConfig, spec: BackboneSpec) -> Backbone:
    return create("backbone", cfg.name, spec, **cfg.options)


def build_sampler(name: str | None, objective: Objective, objective_name: str = "", **options: Any) -> Sampler:
    """The sampler ``name`` (or the objective's default), checked against the objective's state."""
    name = sampler_name(name, objective)
    sampler: Sampler = create("sampler", name, **options)
    sampler.check_compatible(objective, sampler_name=name, objective_name=objective_name)
    return sampler


def build_feature_extractor(name: str, **options: Any) -> FeatureExtractor:
    return create("feature_extractor", name, **options)
