"""Contender: the mediatask library, ``mediatask.run_many`` (shipped defaults + concurrency).

Usage: mediatask_library.py SHAPE COUNT CONCURRENCY OUT_DIR; base URLs and keys come from the
environment (MEDIATASK_<P>_BASE_URL, MEDIATASK_<P>_KEY), set by bench/run.py.
"""

from __future__ import annotations

import os
import sys
from collections import Counter

from common import input_url, raise_open_files_limit, report, rss_kib

import mediatask


def main() -> None:
    shape, count, concurrency, out_dir = (
        sys.argv[1],
        int(sys.argv[2]),
        int(sys.argv[3]),
        sys.argv[4],
    )
    raise_open_files_limit()
    base = os.environ[f"MEDIATASK_{shape.upper()}_BASE_URL"]
    if shape == "a1d":
        job = mediatask.Job("a1d", "image-upscaler", [input_url(base)], {"scale": 2})
    else:
        job = mediatask.Job("claid", "edit", [input_url(base)], {"operations.resizing.width": 64})
    before = rss_kib()
    outcomes = mediatask.run_many([job] * count, out_dir=out_dir, concurrency=concurrency)
    errors = Counter(f"{type(o.error).__name__}: {o.error}"[:200] for o in outcomes if not o.ok)
    report(
        ok=sum(o.ok for o in outcomes),
        rss_before_kib=before,
        errors=dict(errors.most_common(3)),
    )


if __name__ == "__main__":
    main()
