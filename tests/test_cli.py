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


def test_building_the_parser_imports_no_heavy_module():
    """`implicit3d --help` and `COMMAND --help` build every parser: they must not wait on numba, trimesh or torch."""
    code = (
        "import sys\n"
        "from implicit3d.cli import build_parser\n"
        "parser, _ = build_parser()\n"
        "parser.format_help()\n"
        "heavy = [m for m in ('numba', 'trimesh', 'torch', 'scipy', 'implicit3d.sensing') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


def test_lazy_noise_choices_are_listed_and_checked(capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["visualize", "--help"])
    text = capsys.readouterr().out
    assert "kinect_v1" in text and "realsense_d435" in text
    with pytest.raises(SystemExit) as exc:
        main(["visualize", "x.obj", "--noise", "not_a_sensor"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
