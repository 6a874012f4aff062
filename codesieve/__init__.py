"""codesieve: the one `codesieve` command that fronts the gateway, dedup, training and experiments packages."""
