import subprocess
import sys

from implicit3d.cli import main


def test_help_lists_commands(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "implicit3d" in out


def test_module_entry_point_runs():
    proc = subprocess.run([sys.executable, "-m", "implicit3d", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert "implicit3d" in proc.stdout
