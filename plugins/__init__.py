"""flowbench's built-in plugins, importable as ``flowbench.builtin.<name>`` (this folder is mapped to
that package in ``pyproject.toml``).

They live under flowbench's own package namespace so that no third-party distribution can shadow
them: a package named ``flowbench_metrics`` on ``sys.path`` is just another plugin. Each subpackage
is registered through the ``flowbench`` entry-point group, exactly as a third party's plugin is.
"""
