"""Running the toolkit's PowerShell scripts (or stand-ins) as subprocesses, never via a shell."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import anyio
from anyio.abc import Process

from .. import settings
from .._util.values import redact_text
from ..errors import SessionsError
from . import DEFAULT_TIMEOUT as DEFAULT_TIMEOUT  # re-exported beside the runner

AUDIT_SCRIPT = Path("scripts/powershell/Invoke-M365CISAudit.ps1")
REMEDIATION_SCRIPT = Path("scripts/powershell/PostRemediateM365CIS.ps1")
AUDIT_COMMAND_ENV = settings.AUDIT_COMMAND
REMEDIATION_COMMAND_ENV = settings.REMEDIATION_COMMAND
_OUTPUT_LIMIT = 2_000_000  # bytes of stdout/stderr kept from a script


class ScriptError(SessionsError):
    """A script could not be started, failed, or ran too long."""


@dataclass(frozen=True, slots=True)
class ScriptResult:
    """What a finished script printed and returned."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    def summary(self, limit: int = 1_000) -> str:
        """The end of stderr (else stdout), for an error message."""
        text = (self.stderr.strip() or self.stdout.strip())[-limit:]
        return text or "(no output)"


def script_command(root: Path, script: Path, env_name: str) -> list[str]:
    """The command that runs ``script``: ``pwsh`` under ``root``, or the ``env_name`` override.

    The override is a command line split like a shell would (``shlex``) but never run by one.
    """
    override = settings.command(env_name)
    if override:
        return override
    return ["pwsh", "-NoProfile", "-ExecutionPolicy", "Bypass", "-File", str(root / script)]


async def run_script(argv: list[str], cwd: Path, timeout: float) -> ScriptResult:
    """Run a command to completion; kill it on timeout or cancellation.

    Raises:
        ScriptError: The program is missing, or it ran longer than ``timeout`` seconds.
    """
    try:
        process = await anyio.open_process(argv, cwd=cwd, stdin=None)
    except FileNotFoundError:
        hint = " Install PowerShell 7 (pwsh)" if argv[0] == "pwsh" else ""
        raise ScriptError(
            f"Cannot run {argv[0]!r}: no such program.{hint} or set "
            f"{AUDIT_COMMAND_ENV} / {REMEDIATION_COMMAND_ENV} to the command to use."
        ) from None
    except OSError as exc:
        raise ScriptError(f"Cannot run {argv[0]!r}: {exc.strerror}.") from exc
    async with process:
        try:
            with anyio.fail_after(timeout):
                stdout, stderr = await _collect(process)
                returncode = await process.wait()
        except TimeoutError:
            await _kill(process)
            raise ScriptError(
                f"The script did not finish within {timeout:g} seconds and was stopped. "
                "Raise the timeout (--audit-timeout) if the tenant is large."
            ) from None
        except BaseException:  # cancellation: never leave the script running
            await _kill(process)
            raise
    return ScriptResult(argv, returncode, stdout, stderr)


async def run_checked(argv: list[str], cwd: Path, timeout: float, what: str) -> ScriptResult:
    """Run a script like :func:`run_script`; a non-zero exit is an error quoting its output.

    Args:
        argv: The command line.
        cwd: The folder to run it in (the toolkit root).
        timeout: Seconds before it is stopped.
        what: What the script is ("audit", "remediation"), for the error message.

    Raises:
        ScriptError: The script could not run, ran too long or exited with a non-zero code.
    """
    result = await run_script(argv, cwd, timeout)
    if result.returncode != 0:
        raise ScriptError(
            f"The {what} script exited with code {result.returncode}: "
            f"{redact_text(result.summary())}"  # it may repeat its command line's secrets
        )
    return result


async def _collect(process: Process) -> tuple[str, str]:
    chunks: dict[str, list[bytes]] = {"stdout": [], "stderr": []}

    async def drain(name: str) -> None:
        stream = getattr(process, name)
        size = 0
        async for chunk in stream:
            if size < _OUTPUT_LIMIT:
                chunks[name].append(chunk)
            size += len(chunk)

    async with anyio.create_task_group() as group:
        group.start_soon(drain, "stdout")
        group.start_soon(drain, "stderr")
    return tuple(  # type: ignore[return-value]
        b"".join(chunks[name]).decode("utf-8", errors="replace") for name in ("stdout", "stderr")
    )


async def _kill(process: Process) -> None:
    with anyio.CancelScope(shield=True):
        if process.returncode is None:
            process.kill()
            await process.wait()
