"""``m365-toolkit costs``: LLM cost reports, CSV export and budgets."""

from __future__ import annotations

from typing import Any

import click

from ..costs.model import GROUPS, usd_text
from ..sessions.manager import SessionManager
from ..sessions.query import window_start
from . import render
from .app import cli, console, days_option, echo_json, store_options, window_text


@cli.group()
def costs() -> None:
    """LLM costs linked to sessions: reports, CSV export and budgets."""


def _tracker(manager: SessionManager, **options: Any) -> Any:
    from ..costs.tracker import GPT5CostTracker  # needs the costs extra

    return GPT5CostTracker(manager=manager, **options)


@costs.command("report")
@days_option("Requests made in the last N days.")
@click.option(
    "--by",
    "group_by",
    type=click.Choice(GROUPS),
    default="model",
    show_default=True,
    help="What to group the costs by.",
)
@store_options
def cost_report(manager: SessionManager, as_json: bool, days: float | None, group_by: str) -> None:
    """Costs, requests and tokens grouped by model, type, operation, user or day."""
    groups = manager.store.costs.report(group_by, window_start(days))
    if as_json:
        echo_json([group.to_dict(group_by) for group in groups])
        return
    if not groups:
        click.echo(f"No LLM costs {window_text(days)} in {manager.storage_path}.")
        return
    console().print(render.costs_table(groups, group_by, days))


@costs.command("export")
@click.option(
    "--csv",
    "csv_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="The CSV file to write.",
)
@store_options
def cost_export(manager: SessionManager, as_json: bool, csv_path: str) -> None:
    """Write every cost record to a CSV file."""
    rows = _tracker(manager).export_to_csv(csv_path)
    if as_json:
        echo_json({"path": csv_path, "rows": rows})
    else:
        click.echo(f"Wrote {rows} cost record(s) to {csv_path}.")


@costs.command("budget")
@click.option("--daily", type=float, help="Daily limit in USD for all spending.")
@click.option("--monthly", type=float, help="Monthly limit in USD for all spending.")
@click.option("--user-daily", type=float, help="Daily limit in USD per user.")
@click.option("--user-monthly", type=float, help="Monthly limit in USD per user.")
@click.option("--user", help="Whose per-user spend to show [default: the current user].")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Cost config file with a [budgets] table [env M365_TOOLKIT_COST_CONFIG].",
)
@store_options
def cost_budget(
    manager: SessionManager,
    as_json: bool,
    daily: float | None,
    monthly: float | None,
    user_daily: float | None,
    user_monthly: float | None,
    user: str | None,
    config_file: str | None,
) -> None:
    """Current spend against each budget (from the options or the cost config file)."""
    tracker = _tracker(
        manager, budget_limit=daily, monthly_limit=monthly, user_daily_limit=user_daily,
        user_monthly_limit=user_monthly, user=user, config_file=config_file,
    )  # fmt: skip
    statuses = tracker.budget_status()
    if as_json:
        echo_json([
            {"budget": s.budget.name, "limit": usd_text(s.budget.limit),
             "spent": usd_text(s.spent), "remaining": usd_text(s.remaining),
             "exhausted": s.exhausted}
            for s in statuses
        ])  # fmt: skip
        return
    if not statuses:
        raise click.UsageError(
            "No budget is set: give --daily, --monthly, --user-daily or --user-monthly, "
            "or a [budgets] table in the cost config file."
        )
    console().print(render.budgets_table(statuses, tracker.user))
