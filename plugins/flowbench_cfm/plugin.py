"""Registration hooks of the built-in cfm plugin."""

from flowbench import hookimpl  # noqa: F401
