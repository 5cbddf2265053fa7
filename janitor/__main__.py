"""Allows ``python -m janitor``."""

from janitor.cli import main

main()
