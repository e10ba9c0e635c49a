"""A fast loopback server that speaks A1D's and Claid's API shapes, for the benchmark.

Run by ``bench/run.py`` in its own process: ``python bench/server.py`` prints the port it listens
on, then serves until its standard input closes. Work is trivial (each task just becomes final
after its duration) so what is measured is the client. It counts, per task, the status requests
(polls and stream opens) and records when the task finished and when its output download started:
the gap is the client's completion-detection latency, measured on one clock.

Shapes (see the plugins and docs/PROVIDERS):
- A1D: ``POST /api/<operation>`` -> ``{"taskId"}``; ``GET /api/task/<id>`` (poll) and
  ``GET /api/task/<id>/sse`` (Server-Sent Events: one PROCESSING event, then FINISHED).
- Claid: ``POST /v1/image/edit/async`` -> ``{"data": {"id", "status", "result_url"}}``;
  ``GET /v1/image/edit/async/<id>`` (poll). No rate-limit headers: the windows are off.
- Outputs: ``GET /files/<id>`` (a tiny PNG, or ``output_bytes`` bytes when configured).
- Control: ``POST /_bench/config`` (JSON: ``mean``, ``jitter``, ``output_bytes``, ``seed``)
  starts a new run; ``GET /_bench/stats`` answers the counters, ``GET /_bench/progress`` only
  the two that tell whether a client is still moving.

Plain asyncio on raw sockets (HTTP/1.1, keep-alive, Content-Length or chunked request bodies):
it has to hold 10,000 connections and answer fast; a framework would make the server the
bottleneck.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import struct
import sys
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

_CHUNK = b"\0" * (1 << 20)


def tiny_png() -> bytes:
    """A valid 1x1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0\0\0\0")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


PNG = tiny_png()


@dataclass
class Task:
    """One task's life, on the server's monotonic clock."""

    shape: str
    created: float
    finish_at: float
    status_requests: int = 0
    first_final_answer: float | None = None
    download_started: float | None = None
    download_ended: float | None = None


@dataclass
class Run:
    """One benchmark run's settings and counters; replaced by each ``/_bench/config``."""

    mean: float = 1.0
    jitter: float = 0.0
    output_bytes: int = 0
    rng: random.Random = field(default_factory=random.Random)
    tasks: dict[str, Task] = field(default_factory=dict)
    requests: int = 0
    downloaded: int = 0
    connections: int = 0
    open_connections: int = 0
    peak_connections: int = 0

    def new_task(self, shape: str) -> str:
        duration = self.mean * (1 + self.rng.uniform(-self.jitter, self.jitter))
        now = time.monotonic()
        task_id = str(len(self.tasks) + 1)
        self.tasks[task_id] = Task(shape, now, now + max(duration, 0.0))
        return task_id

    def stats(self) -> dict[str, Any]:
        tasks = self.tasks.values()
        detect = [t.download_started - t.finish_at for t in tasks if t.download_started is not None]
        first_answer = [
            t.first_final_answer - t.finish_at for t in tasks if t.first_final_answer is not None
        ]
        downloads = [
            (t.download_ended - t.download_started)
            for t in tasks
            if t.download_started is not None and t.download_ended is not None
        ]
        ends = [t.download_ended for t in tasks if t.download_ended is not None]
        return {
            "tasks": len(self.tasks),
            "downloaded": len(ends),
            "span": max(ends) - min(t.created for t in tasks) if ends else None,
            "status_requests": sum(t.status_requests for t in tasks),
            "requests": self.requests,
            "connections": self.connections,
            "peak_connections": self.peak_connections,
            "detect": detect,
            "first_final_answer": first_answer,
            "download_seconds": downloads,
            "output_bytes": self.output_bytes,
            "durations": [t.finish_at - t.created for t in tasks],  # in submit order
        }


