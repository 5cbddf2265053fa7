"""Beneath everything: exit codes and errors, sizes and durations, logging, key names."""
