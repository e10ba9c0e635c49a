"""The journal: the job lifecycle (its states and moves, the one owner of a state change),
what makes two jobs the same, the backend interface, SQLite and PostgreSQL backends and their
schema migrations. Imports the layers below it (model, http, settings, providers).

Private: import what you need from :mod:`mediatask` (or :mod:`mediatask.plugin` in a
plugin); the modules here move without notice.
"""

from mediatask._moved import old_names

__getattr__ = old_names(__name__)
