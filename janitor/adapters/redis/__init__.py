"""Redis: connections, the raw pipelined scan, INFO reads, the lock and the key actions."""
