"""Settings: TOML, ``JANITOR_*`` environment, secret files and CLI overrides, validated."""
