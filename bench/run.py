"""The benchmark: mediatask against plain contenders on a fast loopback server, one table.

Run with ``make bench`` (``BENCH_SCALE=small make bench`` to try it in about a minute). A bench
server (``bench/server.py``) runs in its own process and speaks A1D's and Claid's API shapes with
tasks that take ~1 s (±20 %); every contender runs as a child process against it, so its CPU time
and peak memory are the kernel's own accounting (``wait4``) and its status requests and
detection latency are counted by the server. Each run has a time bound: a contender that does not
finish is reported as ``timeout`` (still moving) or ``deadlock`` (the server saw no request for
``STALL_SECONDS``), never waited for.

Environment: ``BENCH_SCALE`` (``full``, the default, ``small``, or ``tiny`` for the test),
``BENCH_ONLY`` (comma-separated scenario names: ``a1d``, ``claid``, ``many``, ``download``,
``startup``, ``many-a1d``, 10,000 open event streams, and ``pg``, 3 workers on a shared
PostgreSQL ledger against Claid's rate windows (``bench/pg.py``), which run only when named),
``BENCH_OUT`` (the JSON file; default ``out/bench.json``).

The machine may be shared: compare the ratios within one run, not absolute numbers across runs.
"""

from __future__ import annotations

import heapq
import json
import math
import os
import platform
import random
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pg  # bench/pg.py, beside this file

HERE = Path(__file__).parent
ROOT = HERE.parent
CONTENDERS = HERE / "contenders"
PYTHON = sys.executable
MEDIATASK = str(Path(sys.executable).parent / "mediatask")
STALL_SECONDS = 15.0
JITTER = 0.2

SCALES: dict[str, dict[str, Any]] = {
    "full": {
        "jobs": 2000,
        "concurrency": 200,
        "mean": 1.0,
        "many": 10_000,
        "naive": 10,
        "big_mb": 256,
        "startup_runs": 7,
        "pg_jobs": 150,
    },
    "tiny": {  # for the test that the bench runs at all
        "jobs": 6,
        "concurrency": 3,
        "mean": 0.05,
        "many": 20,
        "naive": 1,
        "big_mb": 1,
        "startup_runs": 1,
        "pg_jobs": 8,
    },
    "small": {
        "jobs": 200,
        "concurrency": 50,
        "mean": 0.5,
        "many": 1000,
        "naive": 3,
        "big_mb": 32,
        "startup_runs": 3,
        "pg_jobs": 60,
    },
}


@dataclass(frozen=True)
class Child:
    """How a contender's process ended, by the kernel's accounting."""

    status: str
    """``ok``, ``failed (exit N)``, ``timeout`` or ``deadlock``."""
    seconds: float
    cpu_seconds: float
    peak_rss_kib: int
    report: dict[str, Any]
    """The contender's own last stdout line (JSON), when it printed one."""
    stderr_tail: str


