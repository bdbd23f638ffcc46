import subprocess
import sys

from implicit3d.cli import main


def test_help_lists_commands(capsys):
    """No command: the help on stderr and exit 2, a usage error (a script that forgot its command fails)."""
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "implicit3d" in err and "scene" in err and "error: name a command" in err


def test_module_entry_point_runs():
    proc = subprocess.run([sys.executable, "-m", "implicit3d", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert "implicit3d" in proc.stdout
