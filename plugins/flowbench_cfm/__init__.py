"""flowbench built-in plugin: cfm."""
