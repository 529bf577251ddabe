"""Package discovery only; all other metadata is in pyproject.toml.

The built-in plugins live in ``plugins/`` and install as the subpackage ``flowbench.builtin`` (so that
no third-party top-level module can shadow them); setuptools' declarative ``packages.find`` cannot
rename a folder's packages, hence these few lines.
"""

from setuptools import find_packages, setup

BUILTIN = "flowbench.builtin"

setup(
    packages=[
        *find_packages(include=["flowbench", "flowbench.*"]),
        BUILTIN,
        *(f"{BUILTIN}.{name}" for name in find_packages("plugins")),
    ],
    package_dir={BUILTIN: "plugins"},
)
