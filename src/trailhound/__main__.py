"""`python -m trailhound` runs the CLI."""

from trailhound.cli import run

run()
