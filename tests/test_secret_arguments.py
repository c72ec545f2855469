"""A secret in the ``spo_admin_url`` argument (``https://user:password@...``, ``?sig=...``)
reaches the audit script as given, and nothing else: not the client's message, the server's
log, the CLI's error or any stored byte (issue 9)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio
from click.testing import CliRunner
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from m365_toolkit.cli import cli

STANDIN = Path(__file__).resolve().parent / "standins" / "fake_audit.py"
SECRETS = ["hunter2-pw", "hunter3-pw", "sig-secret-4"]
URLS = [
    "https://admin:hunter2-pw@contoso-admin.sharepoint.com",  # the script repeats it, exit 3
    "http://admin:hunter3-pw@contoso-admin.sharepoint.com",  # refused: not https
    "https://contoso-admin.sharepoint.com/?sig=sig-secret-4",
]


def _stored_bytes(root: Path) -> bytes:
    return b"".join(path.read_bytes() for path in (root / "output").rglob("*") if path.is_file())


def _script_saw(root: Path) -> list[list[str]]:
    lines = (root / "calls.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["params"] for line in lines]


def test_mcp_passes_the_real_url_to_the_script_and_records_it_redacted(tmp_path: Path):
    root, stderr = tmp_path / "toolkit", tmp_path / "stderr.log"
    root.mkdir()
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "m365_toolkit", "mcp", "--root", str(root)],
        env={"M365_TOOLKIT_AUDIT_COMMAND": f"{sys.executable} {STANDIN} echo"},
        cwd=str(root),
    )

    async def calls() -> list[str]:
        texts = []
        with stderr.open("w", encoding="utf-8") as errlog:
            async with Client(stdio_client(params, errlog=errlog)) as client:
                for url in URLS:
                    result = await client.call_tool(
                        "run_security_audit", {"spo_admin_url": url, "engine": "powershell"}
                    )
                    assert result.is_error
                    texts.append("\n".join(block.text for block in result.content))
        return texts

    texts = anyio.run(calls)
    assert "[REDACTED]" in texts[0] and "exited with code 3" in texts[0]
    log, stored = stderr.read_text(encoding="utf-8"), _stored_bytes(root)
    assert stored, "the sessions were stored"
    for secret in SECRETS:
        assert all(secret not in text for text in texts), texts
        assert secret not in log
        assert secret.encode() not in stored
    saw = _script_saw(root)  # the script itself got the real values (the http one never ran)
    assert [call[call.index("-SPOAdminUrl") + 1] for call in saw] == [URLS[0], URLS[2]]


def test_the_cli_error_and_trail_never_show_the_password(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("M365_TOOLKIT_AUDIT_COMMAND", f"{sys.executable} {STANDIN} echo")
    monkeypatch.chdir(tmp_path)
    for url in URLS:
        result = CliRunner().invoke(
            cli, ["audit", "run", "--engine", "powershell", "--spo-admin-url", url,
                  "--root", str(tmp_path)],
        )  # fmt: skip
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        for secret in SECRETS:
            assert secret not in result.output
    for secret in SECRETS:
        assert secret.encode() not in _stored_bytes(tmp_path)
