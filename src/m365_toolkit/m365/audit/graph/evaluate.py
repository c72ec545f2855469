"""Snapshot -> results: pure, so a saved snapshot re-evaluates offline to the same verdicts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from ....errors import ValidationError
from ...graph.outcome import Outcome
from .config import AuditConfig
from .controls import BY_ID, CONTROLS
from .endpoints import permission_for, short_path
from .model import ACCEPTED, ERROR, FAIL, SKIPPED, Control, Evaluation, Unavailable, View

_LICENCE_WORDS = ("licen", "premium", "subscription", "sku")


def select_controls(ids: Sequence[str] | None) -> tuple[Control, ...]:
    """The controls named by ``ids`` (catalogue order), or all of them for ``None``.

    Raises:
        ValidationError: an id is not implemented by the Graph engine.
    """
    if not ids:
        return CONTROLS
    unknown = [i for i in ids if i not in BY_ID]
    if unknown:
        raise ValidationError(
            f"The Graph engine has no control {', '.join(map(repr, unknown))}; it implements "
            f"{', '.join(BY_ID)}."
        )
    wanted = set(ids)
    return tuple(c for c in CONTROLS if c.id in wanted)


def evaluate(
    outcomes: Mapping[str, Outcome],
    config: AuditConfig,
    *,
    today: date,
    controls: Sequence[Control] = CONTROLS,
) -> list[Evaluation]:
    """Evaluate ``controls`` over a snapshot's outcomes, then apply accepted exceptions."""
    view = View(outcomes, today)
    return [evaluate_control(control, view, config, today) for control in controls]


def evaluate_control(control: Control, view: View, config: AuditConfig, today: date) -> Evaluation:
    """One control: its check, or skipped / error when an endpoint it needs has no body."""
    try:
        found = control.check(view, config)
    except Unavailable as exc:
        return _unavailable(control, exc.outcome)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        # a body of a shape the check did not expect: say so, never guess a verdict
        return Evaluation(
            control,
            ERROR,
            control.title,
            None,
            reason=f"Could not read Graph's answer ({type(exc).__name__}: {exc}).",
        )
    evaluation = Evaluation(
        control, found.status, found.expected, found.actual, found.evidence, found.reason
    )
    return apply_exception(evaluation, config, today)


def apply_exception(evaluation: Evaluation, config: AuditConfig, today: date) -> Evaluation:
    """A failing control with an active exception becomes ``Accepted``; after expiry, ``Fail``."""
    declared = config.exception_for(evaluation.control.id)
    if declared is None or evaluation.status != FAIL:
        return evaluation
    if not declared.active(today):
        return Evaluation(
            evaluation.control, FAIL, evaluation.expected, evaluation.actual,
            {"findings": evaluation.evidence, "expired_exception": declared.to_dict()},
            reason=f"The accepted exception expired on {declared.expires.isoformat()} "
            f"(owner {declared.owner}).",
        )  # fmt: skip
    return Evaluation(
        evaluation.control, ACCEPTED, evaluation.expected, evaluation.actual,
        {"findings": evaluation.evidence, "exception": declared.to_dict()},
        reason=f"Accepted until {declared.expires.isoformat()} by {declared.owner}: "
        f"{declared.reason}",
    )  # fmt: skip


def _unavailable(control: Control, outcome: Outcome) -> Evaluation:
    """403: skipped, naming the refused path's permission (or the licence when Graph says so);
    other 4xx: skipped (the feature is absent); 401 after a fresh sign-in, 429 beyond the
    caps, 5xx, network: error."""
    error = outcome.error or f"HTTP {outcome.status}"
    status = outcome.status
    where = f"{status} on {short_path(outcome.path)}"
    if status == 403:
        licence_hint = any(word in error.lower() for word in _LICENCE_WORDS)
        needs = permission_for(outcome.path) or " + ".join(control.permissions)
        if licence_hint and control.licence:
            why = f"the tenant lacks the licence {control.licence}"
        else:
            why = f"needs {needs}"
            if control.licence:
                why += f" (or the tenant lacks {control.licence})"
        reason = f"Skipped: {where}: {why}. Graph said: {error}"
        return Evaluation(control, SKIPPED, control.title, None, reason=reason)
    if status == 401:
        return Evaluation(control, ERROR, control.title, None,
                          reason=f"{where}: Graph rejected the token, also after signing in "
                          f"again. Graph said: {error}")  # fmt: skip
    if status is not None and 400 <= status < 500 and status != 429:
        return Evaluation(control, SKIPPED, control.title, None,
                          reason=f"Skipped: {where}: not available in this tenant. Graph "
                          f"said: {error}")  # fmt: skip
    return Evaluation(control, ERROR, control.title, None,
                      reason=f"Collecting {outcome.path} failed: {error}")  # fmt: skip
