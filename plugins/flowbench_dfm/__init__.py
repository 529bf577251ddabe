"""flowbench built-in plugin: dfm."""
