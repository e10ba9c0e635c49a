"""Download an input URL the way a provider's servers would."""

from __future__ import annotations

from functools import partial
from urllib.parse import urlsplit

import trio
import urllib3

FETCH_TIMEOUT = urllib3.Timeout(connect=5.0, read=20.0)
"""Socket timeouts for input downloads: a safety net so a stuck source cannot pin a thread."""


class InputFetchError(Exception):
    """An input URL could not be downloaded; the message says why, for the API's answer."""


async def fetch_input(url: str, *, max_bytes: int = 50 * 2**20) -> bytes:
    """Download an input URL the way the real API would, and return its bytes.

    Runs urllib3 in a trio worker thread with socket timeouts. Raises :class:`InputFetchError`
    when the URL is not http(s), unreachable, answers a non-2xx status or exceeds ``max_bytes``.
    """
    scheme = urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise InputFetchError(f"input URL must be http or https, got {url!r}")
    # The thread owns its own pool and closes it, so abandoning it on cancel leaks nothing.
    return await trio.to_thread.run_sync(
        partial(_fetch_blocking, url, max_bytes), abandon_on_cancel=True
    )


def _fetch_blocking(url: str, max_bytes: int) -> bytes:
    with urllib3.PoolManager(retries=False, timeout=FETCH_TIMEOUT) as pool:
        try:
            response = pool.request("GET", url, preload_content=False)
        except urllib3.exceptions.HTTPError as exc:
            raise InputFetchError(f"could not reach input URL {url}: {exc}") from exc
        try:
            if not 200 <= response.status < 300:
                raise InputFetchError(f"input URL {url} answered HTTP {response.status}")
            data = response.read(max_bytes + 1)
        except urllib3.exceptions.HTTPError as exc:
            raise InputFetchError(f"could not read input URL {url}: {exc}") from exc
        finally:
            response.close()  # an unread body holds the socket open until this
            response.release_conn()
        if len(data) > max_bytes:
            raise InputFetchError(f"input URL {url} is larger than {max_bytes} bytes")
        return data