class Server:
    """The HTTP handling: one coroutine per connection, requests answered in order."""

    def __init__(self) -> None:
        self.run = Run()

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        run = self.run
        run.connections += 1
        run.open_connections += 1
        run.peak_connections = max(run.peak_connections, run.open_connections)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                if "chunked" in headers.get("transfer-encoding", "").lower():
                    body = await read_chunked(reader)
                else:
                    length = int(headers.get("content-length") or 0)
                    body = await reader.readexactly(length) if length else b""
                if not target.startswith("/_bench/"):  # the harness's own calls are no progress
                    self.run.requests += 1
                host = headers.get("host", "127.0.0.1")
                keep = await self.answer(method, target.split("?")[0], body, host, writer)
                if not keep or headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            run.open_connections -= 1
            writer.close()

    async def answer(
        self, method: str, path: str, body: bytes, host: str, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; False when the connection must close after it."""
        run = self.run
        base = f"http://{host}"
        parts = path.strip("/").split("/")
        if method == "POST" and path == "/_bench/config":
            config = json.loads(body or b"{}")
            self.run = Run(
                mean=float(config.get("mean", 1.0)),
                jitter=float(config.get("jitter", 0.0)),
                output_bytes=int(config.get("output_bytes", 0)),
                rng=random.Random(config.get("seed", 1)),
            )
            return await send_json(writer, {"ok": True})
        if method == "GET" and path == "/_bench/progress":
            return await send_json(writer, {"requests": run.requests, "downloaded": run.downloaded})
        if method == "GET" and path == "/_bench/stats":
            return await send_json(writer, run.stats())
        if method == "POST" and parts[:1] == ["api"] and len(parts) == 2:
            return await send_json(writer, {"taskId": run.new_task("a1d")})
        if method == "POST" and path == "/v1/image/edit/async":
            task_id = run.new_task("claid")
            data = {
                "id": int(task_id),
                "status": "ACCEPTED",
                "result_url": f"{base}/v1/image/edit/async/{task_id}",
            }
            return await send_json(writer, {"data": data})
        if method == "GET" and parts[:2] == ["api", "task"] and len(parts) in (3, 4):
            task = run.tasks.get(parts[2])
            if task is None:
                return await send_json(writer, {"error": "not found"}, 404)
            task.status_requests += 1
            if len(parts) == 4 and parts[3] == "sse":
                await self.stream(task, parts[2], base, writer)
                return False
            return await send_json(writer, self.a1d_state(task, parts[2], base))
        if method == "GET" and parts[:4] == ["v1", "image", "edit", "async"] and len(parts) == 5:
            task = run.tasks.get(parts[4])
            if task is None:
                return await send_json(writer, {"error": "not found"}, 404)
            task.status_requests += 1
            return await send_json(writer, {"data": self.claid_state(task, parts[4], base)})
        if method == "GET" and parts[:1] == ["files"] and len(parts) == 2:
            return await self.download(run.tasks.get(parts[1].split(".")[0]), writer)
        return await send_json(writer, {"error": f"no route {method} {path}"}, 404)

    def final(self, task: Task) -> bool:
        now = time.monotonic()
        if now < task.finish_at:
            return False
        if task.first_final_answer is None:
            task.first_final_answer = now
        return True

    def a1d_state(self, task: Task, task_id: str, base: str) -> dict[str, Any]:
        if not self.final(task):
            return {"taskId": task_id, "status": "PROCESSING", "progress": 50}
        return {
            "taskId": task_id,
            "status": "FINISHED",
            "imageUrl": f"{base}/files/{task_id}.png",
            "mimeType": "image/png",
        }

    def claid_state(self, task: Task, task_id: str, base: str) -> dict[str, Any]:
        if not self.final(task):
            return {"id": int(task_id), "status": "PROCESSING"}
        output = {"tmp_url": f"{base}/files/{task_id}.png", "mime": "image/png"}
        return {"id": int(task_id), "status": "DONE", "result": {"output_object": output}}

    async def stream(
        self, task: Task, task_id: str, base: str, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"Connection: close\r\n\r\n"
        )
        if time.monotonic() < task.finish_at:
            writer.write(event({"taskId": task_id, "status": "PROCESSING", "progress": 50}))
            await writer.drain()
            await asyncio.sleep(task.finish_at - time.monotonic())
        writer.write(event(self.a1d_state(task, task_id, base)))
        await writer.drain()

    async def download(self, task: Task | None, writer: asyncio.StreamWriter) -> bool:
        if task is None:
            return await send_json(writer, {"error": "not found"}, 404)
        if task.download_started is None:
            task.download_started = time.monotonic()
        size = self.run.output_bytes
        if not size:
            await send(writer, 200, PNG, "image/png")
            self.finish_download(task)
            return True
        writer.write(
            f"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {size}\r\n\r\n".encode()
        )
        left = size
        while left > 0:
            piece = _CHUNK[: min(left, len(_CHUNK))]
            writer.write(piece)
            left -= len(piece)
            await writer.drain()
        self.finish_download(task)
        return True

    def finish_download(self, task: Task) -> None:
        if task.download_ended is None:
            self.run.downloaded += 1
        task.download_ended = time.monotonic()


async def read_chunked(reader: asyncio.StreamReader) -> bytes:
    """A request body sent with ``Transfer-Encoding: chunked`` (trailers are skipped)."""
    pieces = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
            return b"".join(pieces)
        pieces.append(await reader.readexactly(size))
        await reader.readexactly(2)


def event(payload: dict[str, Any]) -> bytes:
    """One Server-Sent Event carrying ``payload`` as JSON."""
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


async def send(writer: asyncio.StreamWriter, status: int, body: bytes, content_type: str) -> bool:
    """Write one response with a Content-Length body; True (the connection stays open)."""
    reason = {200: "OK", 404: "Not Found"}.get(status, "Status")
    writer.write(
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    return True


async def send_json(writer: asyncio.StreamWriter, payload: object, status: int = 200) -> bool:
    """Write a JSON response."""
    return await send(writer, status, json.dumps(payload).encode(), "application/json")


def raise_open_files_limit() -> int:
    """Raise this process's descriptor limit to its hard limit (10,000 sockets need it)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


async def main() -> None:
    raise_open_files_limit()
    server = Server()
    listener = await asyncio.start_server(
        server.connection, "127.0.0.1", 0, backlog=16384, limit=1 << 16
    )
    port = listener.sockets[0].getsockname()[1]
    print(port, flush=True)
    loop = asyncio.get_running_loop()
    # Serve until the parent closes our stdin (or dies).
    await loop.run_in_executor(None, sys.stdin.read)
    # Nothing to clean up, and cancelling thousands of open connections would only print noise.
    os._exit(0)


if __name__ == "__main__":
    asyncio.run(main())
