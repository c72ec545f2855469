"""The Graph engine's collection done with msgraph-sdk, for bench_graph's ratio.

Run by bench_graph.py with the interpreter of a throwaway virtual environment that has
msgraph-sdk installed (it is never a dependency of this project)::

    python3 -m venv /tmp/msgraph && /tmp/msgraph/bin/pip install msgraph-sdk
    python bench/bench_graph.py --msgraph-python /tmp/msgraph/bin/python

Arguments: the fake Graph's base URL, its CA certificate, the tenant id, client id and secret,
and the privileged roles' template ids (comma-separated).
It asks, with the SDK's fluent request builders and typed models, for the same v1.0 paths the
engine collects (``$select``, ``$top`` and ``$filter`` as the engine sends them, every
``@odata.nextLink`` followed, then each privileged role's members), and prints one JSON line:
the import time, the time from sign-in to the first answer, the time of the whole collection,
and the number of objects read per path (the bench checks them against the engine's).
"""

from __future__ import annotations

import time

started = time.perf_counter()

import asyncio  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from importlib.metadata import version  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

import httpx  # noqa: E402
from azure.identity import ClientSecretCredential  # noqa: E402
from kiota_abstractions.base_request_configuration import RequestConfiguration  # noqa: E402
from kiota_authentication_azure.azure_identity_authentication_provider import (  # noqa: E402
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient  # noqa: E402
from msgraph.generated.models.o_data_errors.o_data_error import ODataError  # noqa: E402
from msgraph.graph_request_adapter import options as graph_options  # noqa: E402
from msgraph_core import GraphClientFactory  # noqa: E402

imported = time.perf_counter() - started

USER_FIELDS = [
    "id", "displayName", "userPrincipalName", "userType", "accountEnabled",
    "onPremisesSyncEnabled", "assignedLicenses", "employeeHireDate",
]  # fmt: skip
GROUP_FIELDS = ["id", "displayName", "groupTypes", "visibility", "membershipRule"]
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"


def query(builder: Any, **parameters: Any) -> RequestConfiguration[Any]:
    """A request configuration with the builder's own query parameters class."""
    name = type(builder).__name__ + "GetQueryParameters"
    return RequestConfiguration(query_parameters=getattr(type(builder), name)(**parameters))


async def every_page(builder: Any, config: RequestConfiguration[Any] | None = None) -> int:
    """Objects in a collection, following ``@odata.nextLink`` as the SDK's users do; none
    where Graph refused (the engine records the refusal and reads nothing either)."""
    try:
        page = await builder.get(request_configuration=config)
    except ODataError:
        return 0
    count = len(page.value or [])
    while page.odata_next_link:
        page = await builder.with_url(page.odata_next_link).get()
        count += len(page.value or [])
    return count


async def one(builder: Any, config: RequestConfiguration[Any] | None = None) -> int:
    try:
        return 0 if await builder.get(request_configuration=config) is None else 1
    except ODataError:
        return 0


async def collect(client: GraphServiceClient, admin_roles: set[str]) -> dict[str, int]:
    organization = ["id", "displayName", "onPremisesSyncEnabled"]
    policies = client.policies
    roles = client.directory_roles
    elig = client.role_management.directory.role_eligibility_schedule_instances
    spns = client.service_principals
    third_party = "appId eq 'c1f33bc0-bdb4-4248-ba9b-096807ddb43e'"
    jobs: dict[str, Any] = {
        "authorizationPolicy": one(policies.authorization_policy),
        "adminConsentRequestPolicy": one(policies.admin_consent_request_policy),
        "securityDefaults": one(policies.identity_security_defaults_enforcement_policy),
        "authenticationMethodsPolicy": one(policies.authentication_methods_policy),
        "activityBasedTimeoutPolicies": every_page(policies.activity_based_timeout_policies),
        "conditionalAccess": every_page(client.identity.conditional_access.policies),
        "domains": every_page(client.domains),
        "organization": every_page(
            client.organization,
            query(client.organization, select=organization),
        ),
        "onPremisesSynchronization": every_page(client.directory.on_premises_synchronization),
        "directoryRoles": every_page(
            roles, query(roles, select=["id", "displayName", "roleTemplateId"])
        ),
        "subscribedSkus": every_page(
            client.subscribed_skus, query(client.subscribed_skus, select=["skuId", "skuPartNumber"])
        ),
        "userRegistrationDetails": every_page(
            client.reports.authentication_methods.user_registration_details
        ),
        "sharepointSettings": one(client.admin.sharepoint.settings),
        "users": every_page(client.users, query(client.users, select=USER_FIELDS, top=999)),
        "groups": every_page(client.groups, query(client.groups, select=GROUP_FIELDS, top=999)),
        "globalAdminEligible": every_page(
            elig, query(elig, filter=f"roleDefinitionId eq '{GLOBAL_ADMIN}'")
        ),
        "thirdPartyStorage": every_page(
            spns,
            query(
                spns, filter=third_party, select=["id", "appId", "displayName", "accountEnabled"]
            ),
        ),
        "groupSettings": every_page(client.group_settings),
    }
    counts = dict(zip(jobs, await asyncio.gather(*jobs.values()), strict=True))
    # Then, as the engine does, the members of each privileged role.
    listed = await roles.get(
        request_configuration=query(roles, select=["id", "displayName", "roleTemplateId"])
    )
    members = [
        every_page(
            roles.by_directory_role_id(role.id).members,
            query(roles.by_directory_role_id(role.id).members, select=["id"]),
        )
        for role in listed.value or []
        if role.role_template_id in admin_roles
    ]
    counts["roleMembers"] = sum(await asyncio.gather(*members))
    return counts


async def main(
    base_url: str, ca_bundle: str, tenant: str, client_id: str, secret: str, admin_roles: str
) -> None:
    begun = time.perf_counter()
    credential = ClientSecretCredential(
        tenant,
        client_id,
        secret,
        authority=base_url,
        disable_instance_discovery=True,
        connection_verify=ca_bundle,
    )
    auth = AzureIdentityAuthenticationProvider(
        credential, scopes=[f"{base_url}/.default"], allowed_hosts=[urlsplit(base_url).hostname]
    )
    # A long timeout: the SDK parses each page on the event loop, and the connections
    # waiting meanwhile would otherwise time out (httpx's default is 5 s).
    http = httpx.AsyncClient(verify=ca_bundle, base_url=f"{base_url}/v1.0", timeout=120)
    http = GraphClientFactory.create_with_default_middleware(client=http, options=graph_options)
    adapter = GraphRequestAdapter(auth, http)
    adapter.base_url = f"{base_url}/v1.0"
    client = GraphServiceClient(request_adapter=adapter)
    organization = ["id", "displayName", "onPremisesSyncEnabled"]
    await client.organization.get(query(client.organization, select=organization))
    first = time.perf_counter() - begun
    begun = time.perf_counter()
    counts = await collect(client, set(admin_roles.split(",")))
    seconds = time.perf_counter() - begun
    await http.aclose()
    print(
        json.dumps(
            {
                "version": version("msgraph-sdk"),
                "import_seconds": imported,
                "first_request_seconds": first,
                "collect_seconds": seconds,
                "counts": counts,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:7]))
