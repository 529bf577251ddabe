"""Registration hooks of the built-in vqvae plugin."""

from flowbench import hookimpl  # noqa: F401
