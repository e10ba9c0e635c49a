"""Scratch measurements of the transport (not a test; bench/ holds the real benchmark).

    .venv/bin/python tests/http/measure_transport.py [small|download|engine] [h11|curl]

``small``: 2,000 small GETs, 200 at once, against a loopback server in another process; prints
wall time and this process's CPU time. ``download``: one 256 MB download read to the end;
prints throughput and the growth of peak RSS. ``engine``: 1,000 A1D jobs of 1 s at once
(``Client.run``: submit, SSE, download) against the emulator. The server runs in its own
process so only the client's CPU is counted.
"""

from __future__ import annotations

import multiprocessing
import resource
import subprocess
import sys
import time
from typing import Any

import trio

from mediatask.http.http11 import Http11Transport
from mediatask.http.messages import Request

SMALL = b'{"status":"PROCESSING","progress":42}'
BIG = 256 * 1024 * 1024
PIECE = b"\0" * (1024 * 1024)


async def _serve(ready: Any) -> None:
    async def handle(stream: trio.SocketStream) -> None:
        buffer = b""
        while True:
            while b"\r\n\r\n" not in buffer:
                data = await stream.receive_some(65536)
                if not data:
                    return
                buffer += data
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            if b" /big " in head:
                await stream.send_all(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % BIG)
                for _ in range(BIG // len(PIECE)):
                    await stream.send_all(PIECE)
            else:
                await stream.send_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b"content-length: %d\r\n\r\n%s" % (len(SMALL), SMALL)
                )

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1", backlog=1024)
    ready.send(listeners[0].socket.getsockname()[1])
    await trio.serve_listeners(handle, listeners)


def _server(ready: Any) -> None:
    trio.run(_serve, ready)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def small(transport: Any, url: str) -> None:
    limit = trio.Semaphore(200)

    async def one() -> None:
        async with limit:
            response = await transport.send(Request("GET", url + "/task"))
            assert response.body == SMALL

    async with trio.open_nursery() as nursery:
        for _ in range(2000):
            nursery.start_soon(one)


async def download(transport: Any, url: str) -> None:
    got = 0
    async with transport.open_stream(Request("GET", url + "/big")) as body:
        while chunk := await body.read(256 * 1024):
            got += len(chunk)
    assert got == BIG


def engine(contender: str) -> None:
    """1,000 jobs at once through the engine; prints wall and client CPU per task."""
    import tempfile
    from pathlib import Path

    from mediatask import Client, Job
    from mediatask.settings.config import Settings
    from mediatask.testing import standalone_emulator

    async def run(base_url: str, out: Path) -> None:
        transport = Http11Transport()
        settings = Settings(environ={"MEDIATASK_A1D_BASE_URL": base_url, "MEDIATASK_A1D_KEY": "k"})
        client = Client(settings=settings, transport=transport)
        async with client, trio.open_nursery() as nursery:
            for n in range(1000):
                job = Job("a1d", "image-generator", (), {"prompt": f"p{n}"})
                nursery.start_soon(client.run, job, out / str(n))

    with standalone_emulator("a1d", "k", 1.0) as emulator, tempfile.TemporaryDirectory() as out:
        wall, cpu = time.perf_counter(), _cpu()
        trio.run(run, emulator.base_url, Path(out))
        wall, cpu = time.perf_counter() - wall, _cpu() - cpu
    per_task = cpu / 1000 * 1e3
    print(f"{contender}: 1000 A1D jobs at once: wall {wall:.1f} s, CPU {per_task:.1f} ms a task")


def main() -> None:
    """Run one measurement and print it."""
    scenario, contender = sys.argv[1], sys.argv[2]
    if scenario == "engine":
        engine(contender)
        return
    receive, send = multiprocessing.Pipe(duplex=False)
    server = multiprocessing.Process(target=_server, args=(send,), daemon=True)
    server.start()
    url = f"http://127.0.0.1:{receive.recv()}"
    try:
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        wall, cpu = time.perf_counter(), _cpu()
        if contender == "curl":
            subprocess.run(["curl", "-s", "-o", "/dev/null", url + "/big"], check=True)  # noqa: S607
        else:
            transport = Http11Transport()
            trio.run(small if scenario == "small" else download, transport, url)
        wall, cpu = time.perf_counter() - wall, _cpu() - cpu
        rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    finally:
        server.kill()
    if scenario == "small":
        print(f"{contender}: 2000 GETs at 200: wall {wall:.2f} s, client CPU {cpu:.2f} s")
    else:
        rate, growth = BIG / wall / 2**20, rss_growth // 1024
        print(f"{contender}: 256 MB in {wall:.2f} s = {rate:.0f} MiB/s, RSS +{growth} MB")


if __name__ == "__main__":
    main()
