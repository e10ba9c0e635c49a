"""``python -m mediatask``: the same as the ``mediatask`` command."""

import sys

try:
    from mediatask.cli import main
except KeyboardInterrupt:  # Ctrl-C while the command is still being imported
    sys.exit(130)

main()
