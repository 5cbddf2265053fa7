"""The ``redis-janitor`` command line: click commands, rendering, exit-code mapping.

The edge of the package: nothing else imports it. ``main`` is the console-script entry point.
"""
