"""Batches: the manifest, its pre-flight, the runner that journals every job, workers and
shared limits on a shared ledger, the summary. Imports the layers below it.

Private: import what you need from :mod:`mediatask` (or :mod:`mediatask.plugin` in a
plugin); the modules here move without notice.
"""

from mediatask._moved import old_names

__getattr__ = old_names(__name__)
