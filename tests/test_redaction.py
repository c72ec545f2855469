"""Secrets never reach the trail: keys that name a secret, and secrets inside text values.

Tables, both ways: what must be redacted and what must stay readable (audit evidence and
counts that only look like secrets).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from m365_toolkit import SessionManager
from m365_toolkit._util.values import REDACTED, clean_mapping, is_secret_key, redact_text
from m365_toolkit.sessions.event import Event
from m365_toolkit.sessions.model import Session

SECRET_KEYS = [
    # whole words, any case and separator (what was matched before)
    "password", "Password", "PASSWD", "passwords", "secret", "client_secret", "clientSecret",
    "M365_CLIENT_SECRET", "token", "access_token", "accessToken", "refresh_token", "api_key",
    "apikey", "x-api-key", "X-API-Key", "APIKey", "authorization", "Authorization",
    "proxy-authorization", "credential", "credentials", "private_key", "privateKey",
    "db.password", "id_token",
    # run together, any case
    "accesstoken", "ACCESSTOKEN", "refreshtoken", "RefreshTOKEN", "clientsecret",
    "CLIENTSECRET", "privatekey", "dbpassword", "DBPassword", "adminpassword", "AdminPassword",
    "sessiontoken", "SessionToken", "password1", "Password2", "auth_tokens", "AuthTokens",
    "authtokens", "access_tokens", "refreshTokens", "xapikey", "newpassword",
    # secrets named by their value words or by the service
    "secretText", "clientSecretValue", "password_hash", "password_confirmation",
    "AccountKey", "account_key", "SharedAccessKey", "SharedAccessSignature", "sig",
    "Ocp-Apim-Subscription-Key", "storageKey", "passphrase", "Cookie", "Set-Cookie",
    "DB_PWD", "bearer_token", "sas_token",
]  # fmt: skip

KEPT_KEYS = [
    # counts and settings that only mention a secret
    "max_tokens", "prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens",
    "reasoning_tokens", "input_tokens", "output_tokens", "maxTokens", "tokens", "num_tokens",
    "passwordValidityPeriodInDays", "passwordNotificationWindowInDays", "passwordPolicies",
    "tokenLifetimePolicies", "tokenIssuancePolicies", "refreshTokensValidFromDateTime",
    "accessTokenLifetime", "lastPasswordChangeDateTime", "passwordProfile",
    "forceChangePasswordNextSignIn", "minimumPasswordLength", "passwordExpirationDays",
    "secret_name", "secretId", "token_type", "tokenEndpoint", "authorizationUrl",
    "credentialType", "cookiePolicy", "valid_tokens",
    # words that contain a secret's letters
    "tenant", "keyword", "author", "secretary", "tokenizer", "passport", "monkey", "site",
    "apis", "signature", "signInFrequency", "key", "primary_key", "hotkey",
    # audit evidence from Graph, Exchange and Active Directory
    "passwordNeverExpires", "strongPasswordRequired", "isPasswordResetEnabled",
    "selfServicePasswordReset", "passwordHashSync", "passwordWritebackEnabled", "pwdLastSet",
    "passwordLastSet", "secretExpiry", "tokenType", "tokenCount", "tokenUsage",
    "credentialCount", "secretCount", "passwordMinLength", "max_completion_tokens",
    "maxCompletionTokens", "tokens_per_minute", "authenticationMethods", "auth_type",
    "oauth2PermissionScopes", "signInAudience", "keyVaultName", "keyId", "BasicAuthEnabled",
    "AllowBasicAuthSmtp", "SmtpClientAuthenticationDisabled", "modernAuthEnabled",
    "legacyAuthBlocked", "passwordless",
]  # fmt: skip


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_keys_naming_a_secret_are_recognised(key):
    assert is_secret_key(key)
    assert clean_mapping({key: "s3cr3t-value"}, "metadata") == {key: REDACTED}


@pytest.mark.parametrize("key", KEPT_KEYS)
def test_keys_that_are_settings_or_counts_are_kept(key):
    assert not is_secret_key(key)
    assert clean_mapping({key: "90"}, "metadata") == {key: "90"}


REDACTED_TEXT = [
    # URLs with a password: only the password goes
    ("postgresql://admin:hunter2@db.example.com:5432/audit",
     "postgresql://admin:[REDACTED]@db.example.com:5432/audit"),
    ("postgresql://admin:p@ss:w0rd@db.example.com/audit",
     "postgresql://admin:[REDACTED]@db.example.com/audit"),
    ("connecting to https://svc:S3cr3t!@contoso-admin.sharepoint.com/sites/x now",
     "connecting to https://svc:[REDACTED]@contoso-admin.sharepoint.com/sites/x now"),
    ("https://u:pw@host/users/bob@contoso.com", "https://u:[REDACTED]@host/users/bob@contoso.com"),
    ("redis://:tok3n@cache:6379/0", "redis://:[REDACTED]@cache:6379/0"),
    ("ftp://user:pa%40ss@files.example.com", "ftp://user:[REDACTED]@files.example.com"),
    ("(see https://a:b@c.example)", "(see https://a:[REDACTED]@c.example)"),
    # Authorization headers
    ("Authorization: Bearer abc.def.ghi", "Authorization: Bearer [REDACTED]"),
    ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic [REDACTED]"),
    ("authorization=Bearer xyz", "authorization=Bearer [REDACTED]"),
    ("Proxy-Authorization: Negotiate YIIJvwYGKwYBBQUCoIIJsz",
     "Proxy-Authorization: Negotiate [REDACTED]"),
    ("sent Bearer abcDEF123456789 to Graph", "sent Bearer [REDACTED] to Graph"),
    ("header Basic dXNlcjpwYXNz", "header Basic [REDACTED]"),
    ("-H 'Authorization: Bearer 0123456789abcdef'", "-H 'Authorization: Bearer [REDACTED]'"),
    # JSON Web Tokens
    ("got eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl from AAD",
     "got [REDACTED] from AAD"),
    ("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", REDACTED),
    ("id=eyJ0eXAiOiJKV1QifQ.eyJpc3MiOiJ4In0.sig_part-1", "id=[REDACTED]"),
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc-def_123",
     "Authorization: Bearer [REDACTED]"),
    # connection strings
    ("Server=tcp:x.database.windows.net;User ID=sa;Password=Hunter2!;Encrypt=true",
     "Server=tcp:x.database.windows.net;User ID=sa;Password=[REDACTED];Encrypt=true"),
    ("Data Source=db;Uid=sa;Pwd=s3cr3t;", "Data Source=db;Uid=sa;Pwd=[REDACTED];"),
    ("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=abc123+/==;EndpointSuffix=x",
     "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=[REDACTED];EndpointSuffix=x"),
    ("Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=root;SharedAccessKey=k3y=",
     "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=root;SharedAccessKey=[REDACTED]"),
    ("host=db user=x password=y dbname=z", "host=db user=x password=[REDACTED] dbname=z"),
    # SAS signatures
    ("https://acct.blob.core.windows.net/c/f?sv=2022-11-02&se=2030&sig=abcd%2Bef%3D&sp=r",
     "https://acct.blob.core.windows.net/c/f?sv=2022-11-02&se=2030&sig=[REDACTED]&sp=r"),
    ("?sig=XYZ", "?sig=[REDACTED]"),
    ("SharedAccessSignature=sv=2020&sig=x", "SharedAccessSignature=[REDACTED]&sig=[REDACTED]"),
    # pairs in free text, messages and command lines
    ("login failed: password=hunter2 for user=bob",
     "login failed: password=[REDACTED] for user=bob"),
    ("token=abc secret=def api_key=ghi", "token=[REDACTED] secret=[REDACTED] api_key=[REDACTED]"),
    ("client_secret=abc&grant_type=client_credentials",
     "client_secret=[REDACTED]&grant_type=client_credentials"),
    ('config {"api_key": "sk-123", "max_tokens": 4000}',
     'config {"api_key": "[REDACTED]", "max_tokens": 4000}'),
    ("{'password': 'p w d'}", "{'password': '[REDACTED]'}"),
    ("x-api-key: abc123", "x-api-key: [REDACTED]"),
    ("PASSWORD = hunter2", "PASSWORD = [REDACTED]"),
    ("apikey=AIzaSy123", "apikey=[REDACTED]"),
    ("access_token=ya29.a0 refresh_token=1//0g",
     "access_token=[REDACTED] refresh_token=[REDACTED]"),
    ("Connect-PnPOnline -Url https://x -ClientSecret s3cr3t -Tenant t",
     "Connect-PnPOnline -Url https://x -ClientSecret [REDACTED] -Tenant t"),
    ("pwsh -File a.ps1 --password='p w' -Force", "pwsh -File a.ps1 --password='[REDACTED]' -Force"),
    ("--client-secret=abc", "--client-secret=[REDACTED]"),
    ("The audit script exited with code 3: secret=abc",
     "The audit script exited with code 3: secret=[REDACTED]"),
    ("dbpassword=x1 adminPassword=x2 password1=x3",
     "dbpassword=[REDACTED] adminPassword=[REDACTED] password1=[REDACTED]"),
]  # fmt: skip

KEPT_TEXT = [
    "Running CIS control 1.1.1",
    "Connecting to Exchange Online",
    "Session started for security_audit",
    "Session completed with status: success",
    "https://contoso-admin.sharepoint.com",
    "https://graph.microsoft.com:443/v1.0/users/alice@contoso.com",
    "mailto:alice@contoso.com",
    "alice@contoso.com signed in",
    "passwordValidityPeriodInDays=90",
    "passwordPolicies: DisablePasswordExpiration",
    "max_tokens=4000 prompt_tokens=1500",
    "tokenLifetimePolicies: []",
    "Basic authentication is enabled for 3 mailboxes",
    "Bearer tokens are used by the app",
    "the token is valid",
    "-Password -Force",
    "Password reset required for 2 users",
    "Step 2: checking mailbox=alice@contoso.com",
    "Time 10:30:00, user=admin",
    "keyword=finance; author=bob",
    "Error executing tool run_security_audit: The audit script exited with code 3",
    "CIS 5.2.3.4: passwordNeverExpires is false",
    "",
    "eyJ is how a JWT begins",
    "C:\\Users\\admin\\output",
    "https://admin:[REDACTED]@db.example.com/x",
    "Applying CIS 1.1.3: disable legacy authentication",
    "Analysis finished: 12 risk findings",
    "Audit completed: 92.5% compliance",
    "Found 3 apps with expiring secrets",
    "keyCredentials expire in 30 days",
    "tokens used: 1500",
    "prompt_tokens: 1500, completion_tokens: 2000",
    "Set-MsolUser -PasswordNeverExpires $true",
    "https://login.microsoftonline.com/common/oauth2/v2.0/token",
    "OAuth2 authorization code flow",
    "user:alice group:admins",
    "ratio=0.5&page=2",
    "Results file: output/reports/audit_20260101.json",
]


@pytest.mark.parametrize(("text", "expected"), REDACTED_TEXT)
def test_secrets_inside_text_are_redacted_and_the_rest_kept(text, expected):
    assert redact_text(text) == expected
    assert redact_text(expected) == expected  # redacting twice changes nothing more


@pytest.mark.parametrize("text", KEPT_TEXT)
def test_text_without_secrets_is_kept_as_it_is(text):
    assert redact_text(text) == text


def test_the_tables_hold_at_least_a_hundred_cases_each_way():
    assert len(SECRET_KEYS) + len(REDACTED_TEXT) >= 100
    assert len(KEPT_KEYS) + len(KEPT_TEXT) >= 100


def test_string_values_of_metadata_and_event_data_are_redacted_at_any_depth():
    cleaned = clean_mapping(
        {
            "tool": "run_security_audit",
            "arguments": {"spo_admin_url": "https://svc:pw@contoso-admin.sharepoint.com"},
            "headers": [{"X-Trace": "Authorization: Bearer abc123def456"}],
            "allowAppPasswords": True,
            "password": None,
        },
        "metadata",
    )
    assert cleaned == {
        "tool": "run_security_audit",
        "arguments": {"spo_admin_url": f"https://svc:{REDACTED}@contoso-admin.sharepoint.com"},
        "headers": [{"X-Trace": f"Authorization: Bearer {REDACTED}"}],
        "allowAppPasswords": True,  # a boolean setting, never a credential
        "password": None,
    }


def test_event_descriptions_are_redacted_when_made_and_when_imported():
    event = Event.new("error", "Connect failed: password=hunter2")
    assert event.description == f"Connect failed: password={REDACTED}"
    imported = Event.from_dict(
        {"timestamp": "2026-01-01T00:00:00+00:00", "type": "error",
         "description": "token=abc", "data": {"accesstoken": "x"}}
    )  # fmt: skip
    assert imported.description == f"token={REDACTED}"
    assert imported.data == {"accesstoken": REDACTED}


def test_no_secret_reaches_a_real_sqlite_store(tmp_path: Path):
    # Secrets long enough not to turn up by chance among the chain's random-looking hashes
    # (two bytes did, about one run in thirty).
    s1, s2, s3, s4, s5 = (f"Sekr{n}-q7ZvWx" for n in range(1, 6))
    store = tmp_path / "sessions.db"
    with SessionManager(store) as manager:
        session = manager.create_session(
            "security_audit", metadata={"clientsecret": s1, "url": f"https://u:{s2}@h/x"}
        )
        session.add_event("progress", f"Using Authorization: Bearer {s3}", {"dbpassword": s4})
        try:
            raise RuntimeError(f"login failed: password={s5}")
        except RuntimeError as exc:
            session.add_event("error", str(exc))
        session.complete("error")
    raw = store.read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("sessions.db-*"))
    for secret in (s1, s2, s3, s4, s5):
        assert secret.encode() not in raw


def test_imported_sessions_are_redacted(tmp_path: Path):
    record = Session("security_audit").to_dict()
    record["metadata"] = {"note": "sig=abc123", "refreshtoken": "r"}
    record["events"] = [
        {
            "timestamp": record["start_time"],
            "type": "start",
            "description": "secret=xyz",
            "data": {},
        }
    ]
    source = tmp_path / "log.json"
    source.write_text(json.dumps([record]), encoding="utf-8")
    with SessionManager(tmp_path / "sessions.db") as manager:
        manager.import_json(source)
        stored = manager.get_session(record["session_id"])
    assert stored is not None
    assert stored.metadata == {"note": f"sig={REDACTED}", "refreshtoken": REDACTED}
    assert stored.events[0].description == f"secret={REDACTED}"
