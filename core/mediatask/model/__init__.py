"""The value types and errors every layer uses: jobs, tasks, updates, results, provider
descriptions, mediatask's exceptions, durations and rates as people write them, did-you-mean,
secret scrubbing. Imports nothing else of mediatask.

Private: import what you need from :mod:`mediatask` (or :mod:`mediatask.plugin` in a
plugin); the modules here move without notice.
"""

from mediatask._moved import old_names

__getattr__ = old_names(__name__)
