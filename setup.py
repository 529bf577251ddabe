"""Package discovery only; all other metadata is in pyproject.toml.

The built-in plugins live in ``plugins/`` and install as the subpackage ``flowbench.builtin`` (so that
no third-party top-level module can shadow them); setuptools' declarative ``packages.find`` cannot
rename a folder's packages, hence these few lines. Folders without ``__init__.py`` (the shipped
``weights/``) are listed as namespace packages so that their data files are installed as package data.
"""

from setuptools import find_namespace_packages, find_packages, setup

BUILTIN = "flowbench.builtin"

setup(
    packages=[
        *find_packages(include=["flowbench", "flowbench.*"]),
        BUILTIN,
        *(f"{BUILTIN}.{name}" for name in find_namespace_packages("plugins", exclude=["*__pycache__*"])),
    ],
    package_dir={BUILTIN: "plugins"},
)
