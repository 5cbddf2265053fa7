"""Allows ``python -m janitor``."""

from janitor.cli.main import main

main()
