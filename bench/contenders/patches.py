"""The one change the bench makes to mediatask: Claid's declared rate windows, switched off.

Claid documents 4 requests/s and 120/min by default; the bench server sends no rate-limit
headers, as for a plan without those windows. The declared windows would otherwise hold 2,000
jobs to 4 submits a second, and the bench would measure the window, not the client. When
mediatask gains a documented way to raise a provider's windows, use that here instead.
"""

from __future__ import annotations

import attrs


def apply_bench_patches() -> None:
    """Declare Claid without rate windows (the plugin returns its module-level ``INFO``)."""
    import mediatask_claid

    mediatask_claid.INFO = attrs.evolve(mediatask_claid.INFO, rate_limits=())
