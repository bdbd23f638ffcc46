"""CLI commands, one module each (see :mod:`implicit3d.cli`)."""
