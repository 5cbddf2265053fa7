"""Rescue of an instance that refuses writes (MISCONF) after its BGSAVE failed.

The public surface is what the rest of the package needs:

- ``finish_interrupted_rescues``: put back the settings a rescue killed half-way left lifted
  (the first step of every command that may write);
- ``rescue_target``: rescue one instance (lift the write block, free memory by policy, prove a
  BGSAVE succeeds, revert the settings), returning an ``InstanceRescue``;
- ``MisconfHandling``: the gate ``run`` and ``serve`` pass each instance through before acting.

Inside: ``procedure`` (the steps in order), ``steps`` (each Redis step), ``free`` (policy freeing
a round at a time), ``revert`` (putting settings back), ``diagnosis`` (why the save failed),
``advice`` and ``outcome`` (what is left to do), ``result`` (the JSON document). Nothing here
prints: rendering is in ``janitor.cli.render.rescue``.
"""

from janitor.app.rescue.gate import MisconfHandling
from janitor.app.rescue.run import InstanceRescue, finish_interrupted_rescues, rescue_target

__all__ = ["InstanceRescue", "MisconfHandling", "finish_interrupted_rescues", "rescue_target"]