class BenchServer:
    """The bench server in its own process, and the control requests to it."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [PYTHON, str(HERE / "server.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        port = self.process.stdout.readline().strip()
        if not port.isdigit():
            raise SystemExit(f"the bench server did not start (it printed {port!r})")
        self.base = f"http://127.0.0.1:{port}"

    def call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data)
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.load(answer)

    def configure(self, mean: float, jitter: float = JITTER, output_bytes: int = 0) -> None:
        """Start a new run: fresh counters, task durations ``mean`` ± ``jitter`` (seed 1)."""
        config = {"mean": mean, "jitter": jitter, "output_bytes": output_bytes, "seed": 1}
        self.call("/_bench/config", config)

    def cpu_seconds(self) -> float:
        """The server's user + system CPU time so far (it shares the machine's cores)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def run_child(
    argv: Sequence[str], env: dict[str, str], timeout: float, server: BenchServer
) -> Child:
    """Run one contender to its end or ``timeout``; a stalled one is killed as a deadlock."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.monotonic()
        process = subprocess.Popen(
            argv, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True
        )
        # A thread waits for the child (wait4 gives its rusage) while this one watches progress.
        ended: list[tuple[int, int, Any]] = []
        waiter = threading.Thread(target=lambda: ended.append(os.wait4(process.pid, 0)))
        waiter.start()
        last_requests, last_move, status = -1, start, ""
        while True:
            waiter.join(1.0)
            if ended:
                break
            now = time.monotonic()
            try:
                requests = server.call("/_bench/progress")["requests"]
            except OSError:  # the server too busy to answer in time: no sign of progress
                requests = last_requests
            if requests != last_requests:
                last_requests, last_move = requests, now
            if now - start > timeout or now - last_move > STALL_SECONDS:
                status = "deadlock" if now - last_move > STALL_SECONDS else "timeout"
                os.killpg(process.pid, signal.SIGKILL)
                waiter.join()
                break
        _, code, usage = ended[0]
        seconds = time.monotonic() - start if not status else now - start
        process.returncode = code  # reaped here: keep Popen from waiting again
        out.seek(0)
        err.seek(0)
        lines = out.read().strip().splitlines()
        stderr = err.read()
    report: dict[str, Any] = {}
    if lines:
        try:
            report = json.loads(lines[-1])
        except ValueError:
            report = {}
    if not status:
        exit_code = os.waitstatus_to_exitcode(code)
        status = "ok" if exit_code == 0 else f"failed (exit {exit_code})"
    # A child forked from this process starts with this process's memory high-water mark, which
    # the kernel keeps across exec: our own contenders report their VmHWM (their peak since
    # exec); for the others (curl, the start-up commands) ru_maxrss is at least ours.
    peak = int(report.get("vmhwm_kib") or usage.ru_maxrss)
    return Child(
        status,
        seconds,
        usage.ru_utime + usage.ru_stime,
        peak,
        report,
        stderr.strip()[-600:],
    )


def percentile(values: Sequence[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


def planned_durations(count: int, mean: float, seed: int = 1) -> list[float]:
    """The durations the bench server gives a run's first ``count`` tasks, in submit order
    (it draws them with the same generator and seed)."""
    rng = random.Random(seed)
    return [max(mean * (1 + rng.uniform(-JITTER, JITTER)), 0.0) for _ in range(count)]


def simulated_ideal(durations: Sequence[float], concurrency: int) -> float:
    """The wall time of a client with no overhead, for these task durations (in submit order):
    each task starts the moment one of ``concurrency`` slots is free and is noticed at once."""
    slots = [0.0] * min(concurrency, len(durations))
    for duration in durations:
        heapq.heapreplace(slots, slots[0] + duration)
    return max(slots, default=0.0)


def task_row(
    scenario: str,
    contender: str,
    child: Child,
    stats: dict[str, Any],
    count: int,
    ideal: float,
) -> dict[str, Any]:
    """One table row from a contender's process and the server's counters."""
    done = stats["downloaded"]
    tasks = max(stats["tasks"], 1)
    detect = stats["detect"]
    finished = child.status == "ok" and done == count
    wall = stats["span"] if finished and stats["span"] is not None else child.seconds
    before = child.report.get("rss_before_kib")
    return {
        "scenario": scenario,
        "contender": contender,
        "status": child.status if finished or child.status != "ok" else "incomplete",
        "done": done,
        "count": count,
        "wall_s": round(wall, 2),
        "process_s": round(child.seconds, 2),
        "ideal_s": round(ideal, 2),
        "wall_ideal": round(wall / ideal, 2) if finished else None,
        # A run stopped by its time bound: its wall at the pace it kept, if it had gone on.
        "wall_ideal_projected": (
            round(child.seconds * count / done / ideal, 1) if not finished and done else None
        ),
        "status_requests_per_task": round(stats["status_requests"] / tasks, 2),
        "cpu_s": round(child.cpu_seconds, 2),
        "cpu_ms_per_task": round(child.cpu_seconds / done * 1000, 2) if done else None,
        "peak_rss_mb": round(child.peak_rss_kib / 1024, 1),
        "rss_growth_mb": round((child.peak_rss_kib - before) / 1024, 1) if before else None,
        "detect_p50_ms": _ms(percentile(detect, 0.5)),
        "detect_p99_ms": _ms(percentile(detect, 0.99)),
        "peak_connections": stats["peak_connections"],
        "errors": child.report.get("errors") or (child.stderr_tail if not finished else ""),
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


class Bench:
    """The scenarios, run in order against one bench server."""

    def __init__(self, scale: dict[str, Any], server: BenchServer, work: Path) -> None:
        self.scale = scale
        self.server = server
        self.work = work
        self.rows: list[dict[str, Any]] = []
        base = server.base
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("MEDIATASK_")},
            "MEDIATASK_HOME": str(work / "home"),
            "MEDIATASK_A1D_BASE_URL": base,
            "MEDIATASK_A1D_KEY": "bench",
            "MEDIATASK_CLAID_BASE_URL": base,
            "MEDIATASK_CLAID_KEY": "bench",
            # The account setting a user on a plan without Claid's default windows (4/s,
            # 120/min) would give; the bench server sends no rate-limit headers either.
            "MEDIATASK_CLAID_RATE": "none",
            "NO_COLOR": "1",
        }

    def out_dir(self, name: str) -> Path:
        path = self.work / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def tasks(
        self,
        scenario: str,
        contender: str,
        argv: Callable[[Path], list[str]],
        count: int,
        concurrency: int,
        reference: bool = False,
    ) -> None:
        """Run one contender through ``count`` tasks and add its row."""
        mean = self.scale["mean"]
        ideal = simulated_ideal(planned_durations(count, mean), concurrency)
        # Five times the ideal; at least a minute for 10,000 at once, where even the plain
        # contender takes several times its ideal on a 2-core machine.
        timeout = max(60.0 if count >= 5000 else 30.0, 5 * ideal)
        self.server.configure(mean)
        out = self.out_dir(f"{scenario}-{contender}".replace(" ", "_"))
        print(f"  {contender} ...", end="", flush=True, file=sys.stderr)
        server_cpu = self.server.cpu_seconds()
        child = run_child(argv(out), self.env, timeout, self.server)
        stats = self.server.call("/_bench/stats")
        row = task_row(scenario, contender, child, stats, count, ideal)
        row["server_cpu_s"] = round(self.server.cpu_seconds() - server_cpu, 2)
        row["reference"] = reference
        print(f" {row['status']} {row['done']}/{count} in {child.seconds:.1f} s", file=sys.stderr)
        self.rows.append(row)
        shutil.rmtree(out, ignore_errors=True)

    def library(self, shape: str, count: int, concurrency: int) -> Callable[[Path], list[str]]:
        script = str(CONTENDERS / "mediatask_library.py")
        return lambda out: [PYTHON, script, shape, str(count), str(concurrency), str(out)]

    def batch(self, shape: str, count: int, concurrency: int) -> Callable[[Path], list[str]]:
        def argv(out: Path) -> list[str]:
            manifest = out / "jobs.jsonl"
            source = f"{self.server.base}/inputs/photo.png"
            if shape == "a1d":
                job = {"provider": "a1d", "operation": "image-upscaler", "params": {"scale": 2}}
            else:
                job = {
                    "provider": "claid",
                    "operation": "edit",
                    "params": {"operations": {"resizing": {"width": 64}}},
                }
            lines = (json.dumps({**job, "input": source, "id": f"j{i}"}) for i in range(count))
            manifest.write_text("\n".join(lines) + "\n")
            script = str(CONTENDERS / "mediatask_cli.py")
            files = str(out / "files")
            options = ["-o", files, "--concurrency", str(concurrency), "--json"]
            return [PYTHON, script, "batch", str(manifest), *options]

        return argv

    def aiohttp(
        self, shape: str, mode: str, interval: float, count: int, concurrency: int
    ) -> Callable[[Path], list[str]]:
        script = str(CONTENDERS / "aiohttp_client.py")
        return lambda out: [
            PYTHON,
            script,
            shape,
            mode,
            str(interval),
            str(count),
            str(concurrency),
            str(out),
            self.server.base,
        ]

    def naive(self, shape: str, count: int) -> Callable[[Path], list[str]]:
        script = str(CONTENDERS / "naive.py")
        return lambda out: [PYTHON, script, shape, str(count), str(out), self.server.base]

    def shape_scenario(self, shape: str) -> None:
        """2,000 jobs x ~1 s, 200 at once: mediatask (library, batch) and the plain contenders."""
        jobs, conc = self.scale["jobs"], self.scale["concurrency"]
        name = f"{shape}: {jobs} jobs, {conc} at once"
        print(name, file=sys.stderr)
        self.tasks(name, "mediatask run_many", self.library(shape, jobs, conc), jobs, conc)
        self.tasks(name, "mediatask batch", self.batch(shape, jobs, conc), jobs, conc)
        if shape == "a1d":
            sse = self.aiohttp(shape, "sse", 0, jobs, conc)
            self.tasks(name, "aiohttp SSE", sse, jobs, conc, reference=True)
        for interval in (0.5, 0.1):
            polls = self.aiohttp(shape, "poll", interval, jobs, conc)
            reference = shape == "claid" and interval == 0.5
            self.tasks(name, f"aiohttp {interval} s polls", polls, jobs, conc, reference)
        naive = self.scale["naive"]
        self.tasks(name, f"naive loop ({naive} jobs)", self.naive(shape, naive), naive, 1)

    def many_scenario(self, shape: str) -> None:
        """10,000 tasks in flight at once: Claid's shape (polling) or A1D's (10,000 streams)."""
        many = self.scale["many"]
        name = f"{shape}: {many} in flight"
        print(name, file=sys.stderr)
        self.tasks(name, "mediatask run_many", self.library(shape, many, many), many, many)
        if shape == "a1d":
            streams = self.aiohttp("a1d", "sse", 0, many, many)
            self.tasks(name, "aiohttp SSE", streams, many, many, reference=True)
        else:
            polls = self.aiohttp("claid", "poll", 0.5, many, many)
            self.tasks(name, "aiohttp 0.5 s polls", polls, many, many, reference=True)

    def download_scenario(self) -> None:
        """One output of BIG_MB: mediatask's download against curl's (and aiohttp's)."""
        size = self.scale["big_mb"] << 20
        name = f"download {self.scale['big_mb']} MB"
        print(name, file=sys.stderr)
        contenders: list[tuple[str, Callable[[Path], list[str]]]] = [
            ("mediatask run_many", self.library("a1d", 1, 1)),
            ("aiohttp", self.aiohttp("a1d", "sse", 0, 1, 1)),
        ]
        if shutil.which("curl") is not None:
            contenders.append(("curl", self.curl))
        for contender, argv in contenders:
            self.server.configure(0.0, jitter=0.0, output_bytes=size)
            out = self.out_dir("download")
            print(f"  {contender} ...", end="", flush=True, file=sys.stderr)
            child = run_child(argv(out), self.env, 120.0, self.server)
            stats = self.server.call("/_bench/stats")
            seconds = stats["download_seconds"][0] if stats["download_seconds"] else None
            before = child.report.get("rss_before_kib")
            print(f" {child.status}", file=sys.stderr)
            self.rows.append(
                {
                    "scenario": name,
                    "contender": contender,
                    "status": child.status if stats["downloaded"] else "incomplete",
                    "done": stats["downloaded"],
                    "count": 1,
                    "process_s": round(child.seconds, 2),
                    "download_s": round(seconds, 3) if seconds else None,
                    "mb_per_s": round(size / seconds / 1e6, 1) if seconds else None,
                    "cpu_ms_per_task": round(child.cpu_seconds * 1000, 1),
                    "peak_rss_mb": round(child.peak_rss_kib / 1024, 1),
                    "rss_growth_mb": (
                        round((child.peak_rss_kib - before) / 1024, 1) if before else None
                    ),
                    "reference": contender == "curl",
                    "errors": child.report.get("errors") or child.stderr_tail,
                }
            )
            shutil.rmtree(out, ignore_errors=True)

    def curl(self, out: Path) -> list[str]:
        """Make the one task (curl cannot submit), then fetch its output with curl."""
        self.server.call("/api/image-upscaler", {"imageUrl": "x"})
        return ["curl", "-sS", "-o", str(out / "big.png"), f"{self.server.base}/files/1.png"]

    def startup_scenario(self) -> None:
        """Whole-process start-up of the commands a user types first, against ``python -c pass``."""
        name = "start-up"
        print(name, file=sys.stderr)
        runs = self.scale["startup_runs"]
        commands = {
            "python -c pass": [PYTHON, "-c", "pass"],
            "mediatask --help": [MEDIATASK, "--help"],
            "mediatask --version": [MEDIATASK, "--version"],
            "mediatask providers": [MEDIATASK, "providers"],
        }
        for contender, argv in commands.items():
            children = [run_child(argv, self.env, 60.0, self.server) for _ in range(runs + 1)][1:]
            self.rows.append(
                {
                    "scenario": name,
                    "contender": contender,
                    "status": children[-1].status,
                    "wall_ms": round(statistics.median(c.seconds for c in children) * 1000, 1),
                    "cpu_ms_per_task": round(
                        statistics.median(c.cpu_seconds for c in children) * 1000, 1
                    ),
                    "peak_rss_mb": round(max(c.peak_rss_kib for c in children) / 1024, 1),
                    "reference": contender == "python -c pass",
                }
            )


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """Each row's wall, CPU and throughput against its scenario's reference contender."""
    for row in rows:
        reference = next(
            (r for r in rows if r["scenario"] == row["scenario"] and r.get("reference")), None
        )
        if reference is None:
            continue
        for key in ("wall_ideal", "cpu_ms_per_task", "mb_per_s", "wall_ms"):
            mine, theirs = row.get(key), reference.get(key)
            if mine is not None and theirs:
                row[f"{key}_vs_ref"] = round(mine / theirs, 2)
        row["reference_name"] = reference["contender"]


def fmt(value: Any, suffix: str = "") -> str:
    return "—" if value is None or value == "" else f"{value}{suffix}"


def table(rows: list[dict[str, Any]]) -> str:
    """The Markdown table of every row, scenario by scenario."""
    header = (
        "| scenario | contender | result | wall / ideal | vs ref | status req / task "
        "| CPU ms / task | vs ref | peak RSS MB | detect p50 / p99 ms |"
    )
    lines = [header, "|" + " --- |" * 10]
    for r in rows:
        if "mb_per_s" in r:
            result = f"{fmt(r['mb_per_s'])} MB/s (x{fmt(r.get('mb_per_s_vs_ref'))} curl)"
            growth = f"{r['peak_rss_mb']} (+{fmt(r['rss_growth_mb'])})"
            cells = [r["status"], result, "", "", fmt(r["cpu_ms_per_task"]), "", growth, ""]
        elif "floor_s" in r:  # bench/pg.py: the wall against the rate windows' floor
            result = f"{r['wall_s']} s vs {r['floor_s']} s floor"
            cells = [r["status"], result, f"{r['wall_floor']}x floor", "", "", "", "", ""]
        elif "wall_ms" in r:
            wall = f"{r['wall_ms']} ms wall"
            ratio = fmt(r.get("wall_ms_vs_ref"))
            cells = [r["status"], wall, ratio, "", fmt(r["cpu_ms_per_task"]), "", r["peak_rss_mb"]]
            cells.append("")
        else:
            result = (
                r["status"] if r["status"] == "ok" else f"{r['status']} ({r['done']}/{r['count']})"
            )
            detect = f"{fmt(r['detect_p50_ms'])} / {fmt(r['detect_p99_ms'])}"
            cells = [
                result,
                fmt(r["wall_ideal"], "x")
                if r["wall_ideal"] is not None or r["wall_ideal_projected"] is None
                else f"~{r['wall_ideal_projected']}x at its pace",
                fmt(r.get("wall_ideal_vs_ref")),
                fmt(r["status_requests_per_task"]),
                fmt(r["cpu_ms_per_task"]),
                fmt(r.get("cpu_ms_per_task_vs_ref")),
                fmt(r["peak_rss_mb"]),
                detect,
            ]
        lines.append("| " + " | ".join([r["scenario"], r["contender"], *map(str, cells)]) + " |")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    harness = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "harness_peak_rss_mb": round(harness / 1024, 1),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in load],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def main() -> None:
    scale_name = os.environ.get("BENCH_SCALE", "full")
    if scale_name not in SCALES:
        raise SystemExit(f"BENCH_SCALE must be one of {', '.join(SCALES)}, not {scale_name!r}")
    scale = SCALES[scale_name]
    scenarios = {
        "a1d": lambda bench: bench.shape_scenario("a1d"),
        "claid": lambda bench: bench.shape_scenario("claid"),
        "many": lambda bench: bench.many_scenario("claid"),
        "download": Bench.download_scenario,
        "startup": Bench.startup_scenario,
        # Not run by default (it adds a minute or two): 10,000 open event streams.
        "many-a1d": lambda bench: bench.many_scenario("a1d"),
        # Not run by default (it needs PostgreSQL 15 and a minute or more): shared rate windows.
        "pg": lambda bench: bench.rows.append(
            pg.run(int(os.environ.get("BENCH_PG_JOBS", 0)) or scale["pg_jobs"])
        ),
    }
    default = ["a1d", "claid", "many", "download", "startup"]
    only = [s.strip() for s in os.environ.get("BENCH_ONLY", "").split(",") if s.strip()]
    if unknown := set(only) - set(scenarios):
        raise SystemExit(f"BENCH_ONLY: unknown scenarios {sorted(unknown)}; know {list(scenarios)}")
    if shutil.which("curl") is None:
        print("curl not found: the download scenario runs without it", file=sys.stderr)
    started = machine()
    server = BenchServer()
    try:
        with tempfile.TemporaryDirectory(prefix="mediatask-bench-") as work:
            bench = Bench(scale, server, Path(work))
            for name, scenario in scenarios.items():
                if name in (only or default):
                    scenario(bench)
    finally:
        server.close()
    add_ratios(bench.rows)
    out = Path(os.environ.get("BENCH_OUT", ROOT / "out" / "bench.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {"scale": scale_name, "settings": scale, "machine": started, "rows": bench.rows}
    document["machine_after"] = machine()
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(table(bench.rows))
    print(
        f"\nscale {scale_name}; python {started['python']}; {started['cpus']} CPUs; load average "
        f"{started['load_average']} before, {document['machine_after']['load_average']} after; "
        f"JSON: {out}"
    )


if __name__ == "__main__":
    main()
