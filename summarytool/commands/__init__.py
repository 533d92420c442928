"""The `summarytool` sub-commands about models: `summary` and `diff`."""
