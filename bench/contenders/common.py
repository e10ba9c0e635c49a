"""What every contender shares: the jobs of a shape, the descriptor limit, its own RSS."""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path
from typing import Any

SHAPES = ("a1d", "claid")


def raise_open_files_limit() -> None:
    """Raise the descriptor limit to the hard limit: 10,000 sockets need more than 1,024."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def rss_kib() -> int:
    """This process's resident memory now, in KiB."""
    return _status_kib("VmRSS")


def peak_rss_kib() -> int:
    """This process's peak resident memory since it started (``VmHWM``), in KiB."""
    return _status_kib("VmHWM")


def input_url(base: str) -> str:
    """The (never fetched) input image every job names."""
    return f"{base}/inputs/photo.png"


def submit_request(shape: str, base: str) -> tuple[str, dict[str, Any]]:
    """The submit path and JSON body of one job of ``shape``, as the provider's API wants it."""
    if shape == "a1d":
        return f"{base}/api/image-upscaler", {
            "imageUrl": input_url(base),
            "scale": 2,
            "source": "api",
        }
    return f"{base}/v1/image/edit/async", {
        "input": input_url(base),
        "operations": {"resizing": {"width": 64}},
    }


def report(**figures: Any) -> None:
    """The contender's own figures (and its peak memory), as the last line of its stdout."""
    print(json.dumps({**figures, "vmhwm_kib": peak_rss_kib()}), file=sys.stdout, flush=True)
