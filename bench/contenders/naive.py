"""Contender: a naive sequential loop (standard library only): submit, poll every 0.5 s, download.

Usage: naive.py SHAPE COUNT OUT_DIR BASE_URL
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from common import report, submit_request

KEY_HEADER = {"a1d": "KEY bench", "claid": "Bearer bench"}


def call(url: str, shape: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    request.add_header("Authorization", KEY_HEADER[shape])
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request) as answer:
        return json.load(answer)


def main() -> None:
    shape, count, out_dir, base = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
    out_dir.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        url, body = submit_request(shape, base)
        answer = call(url, shape, body)
        if shape == "a1d":
            status_url = f"{base}/api/task/{answer['taskId']}"
        else:
            status_url = answer["data"]["result_url"]
        while True:
            time.sleep(0.5)
            state = call(status_url, shape)
            if shape == "a1d" and state["status"] == "FINISHED":
                result_url = state["imageUrl"]
                break
            if shape == "claid" and state["data"]["status"] == "DONE":
                result_url = state["data"]["result"]["output_object"]["tmp_url"]
                break
        with urllib.request.urlopen(result_url) as answer:
            (out_dir / f"{index}.png").write_bytes(answer.read())
    report(ok=count)


if __name__ == "__main__":
    main()
