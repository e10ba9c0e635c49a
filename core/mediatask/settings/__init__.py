"""Settings: keys, base URLs, per-provider settings and the key store.
Imports only :mod:`mediatask.model`.

Private: import what you need from :mod:`mediatask` (or :mod:`mediatask.plugin` in a
plugin); the modules here move without notice.
"""
