"""Hook specifications: how a plugin adds components to flowbench.

Each kind of component has one registration hook, in the ``register(name, factory)`` style of
simonw/llm. A plugin module implements any of them with :data:`hookimpl`::

    from flowbench import hookimpl

    @hookimpl
    def register_objectives(register):
        register("my-objective", MyObjective, aliases=("mine",))

``register(name, factory, aliases=(), description=None)`` records ``factory`` (a class or callable)
under ``name``. What each factory is called with is documented in :mod:`flowbench.interfaces` and in
``docs/plugins.md``.
"""

from __future__ import annotations

import pluggy

__all__ = ["hookspec", "hookimpl", "PROJECT_NAME"]

PROJECT_NAME = "flowbench"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_objectives(register):
    """Register training objectives.

    Args:
        register: ``register(name, factory, aliases=(), description=None)``. ``factory(codebook,
            **options)`` returns a :class:`flowbench.interfaces.Objective`; ``codebook`` is the
            tokenizer's (K, D) embedding table.
    """


@hookspec
def register_backbones(register):
    """Register backbone networks.

    Args:
        register: ``register(name, factory, aliases=(), description=None)``. ``factory(spec,
            **options)`` returns a :class:`flowbench.interfaces.Backbone` built for the
            :class:`flowbench.interfaces.BackboneSpec` an objective asked for.
    """


@hookspec
def register_tokenizers(register):
    """Register VQ tokenizers.

    Args:
        register: ``register(name, factory, aliases=(), description=None)``. ``factory(checkpoint=None,
            **options)`` returns a :class:`flowbench.interfaces.Tokenizer`; ``checkpoint`` is a local
            path (or None for a shipped/random default).
    """


@hookspec
def register_samplers(register):
    """Register samplers (ODE solvers for continuous states, jump samplers for token states).

    Args:
        register: ``register(name, factory, aliases=(), description=None)``. ``factory(**options)``
            returns a :class:`flowbench.interfaces.Sampler`.
    """


@hookspec
def register_datasets(register):
    """Register image datasets.

    Args:
        register: ``register(name, factory, aliases=(), description=None)``. ``factory(split,
            root=None, image_size=None, **options)`` returns a
            :class:`flowbench.interfaces.ImageDataset`.
    """


@hookspec
def register_feature_extractors(register):
    """Register feature extractors for FID/KID/precision/recall.

    Args:
        register: ``register(name, factory, aliases=(), description=None)``. ``factory(**options)``
            returns a :class:`flowbench.interfaces.FeatureExtractor`.
    """


@hookspec
def register_evaluators(register):
    """Register evaluators, called by the training engine every ``eval.every`` steps.

    Args:
        register: ``register(name, factory, aliases=(), description=None)``. ``factory(config,
            **options)`` returns a :class:`flowbench.interfaces.Evaluator`.
    """


@hookspec
def register_commands(cli):
    """Add commands to the ``flowbench`` command line.

    Args:
        cli: the top-level :class:`click.Group`; call ``cli.add_command(cmd)``.
    """
