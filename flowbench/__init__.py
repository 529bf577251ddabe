"""flowbench: compare generative objectives on vector-quantized image latents.

The core engine defines four interfaces (:mod:`flowbench.interfaces`): tokenizer, backbone,
objective and sampler. Everything concrete (Purrception VFM, CFM, DFM, the DiT family, datasets,
tokenizers, feature extractors) is a plugin registered through pluggy's ``flowbench`` entry-point
group, exactly as a third-party package would be.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("flowbench")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

from flowbench.hookspecs import hookimpl  # noqa: E402

__all__ = ["__version__", "hookimpl"]
