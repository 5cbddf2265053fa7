"""The only code that talks to the outside: Redis, /proc and /sys, files, systemd, Prometheus."""
