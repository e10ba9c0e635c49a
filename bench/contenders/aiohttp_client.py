"""Contender: a plain asyncio + aiohttp script, as a careful user would write one.

Submits, follows each task by Server-Sent Events (A1D) or by polling every INTERVAL seconds, and
downloads the output; COUNT jobs with at most CONCURRENCY in flight.

Usage: aiohttp_client.py SHAPE sse|poll INTERVAL COUNT CONCURRENCY OUT_DIR BASE_URL
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import aiohttp
from common import raise_open_files_limit, report, rss_kib, submit_request

KEY_HEADER = {"a1d": "KEY bench", "claid": "Bearer bench"}


async def follow_stream(session: aiohttp.ClientSession, base: str, task_id: str) -> str:
    """The output URL, from the task's event stream."""
    async with session.get(f"{base}/api/task/{task_id}/sse") as answer:
        async for line in answer.content:
            if line.startswith(b"data:"):
                state = json.loads(line[5:])
                if state["status"] == "FINISHED":
                    return str(state["imageUrl"])
                if state["status"] in ("FAILED", "ERROR"):
                    raise RuntimeError(f"task {task_id} failed")
    raise RuntimeError(f"the stream of task {task_id} ended before the task")


async def follow_polls(
    session: aiohttp.ClientSession, shape: str, status_url: str, interval: float
) -> str:
    """The output URL, polling every ``interval`` seconds."""
    while True:
        await asyncio.sleep(interval)
        async with session.get(status_url) as answer:
            state: dict[str, Any] = await answer.json()
        if shape == "a1d" and state["status"] == "FINISHED":
            return str(state["imageUrl"])
        if shape == "claid" and state["data"]["status"] == "DONE":
            return str(state["data"]["result"]["output_object"]["tmp_url"])


async def one(
    session: aiohttp.ClientSession,
    limit: asyncio.Semaphore,
    index: int,
    args: tuple[str, str, float, Path, str],
) -> None:
    shape, mode, interval, out_dir, base = args
    async with limit:
        url, body = submit_request(shape, base)
        async with session.post(url, json=body) as answer:
            submitted = await answer.json()
        if shape == "a1d":
            task_id = str(submitted["taskId"])
            if mode == "sse":
                result_url = await follow_stream(session, base, task_id)
            else:
                result_url = await follow_polls(
                    session, shape, f"{base}/api/task/{task_id}", interval
                )
        else:
            result_url = await follow_polls(
                session, shape, submitted["data"]["result_url"], interval
            )
        async with session.get(result_url) as answer:
            with (out_dir / f"{index}.png").open("wb") as file:
                async for chunk in answer.content.iter_chunked(256 * 1024):
                    file.write(chunk)


async def main() -> None:
    shape, mode, interval = sys.argv[1], sys.argv[2], float(sys.argv[3])
    count, concurrency = int(sys.argv[4]), int(sys.argv[5])
    out_dir, base = Path(sys.argv[6]), sys.argv[7]
    out_dir.mkdir(parents=True, exist_ok=True)
    raise_open_files_limit()
    before = rss_kib()
    limit = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=0)  # the semaphore bounds the jobs in flight
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30)
    headers = {"Authorization": KEY_HEADER[shape]}
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers) as s:
        results = await asyncio.gather(
            *(one(s, limit, i, (shape, mode, interval, out_dir, base)) for i in range(count)),
            return_exceptions=True,
        )
    errors = [f"{type(r).__name__}: {r}"[:200] for r in results if isinstance(r, BaseException)]
    report(ok=count - len(errors), rss_before_kib=before, errors=errors[:3])


if __name__ == "__main__":
    asyncio.run(main())
