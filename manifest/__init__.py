"""The Teams app package (manifest template, icons, the package command)."""
