"""``python -m mediatask``: the same as the ``mediatask`` command."""

from mediatask.cli import main

main()
