"""redis-janitor: keeps Redis able to BGSAVE by cleaning up stale big keys before the fork fails."""

__version__ = "0.1.0"
