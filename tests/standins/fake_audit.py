"""A stand-in for the CIS audit and remediation scripts, driven by its first argument.

Usage: fake_audit.py MODE [script parameters...]; the toolkit root is the working directory.
Every call appends its arguments to calls.jsonl there, and its pid to pids.txt.
"""

import json
import os
import shutil
import sys
import time
from pathlib import Path

SAMPLE = (
    Path(__file__).resolve().parents[2]
    / "src"
    / "m365_toolkit"
    / "samples"
    / "m365_cis_audit_sample.json"
)

mode, params = sys.argv[1], sys.argv[2:]
with open("calls.jsonl", "a", encoding="utf-8") as log:
    log.write(json.dumps({"mode": mode, "params": params}) + "\n")
with open("pids.txt", "a", encoding="utf-8") as pids:
    pids.write(f"{os.getpid()}\n")
reports = Path("output/reports/security")
reports.mkdir(parents=True, exist_ok=True)
target = reports / f"m365_cis_audit_{time.time_ns()}.json"

if mode == "ok":
    shutil.copy(SAMPLE, target)
    print("Audit finished")
elif mode == "single":
    controls = json.loads(SAMPLE.read_text(encoding="utf-8-sig"))
    target.write_text("\ufeff" + json.dumps(controls[0]), encoding="utf-8")
elif mode == "malformed":
    target.write_text('[{"ControlId": "1.1.1", "Status": ', encoding="utf-8")
elif mode == "fail":
    print(
        "Connect-ExchangeOnline: AADSTS50076 multi-factor authentication required", file=sys.stderr
    )
    sys.exit(3)
elif mode == "hang":
    time.sleep(600)
elif mode == "nothing":
    pass
elif mode == "remediate":
    print(
        "What if: Set-OrganizationConfig -OAuth2ClientProfileEnabled $true"
        if "-WhatIf" in params
        else "Applied: Set-OrganizationConfig -OAuth2ClientProfileEnabled $true"
    )
elif mode == "echo":  # a script that repeats its command line in its error output
    print("Cannot connect with", " ".join(params), file=sys.stderr)
    sys.exit(3)
