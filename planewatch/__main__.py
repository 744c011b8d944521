"""``python -m planewatch`` is the ``planewatch`` command."""

from planewatch.cli import main

main()
