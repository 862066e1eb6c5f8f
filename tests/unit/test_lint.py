"""Static checks on our own code: no unused imports or undefined names (pyflakes rules, via ruff)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_unused_imports_or_undefined_names():
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "F,E9", "--output-format", "concise",
                           "--exclude", ".venv,.venv-ls,.run,migrations", str(ROOT)],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
