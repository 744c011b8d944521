"""The ``planewatch`` command line."""

from planewatch.cli.app import app


def main() -> None:
    app()
