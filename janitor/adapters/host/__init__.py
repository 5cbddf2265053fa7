"""This host: memory accounting and process memory from /proc, and whether a Redis is local."""
