"""Contender: the ``mediatask`` command line (e.g. ``batch``), as installed.

Usage: mediatask_cli.py ARGS... — the same as ``mediatask ARGS...``.
"""

from __future__ import annotations

import atexit
import sys

from common import raise_open_files_limit, report, rss_kib

from mediatask.cli import main

if __name__ == "__main__":
    raise_open_files_limit()
    atexit.register(report, rss_before_kib=rss_kib())
    sys.argv = ["mediatask", *sys.argv[1:]]
    main()
