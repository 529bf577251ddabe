"""flowbench built-in plugin: vfm."""
