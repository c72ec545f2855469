"""Every M365_TOOLKIT_* variable is read in settings.py and documented in one table."""

import ast
import re
from pathlib import Path

import pytest

from m365_toolkit import settings
from m365_toolkit.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "m365_toolkit"
CONFIGURATION = ROOT / "docs" / "configuration.md"
NAME = re.compile(r"M365_TOOLKIT_[A-Z_]+")
ENV_NAMES = {"environ", "environb", "getenv", "getenvb"}


def _sources() -> list[Path]:
    return sorted((ROOT / "src").rglob("*.py"))


def test_every_variable_named_under_src_is_documented_and_in_settings():
    named = {m for path in _sources() for m in NAME.findall(path.read_text(encoding="utf-8"))}
    docs = set(NAME.findall(CONFIGURATION.read_text(encoding="utf-8")))
    table = {variable.name for variable in settings.VARIABLES}
    code = set(NAME.findall((PACKAGE / "settings.py").read_text(encoding="utf-8")))
    assert named, "no variable found; is the pattern right?"
    assert named - docs == set(), "add these to docs/configuration.md"
    assert named - table == set(), "add these to settings.VARIABLES"
    assert named <= code


def test_the_configuration_page_shows_the_settings_table_row_by_row():
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in CONFIGURATION.read_text(encoding="utf-8").splitlines()
        if line.startswith("| `M365_TOOLKIT_")
    ]
    expected = [[f"`{v.name}`", v.meaning, v.default] for v in settings.VARIABLES]
    assert rows == expected


def test_no_module_but_settings_reads_the_environment():
    readers = []
    for path in _sources():
        if path == PACKAGE / "settings.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute):
                reads = node.attr in ENV_NAMES
            elif isinstance(node, ast.ImportFrom):
                reads = node.module == "os" and bool({a.name for a in node.names} & ENV_NAMES)
            else:
                continue
            if reads:
                readers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert readers == [], "read environment variables through m365_toolkit.settings"


def test_settings_are_read_when_asked_and_blank_means_unset(monkeypatch, tmp_path):
    monkeypatch.delenv(settings.STORE, raising=False)
    assert settings.store() is None
    monkeypatch.setenv(settings.STORE, "  ")
    assert settings.store() is None
    monkeypatch.setenv(settings.STORE, " trail.db ")
    assert settings.store() == "trail.db"
    monkeypatch.setenv(settings.USER, "admin@contoso.com")
    assert settings.user() == "admin@contoso.com"
    monkeypatch.setenv(settings.COST_CONFIG, "costs.toml")
    assert settings.cost_config() == "costs.toml"
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(settings.ROOT, raising=False)
    assert settings.root() == tmp_path.absolute()
    monkeypatch.setenv(settings.ROOT, "kit")
    assert settings.root() == tmp_path / "kit"


def test_the_store_default_follows_the_variable(monkeypatch):
    from m365_toolkit.store import default_location

    monkeypatch.delenv(settings.STORE, raising=False)
    assert default_location() == str(Path("output") / "sessions" / "sessions.db")
    monkeypatch.setenv(settings.STORE, "elsewhere.json")
    assert default_location() == "elsewhere.json"


def test_the_audit_timeout_defaults_to_30_minutes_and_must_be_positive(monkeypatch):
    monkeypatch.delenv(settings.AUDIT_TIMEOUT, raising=False)
    assert settings.audit_timeout() == 1800.0
    monkeypatch.setenv(settings.AUDIT_TIMEOUT, "90")
    assert settings.audit_timeout() == 90.0
    for bad in ("soon", "0", "-5", "inf", "nan"):
        monkeypatch.setenv(settings.AUDIT_TIMEOUT, bad)
        with pytest.raises(ConfigError, match=f"M365_TOOLKIT_AUDIT_TIMEOUT .*{bad!r}"):
            settings.audit_timeout()


def test_command_overrides_are_split_like_a_shell_but_never_run_by_one(monkeypatch):
    monkeypatch.delenv(settings.AUDIT_COMMAND, raising=False)
    assert settings.command(settings.AUDIT_COMMAND) is None
    monkeypatch.setenv(settings.AUDIT_COMMAND, "python 'fake audit.py' --ok; rm -rf /")
    assert settings.command(settings.AUDIT_COMMAND) == [
        "python", "fake audit.py", "--ok;", "rm", "-rf", "/"
    ]  # fmt: skip
    monkeypatch.setenv(settings.REMEDIATION_COMMAND, "python 'unclosed")
    with pytest.raises(ConfigError, match="M365_TOOLKIT_REMEDIATION_COMMAND"):
        settings.command(settings.REMEDIATION_COMMAND)


def test_only_listed_variables_can_be_read():
    with pytest.raises(ValueError, match="M365_TOOLKIT_COLOUR"):
        settings.get("M365_TOOLKIT_COLOUR")
