"""HTTP: the messages a plugin builds and reads, the transport protocol and its h11
implementation (one exchange in steps), the connection pool, connection failures in words,
request bodies, headers and Server-Sent Events.
Imports only :mod:`mediatask.model`.

Private: import what you need from :mod:`mediatask` (or :mod:`mediatask.plugin` in a
plugin); the modules here move without notice.
"""

from mediatask._moved import old_names

__getattr__ = old_names(__name__)
