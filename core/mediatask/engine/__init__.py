"""The engine: a client that submits, follows (stream or poll), retries and downloads; the
policies, pace and concurrency it learns; many jobs at once; output names; the file host;
settling uncertain submits. Imports the layers below it.

Private: import what you need from :mod:`mediatask` (or :mod:`mediatask.plugin` in a
plugin); the modules here move without notice.
"""

from mediatask._moved import old_names

__getattr__ = old_names(__name__)
