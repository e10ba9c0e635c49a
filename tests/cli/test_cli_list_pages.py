"""``mediatask list`` reads a paged list to its end, or says where it stopped (``--pages``)."""

from __future__ import annotations

import http.server
import json
from urllib.parse import parse_qs, urlparse

from click.testing import CliRunner

from mediatask.cli import cli
from mediatask.testing import serving_in_thread

TOTAL = 250


class Paged(http.server.BaseHTTPRequestHandler):
    """A2E's image-to-video list: pages of ``pageSize`` rows out of :data:`TOTAL`."""

    def do_GET(self) -> None:  # the stdlib's name
        query = parse_qs(urlparse(self.path).query)
        number, size = int(query["pageNum"][0]), int(query["pageSize"][0])
        ids = range((number - 1) * size, min(number * size, TOTAL))
        rows = [{"_id": f"{n:024x}", "current_status": "processing"} for n in ids]
        data = json.dumps({"code": 0, "data": {"rows": rows, "count": TOTAL}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # the stdlib's name
        pass


def listed(*args: str) -> tuple[list[str], str]:
    with serving_in_thread(Paged) as url:
        env = {"MEDIATASK_A2E_BASE_URL": url, "MEDIATASK_A2E_KEY": "sk-list-pages"}
        command = ["list", "a2e", "--operation", "image-to-video", *args]
        shown = CliRunner().invoke(cli, command, env=env)
    assert shown.exit_code == 0, shown.output
    return shown.stdout.splitlines(), shown.stderr


def test_list_reads_every_page() -> None:
    lines, stderr = listed()

    assert len(lines) == TOTAL
    assert len(set(lines)) == TOTAL
    assert "stopped" not in stderr


def test_list_says_where_it_stopped_early() -> None:
    lines, stderr = listed("--pages", "2")

    assert len(lines) == 200
    assert "stopped after 2 pages (200 tasks); a2e lists older ones: --pages N reads more" in stderr
