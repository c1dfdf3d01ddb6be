"""A small open-loop HTTP/1.1 load generator (keep-alive, pre-built requests).

Requests are scheduled at a fixed rate and latency is measured from the *scheduled* time, so
a server that falls behind shows it in the tail (no coordinated omission). Far cheaper per
request than an HTTP client library, so the 2-core machine's time goes to the server.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass
class Result:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    errors: int = 0

    @property
    def rps(self) -> float:
        return len(self.latencies_ms) / self.elapsed_s if self.elapsed_s else 0.0

    def pct(self, p: float) -> float:
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, int(len(data) * p / 100))] if data else float("nan")

    def summary(self) -> str:
        return (f"{len(self.latencies_ms)} requests in {self.elapsed_s:.1f} s = "
                f"{self.rps:,.0f} req/s; p50 {self.pct(50):.1f} ms, p99 {self.pct(99):.1f} ms, "
                f"max {max(self.latencies_ms, default=0):.1f} ms; statuses {self.statuses}"
                + (f"; {self.errors} connection errors" if self.errors else ""))


def request(method: str, path: str, host: str, body: bytes = b"",
            headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: keep-alive"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def run(host: str, port: int, requests: list[bytes], *, rate: float | None,
              connections: int) -> Result:
    """Send ``requests`` over ``connections`` keep-alive connections; ``rate`` per second,
    or as fast as the server answers when None (closed loop)."""
    result = Result()
    queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
    start = time.perf_counter() + 0.2
    for i, req in enumerate(requests):
        queue.put_nowait((start + i / rate if rate else 0.0, req))
    for _ in range(connections):
        queue.put_nowait(None)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while (item := await queue.get()) is not None:
                scheduled, req = item
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                sent = scheduled if rate else time.perf_counter()
                try:
                    writer.write(req)
                    status = await _read_response(reader)
                except (OSError, asyncio.IncompleteReadError):
                    result.errors += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                    continue
                result.latencies_ms.append((time.perf_counter() - sent) * 1000)
                result.statuses[status] = result.statuses.get(status, 0) + 1
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(connections)])
    result.elapsed_s = time.perf_counter() - max(began, start)
    return result
