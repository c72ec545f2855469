"""SharePoint tenant settings readable over Graph (``/admin/sharepoint/settings``)."""

from __future__ import annotations

from ..config import AuditConfig
from ..endpoints import SHAREPOINT
from ..model import Control, Verdict, View
from ._helpers import LEARN, is_false, setting, verdict

RESTRICTED_SHARING = ("externalUserSharingOnly", "existingExternalUserSharingOnly", "disabled")
_READ = ("SharePointTenantSettings.Read.All",)
_SHARING = f"{LEARN}/sharepoint/turn-external-sharing-on-or-off"


def _domain_lists(view: View, config: AuditConfig) -> Verdict:
    body = view.body(SHAREPOINT)
    mode = body.get("sharingDomainRestrictionMode")
    allowed = body.get("sharingAllowedDomainList") or []
    blocked = body.get("sharingBlockedDomainList") or []
    ok = (
        body.get("sharingCapability") == "disabled"
        or (mode == "allowList" and bool(allowed))
        or (mode == "blockList" and bool(blocked))
    )
    return verdict(
        ok,
        "sharing disabled, or an allow list / block list of domains that is not empty",
        {"sharingDomainRestrictionMode": mode, "allowed": allowed, "blocked": blocked},
    )


def _sync_domains(view: View, config: AuditConfig) -> Verdict:
    guids = view.body(SHAREPOINT).get("allowedDomainGuidsForSyncApp") or []
    return verdict(
        bool(guids),
        "allowedDomainGuidsForSyncApp lists at least one domain GUID (sync on joined PCs only)",
        {"allowedDomainGuidsForSyncApp": guids},
    )


CONTROLS = (
    Control(
        "7.2.1",
        "Ensure modern authentication for SharePoint applications is required",
        1,
        "E3",
        "High",
        (SHAREPOINT,),
        _READ,
        "SharePoint admin center > Policies > Access control > Apps that don't use modern "
        "authentication: Block access.",
        f"{LEARN}/graph/api/resources/sharepointsettings",
        setting(
            SHAREPOINT,
            "isLegacyAuthProtocolsEnabled",
            is_false,
            "isLegacyAuthProtocolsEnabled = false",
        ),  # fmt: skip
    ),
    Control(
        "7.2.3",
        "Ensure external content sharing is restricted",
        1,
        "E3",
        "High",
        (SHAREPOINT,),
        _READ,
        "SharePoint admin center > Policies > Sharing: 'New and existing guests' or stricter.",
        _SHARING,
        setting(
            SHAREPOINT,
            "sharingCapability",
            lambda v: v in RESTRICTED_SHARING,
            f"sharingCapability in {', '.join(RESTRICTED_SHARING)}",
        ),  # fmt: skip
    ),
    Control(
        "7.2.5",
        "Ensure that SharePoint guest users cannot share items they don't own",
        2,
        "E3",
        "Medium",
        (SHAREPOINT,),
        _READ,
        "SharePoint admin center > Policies > Sharing > More external sharing settings: "
        "clear 'Allow guests to share items they don't own'.",
        _SHARING,
        setting(
            SHAREPOINT,
            "isResharingByExternalUsersEnabled",
            is_false,
            "isResharingByExternalUsersEnabled = false",
        ),  # fmt: skip
    ),
    Control(
        "7.2.6",
        "Ensure SharePoint external sharing is managed through domain allow/deny lists",
        2,
        "E3",
        "Medium",
        (SHAREPOINT,),
        _READ,
        "SharePoint admin center > Policies > Sharing: limit external sharing by domain.",
        _SHARING,
        _domain_lists,
    ),
    Control(
        "7.3.2",
        "Ensure OneDrive sync is restricted for unmanaged devices",
        2,
        "E3",
        "Medium",
        (SHAREPOINT,),
        _READ,
        "SharePoint admin center > Settings > OneDrive > Sync: 'Allow syncing only on computers "
        "joined to specific domains', with the domain GUIDs.",
        f"{LEARN}/sharepoint/allow-syncing-only-on-specific-domains",
        _sync_domains,
    ),
)
