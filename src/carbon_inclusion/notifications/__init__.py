"""Live notifications: ``service`` (the Redis fan-out) and ``routes`` (the SSE stream)."""
