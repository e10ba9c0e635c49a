"""Benchmarks: print a table of how fast the core's hot paths are on this machine.

Run with ``make bench``. Numbers are wall-clock on whatever else the machine is doing: compare
runs on one machine, not across machines.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

import trio

from mediatask import Job, PollPolicy
from mediatask.api import open_client
from mediatask.plugins import PluginManager
from mediatask.sandbox import open_sandbox
from mediatask.sse import Decoder, encode_event

SAMPLE = Path(__file__).parent.parent / "samples" / "lighthouse.png"


def timed(function: Callable[[], object], repeat: int = 3) -> float:
    """The best of ``repeat`` wall-clock runs, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def bench_sse(chunk: int) -> tuple[str, str]:
    """Decode ~20 MB of A1D-like events fed in ``chunk``-byte pieces."""
    event = encode_event(
        json.dumps({"taskId": "task_abc123", "status": "PROCESSING", "progress": 50})
    )
    stream = event * (20_000_000 // len(event))
    pieces = [stream[i : i + chunk] for i in range(0, len(stream), chunk)]

    def decode() -> None:
        decoder = Decoder()
        for piece in pieces:
            decoder.feed(piece)

    seconds = timed(decode)
    events = len(stream) // len(event)
    return (
        f"SSE decode, {chunk}-byte chunks",
        f"{len(stream) / seconds / 1e6:.0f} MB/s, {events / seconds / 1e3:.0f}k events/s",
    )


async def bench_tasks(count: int, concurrency: int) -> tuple[str, str]:
    """Run ``count`` A1D upscales through the engine against the in-process emulator."""
    plugins = PluginManager.from_entry_points(selected="a1d")
    async with open_sandbox(plugins, ["a1d"]) as box:
        box.emulators["a1d"].faults.processing_seconds = 0.0
        async with open_client(
            plugins=plugins,
            settings=_settings(box),
            file_host=box.file_host,
            polling=PollPolicy(initial=0.05, maximum=0.2),
        ) as client:
            limiter = trio.Semaphore(concurrency)
            start = trio.current_time()

            async def one(index: int) -> None:
                async with limiter:
                    job = Job("a1d", "image-upscaler", [str(SAMPLE)], {"scale": 2})
                    await client.run(job)

            async with trio.open_nursery() as nursery:
                for index in range(count):
                    nursery.start_soon(one, index)
            seconds = trio.current_time() - start
    return (
        f"{count} tasks end to end, {concurrency} at once (emulator, 0 s work)",
        f"{count / seconds:.1f} tasks/s",
    )


async def bench_rate_limits(count: int) -> tuple[str, str]:
    """``count`` Claid edits (local files: one upload request each) at once against the
    emulator's default limits (4/s, 120/min): how near the per-second window's floor we get."""
    plugins = PluginManager.from_entry_points(selected="claid")
    async with open_sandbox(plugins, ["claid"]) as box:
        claid = box.emulators["claid"]
        claid.faults.processing_seconds = 0.0
        async with open_client(
            plugins=plugins, settings=_settings(box), file_host=box.file_host
        ) as client:
            start = trio.current_time()
            async with trio.open_nursery() as nursery:
                for _ in range(count):
                    job = Job("claid", "edit", [str(SAMPLE)], {"operations.resizing.width": "64"})
                    nursery.start_soon(client.run, job)
            seconds = trio.current_time() - start
    requests, refused = claid.stats["requests"], claid.stats.get("rate_limited", 0)
    floor = (requests - 4) / 4  # the first four go at once
    return (
        f"{count} Claid uploads under 4/s + 120/min",
        f"{requests} requests in {seconds:.1f} s (floor {floor:.1f} s), {refused} 429s",
    )


def _settings(box: object) -> object:
    from mediatask.config import Settings

    return Settings(overrides=box.settings, environ={})  # type: ignore[attr-defined]


def main() -> None:
    """Run every benchmark and print the table."""
    rows = [bench_sse(chunk) for chunk in (64, 4096, 65536)]
    rows.append(trio.run(bench_tasks, 100, 16))
    rows.append(trio.run(bench_rate_limits, 60))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows.append(("peak resident memory of this process", f"{peak:.0f} MiB"))
    width = max(len(name) for name, _ in rows)
    print(f"{'benchmark':<{width}}  result")
    print(f"{'-' * width}  ------")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(f"python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
