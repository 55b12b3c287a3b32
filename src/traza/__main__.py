"""``python -m traza``: the ``traza`` command, for environments without the script on PATH."""

from traza.cli import main

main()
