"""Pure logic: key records, policy, planner, aggregates, the headroom model, /proc parsers.

Nothing here does I/O or imports redis, hiredis, click or rich (import-linter checks it);
every function takes plain data and returns plain data, so it is tested without a server.
"""
