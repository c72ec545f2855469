"""The README's Python examples run as written, in a fresh process."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block-{i}" for i in range(len(BLOCKS))])
def test_readme_python_example_runs(code, tmp_path):
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "output" / "sessions" / "sessions.db").exists()


def test_the_readme_has_python_examples():
    assert len(BLOCKS) >= 2


def test_setup_command_1_prints_the_statistics_report_once(tmp_path):
    text = README.read_text(encoding="utf-8")
    line = text.split("# 1. ", 1)[1].splitlines()[1]
    commands = [part.strip().split() for part in line.split("&&")]
    toolkit = [cmd[1:] for cmd in commands if cmd[0].endswith("bin/m365-toolkit")]
    assert toolkit and toolkit[0] == ["demo"], line
    output = ""
    for args in toolkit:  # the install steps are the venv's; the toolkit steps run here
        done = subprocess.run([sys.executable, "-m", "m365_toolkit", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr
        output += done.stdout
    assert output.count("Session Statistics") == 1, output


def test_what_the_readme_says_of_errors_is_what_the_cli_does(tmp_path):
    text = " ".join(README.read_text(encoding="utf-8").split())
    assert (
        "three lines (the usage, a `--help` hint, `Error: ...` naming the option) and exit 2"
        in text
    )
    assert "prints one line, `Error: ...`, to stderr and exits 1" in text
    command = [sys.executable, "-m", "m365_toolkit", "sessions"]
    usage = subprocess.run([*command, "list", "--bogus"], capture_output=True, text=True,
                           cwd=tmp_path, timeout=60)  # fmt: skip
    lines = [line for line in usage.stderr.splitlines() if line.strip()]
    assert usage.returncode == 2 and len(lines) == 3, usage.stderr
    assert "--bogus" in usage.stderr.splitlines()[-1]
    error = subprocess.run([*command, "show", "nope", "--store", str(tmp_path / "s.db")],
                           capture_output=True, text=True, cwd=tmp_path, timeout=60)  # fmt: skip
    assert error.returncode == 1 and error.stderr.strip().splitlines() == [
        f"Error: No session with id 'nope' in {tmp_path / 's.db'}."
    ]


def test_the_readme_links_sources_and_says_where_samples_and_results_are():
    text = README.read_text(encoding="utf-8")
    assert (
        "https://github.com/pydantic/genai-prices" in text and "pypi.org/project/genai" not in text
    )
    assert "`samples/` holds" not in text and "m365_toolkit/samples/" in text
    assert "output/reports/security/m365_cis_audit*.json` under the root" in " ".join(text.split())
    assert '"/path/to/checkout"]' not in text
    import m365_toolkit

    samples = Path(m365_toolkit.__file__).parent / "samples"
    assert (samples / "m365_cis_audit_sample.json").is_file()
