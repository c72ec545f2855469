"""Runs the guide's Python snippets in order, in one namespace, as a user pasting them would.

Usage: python guide_runner.py GUIDE.md WORKDIR  -> prints one JSON report on stdout.

Two readings make the guide's fragments runnable without changing what they do: a block
that shows a "✅ Good" and a "❌ Bad" way holds two separate examples, and an example that
uses ``session`` without creating it continues with a session of its own, as the text
around it implies. Example paths under ``/path/to/custom`` go to WORKDIR.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import sys
import traceback
import types
from pathlib import Path

FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
PLACEHOLDER = re.compile(r"^(\s*)# \.\.\..*$", re.M)  # "# ... perform audit ..." stands for work
EXAMPLE_MARK = re.compile(r"^(?=# [✅❌])", re.M)


def snippets(guide: str) -> list[tuple[str, str]]:
    """(section heading, code) for each Python block, in order."""
    found = []
    for match in FENCE.finditer(guide):
        headings = re.findall(r"^#+ (.+)$", guide[: match.start()], re.M)
        found.append((headings[-1] if headings else "", match.group(1)))
    return found


def main() -> None:
    guide, workdir = Path(sys.argv[1]).read_text(encoding="utf-8"), sys.argv[2]
    namespace: dict[str, object] = {"__name__": "__guide__"}
    report = []
    for heading, code in snippets(guide):
        code = PLACEHOLDER.sub(r"\1pass", code)
        code = code.replace("/path/to/custom", f"{workdir}/custom").replace(
            "/custom/path", f"{workdir}/custom2"
        )
        if heading == "Integration with MCP Server":  # the snippet runs inside a server method
            from src.core.session_manager import get_session_manager

            namespace["self"] = types.SimpleNamespace(session_manager=get_session_manager())
            namespace["spo_admin_url"] = "https://contoso-admin.sharepoint.com"
        out = io.StringIO()
        sources = [part for part in EXAMPLE_MARK.split(code) if part.strip()]
        try:
            examples = [compile(part, f"<guide: {heading}>", "exec") for part in sources]
        except SyntaxError as exc:
            report.append({"heading": heading, "status": "syntax", "error": str(exc)})
            continue
        try:
            with contextlib.redirect_stdout(out):
                for example, source in zip(examples, sources, strict=True):
                    if "session." in source and "session = " not in source:
                        from src.core.session_manager import create_session

                        namespace["session"] = create_session("security_audit")
                    exec(example, namespace)
        except Exception:
            report.append(
                {"heading": heading, "status": "error", "error": traceback.format_exc(),
                 "stdout": out.getvalue()}
            )  # fmt: skip
        else:
            report.append({"heading": heading, "status": "ok", "stdout": out.getvalue()})
    print(json.dumps(report))


if __name__ == "__main__":
    main()
