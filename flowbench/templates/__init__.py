"""Templates of ``flowbench new-plugin``: one ``*.txt`` file per generated file (see
:mod:`flowbench.cli.new_plugin_cmd`). Placeholders are :class:`string.Template` names
(``$name``, ``$module``, ``$class_name`` ...)."""
