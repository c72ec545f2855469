"""Every control the Graph engine implements, in CIS order (:data:`CONTROLS`)."""

from __future__ import annotations

import re

from ..model import Control
from . import admins, auth_methods, conditional_access, entra, sharepoint, tenant_settings


def _order(control: Control) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", control.id))


CONTROLS: tuple[Control, ...] = tuple(
    sorted(
        (
            *admins.CONTROLS,
            *entra.CONTROLS,
            *conditional_access.CONTROLS,
            *auth_methods.CONTROLS,
            *sharepoint.CONTROLS,
            *tenant_settings.CONTROLS,
        ),
        key=_order,
    )
)
"""The catalogue; ids are unique (a test checks it)."""

BY_ID: dict[str, Control] = {control.id: control for control in CONTROLS}
