"""Use cases: report, headroom, run (cleanup), rescue, restore and serve.

Each command is a thin function over the one per-instance loop (``instance_loop``); results
are plain documents and exit codes (``exit_codes``); nothing here prints.
"""
