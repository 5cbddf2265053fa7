"""Read the samples the CPU budget needs from a live server (the I/O side of cpu_budget)."""

from __future__ import annotations

import redis

from janitor.domain.cpu_budget import ServerSample, server_sample


class ServerSampler:
    """Reads ``INFO cpu`` and ``INFO commandstats`` in one round trip where Redis allows it."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._one_call = True

    def read(self) -> ServerSample:
        """Return the server's main-thread CPU and other clients' calls so far."""
        if self._one_call:
            try:
                return server_sample(self._client.info("cpu", "commandstats"))
            except redis.ResponseError:
                self._one_call = False  # Redis < 7 takes one section per INFO
        info = dict(self._client.info("cpu"))
        info.update(self._client.info("commandstats"))
        return server_sample(info)
