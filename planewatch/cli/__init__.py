"""The ``planewatch`` command line (the Typer app lives in ``planewatch.cli.app``)."""


def main() -> None:
    """Console-script entry point; imports the app lazily so submodules import cheaply."""
    from planewatch.cli.app import app

    app()
