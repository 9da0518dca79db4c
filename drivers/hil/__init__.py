"""Hardware-in-the-loop harness: pytest plugin, environment files, scenario runner."""
