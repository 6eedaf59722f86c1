"""The shipped provider catalog and its loader. Pure Python: no Django needed."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

PROJECT_ROOT = Path(__file__).resolve().parents[2]
if str(PROJECT_ROOT) not in sys.path:  # runnable with `-p no:django` and no pytest pythonpath setting
    sys.path.insert(0, str(PROJECT_ROOT))

from providers.catalog_loader import (  # noqa: E402
    CATALOG_DIR,
    CONNECTION_DERIVED_PLACEHOLDERS,
    PROVIDER_ENTRY_SCHEMA,
    CatalogError,
    MissingPlaceholder,
    load_catalog,
    placeholders,
    render_template,
    validate_entry,
)

REQUIRED_PROVIDERS = {
    "google_calendar",
    "outlook_calendar",
    "bamboohr",
    "workday",
    "rippling",
    "docusign",
    "hellosign",
    "linkedin",
    "indeed",
    "glassdoor",
    "gmail",
    "outlook_mail",
    "slack",
    "microsoft_teams",
    "stripe",
    "twilio",
    "sendgrid",
    "paypal",
    "salesforce",
    "hubspot",
    "google_drive",
    "dropbox",
    "zendesk",
    "github",
    "custom_webhook",
    "custom_api",
}


@pytest.fixture(scope="module")
def catalog() -> dict[str, dict]:
    return {entry["provider"]: entry for entry in load_catalog()}


def _entry(key: str) -> dict:
    return json.loads((CATALOG_DIR / f"{key}.json").read_text(encoding="utf-8"))


def _write(directory: Path, name: str, entry: dict) -> Path:
    path = directory / f"{name}.json"
    path.write_text(json.dumps(entry, indent=2), encoding="utf-8")
    return path


def test_entry_schema_is_a_valid_draft_2020_12_schema():
    Draft202012Validator.check_schema(PROVIDER_ENTRY_SCHEMA)


def test_every_shipped_entry_loads_and_validates(catalog):
    assert set(catalog) >= REQUIRED_PROVIDERS
    files = sorted(path.stem for path in CATALOG_DIR.glob("*.json"))
    assert [entry["provider"] for entry in load_catalog()] == files
    for key, entry in catalog.items():
        assert set(entry) == set(PROVIDER_ENTRY_SCHEMA["required"]), key


def test_bad_entry_names_its_file_and_field(tmp_path):
    entry = _entry("stripe")
    entry["authType"] = "oauth2"
    entry["apiKeyPlacement"] = None
    entry["oauthConfig"] = {
        "authorizationUrl": "https://example.com/authorize",
        "tokenUrl": "ftp://x",
        "revocationUrl": None,
        "scopes": [],
        "scopeSeparator": " ",
        "pkce": True,
        "extraAuthorizationParams": {},
        "clientIdEnv": "STRIPE_CLIENT_ID",
        "clientSecretEnv": "STRIPE_CLIENT_SECRET",
    }
    _write(tmp_path, "stripe", entry)

    with pytest.raises(CatalogError) as excinfo:
        load_catalog(tmp_path)

    message = str(excinfo.value)
    assert "stripe.json: oauthConfig.tokenUrl: 'ftp://x' does not match" in message
    assert message.count("\n") == 0  # exactly one problem reported


def test_every_problem_in_an_entry_is_reported_with_its_path():
    entry = _entry("slack")
    entry["category"] = "chat"
    entry["availableEntities"][1]["operations"] = ["read", "explode"]
    del entry["color"]

    with pytest.raises(CatalogError) as excinfo:
        validate_entry(entry, source="providers/catalog/slack.json")

    problems = excinfo.value.problems
    assert any(p.startswith("providers/catalog/slack.json: (entry): 'color' is a required property") for p in problems)
    assert any(p.startswith("providers/catalog/slack.json: category: 'chat' is not one of") for p in problems)
    assert any(p.startswith("providers/catalog/slack.json: availableEntities[1].operations[1]: ") for p in problems)


def test_unknown_top_level_key_is_refused():
    entry = _entry("github")
    entry["client_secret"] = "oops"
    with pytest.raises(CatalogError, match=r"Additional properties are not allowed \('client_secret'"):
        validate_entry(entry, source="<test>")


def test_invalid_json_names_file_and_line(tmp_path):
    (tmp_path / "broken.json").write_text('{\n  "provider": "broken",\n  "name": "Broken"\n  "x": 1\n}\n')
    with pytest.raises(CatalogError) as excinfo:
        load_catalog(tmp_path)
    message = str(excinfo.value)
    assert "broken.json" in message
    assert "line 4" in message
    assert "invalid JSON" in message


def test_oauth_provider_without_oauth_config_is_refused():
    entry = _entry("google_calendar")
    entry["oauthConfig"] = None
    with pytest.raises(CatalogError) as excinfo:
        validate_entry(entry, source="providers/catalog/google_calendar.json")
    assert "google_calendar.json: oauthConfig: None is not of type 'object'" in str(excinfo.value)
    assert "required when authType is 'oauth2'" in str(excinfo.value)


def test_oauth_config_on_non_oauth_provider_is_refused():
    entry = _entry("stripe")
    entry["oauthConfig"] = copy.deepcopy(_entry("github")["oauthConfig"])
    with pytest.raises(CatalogError, match=r"oauthConfig: .* is not of type 'null'"):
        validate_entry(entry, source="<test>")


def test_api_key_provider_needs_api_key_placement():
    entry = _entry("sendgrid")
    entry["apiKeyPlacement"] = None
    with pytest.raises(CatalogError, match="apiKeyPlacement: None is not of type 'object'"):
        validate_entry(entry, source="<test>")


def test_provider_key_must_match_file_name(tmp_path):
    _write(tmp_path, "stripe_live", _entry("stripe"))
    with pytest.raises(CatalogError) as excinfo:
        load_catalog(tmp_path)
    assert "stripe_live.json: provider: 'stripe' does not match the file name 'stripe_live'" in str(excinfo.value)


def test_embedded_schemas_must_be_valid_json_schemas():
    entry = _entry("bamboohr")
    entry["configSchema"]["properties"]["companyDomain"]["type"] = "text"
    with pytest.raises(CatalogError, match=r"configSchema\.properties\.companyDomain\.type: not a valid JSON Schema"):
        validate_entry(entry, source="<test>")


def test_search_flags_must_agree():
    entry = _entry("slack")
    entry["searchableEntities"] = ["message"]
    with pytest.raises(CatalogError, match=r"searchableEntities: .*empty when supportsSearch is false"):
        validate_entry(entry, source="<test>")

    entry = _entry("github")
    entry["searchableEntities"] = ["gist"]
    with pytest.raises(CatalogError, match="searchableEntities: 'gist' is not one of availableEntities"):
        validate_entry(entry, source="<test>")


def test_providers_without_public_oauth_say_so(catalog):
    for key in ("indeed", "glassdoor"):
        entry = catalog[key]
        assert entry["authType"] != "oauth2"
        assert entry["oauthConfig"] is None
        assert entry["notes"] and "OAuth" in entry["notes"], key
        assert entry["credentialSchema"]["required"], key


def test_render_template_fills_and_quotes_placeholders():
    assert (
        render_template("/{companyDomain}/v1/meta/users", {"companyDomain": "acme co/x"})
        == "/acme%20co%2Fx/v1/meta/users"
    )
    # A leading placeholder is a base URL and goes in verbatim.
    assert (
        render_template("{instanceUrl}/services/data/v60.0", {"instanceUrl": "https://acme.my.salesforce.com"})
        == "https://acme.my.salesforce.com/services/data/v60.0"
    )
    assert render_template("{baseUrl}", {"baseUrl": "https://api.example.com/v1"}) == "https://api.example.com/v1"
    assert (
        render_template("https://{subdomain}.zendesk.com/api/v2", {"subdomain": "acme"})
        == "https://acme.zendesk.com/api/v2"
    )
    # Not str.format: other braces and unknown shapes are left alone; extra values are ignored.
    assert render_template('/q?filter={"a": 1}&{x}', {"x": 5, "unused": "y"}) == '/q?filter={"a": 1}&5'
    assert placeholders("https://{host}/ccx/api/v1/{tenant}") == {"host", "tenant"}
    assert placeholders('{"json": true}') == set()
    assert placeholders(None) == set()


def test_missing_placeholder_is_a_clear_error():
    with pytest.raises(MissingPlaceholder) as excinfo:
        render_template("/Accounts/{accountSid}.json", {"authToken": "x"})
    assert isinstance(excinfo.value, KeyError)
    assert excinfo.value.name == "accountSid"
    assert str(excinfo.value) == "no value for placeholder {accountSid} in '/Accounts/{accountSid}.json'"

    for empty in (None, ""):
        with pytest.raises(MissingPlaceholder):
            render_template("https://{subdomain}.zendesk.com", {"subdomain": empty})


def test_every_health_check_placeholder_is_declared_in_a_schema(catalog):
    """apiBaseUrl / healthCheck.path placeholders come from a required config or credential property, or (OAuth
    only) from CONNECTION_DERIVED_PLACEHOLDERS; OAuth URL placeholders must come from config (no token yet)."""

    def required(schema):
        return set(schema.get("required", [])) & set(schema.get("properties", {})) if schema else set()

    for key, entry in catalog.items():
        config, credentials = required(entry["configSchema"]), required(entry["credentialSchema"])
        derived = set(CONNECTION_DERIVED_PLACEHOLDERS) if entry["authType"] == "oauth2" else set()
        used = placeholders(entry["apiBaseUrl"])
        if entry["healthCheck"]:
            used |= placeholders(entry["healthCheck"]["path"])
        assert used <= config | credentials | derived, (key, used - config - credentials - derived)
        oauth = entry["oauthConfig"] or {}
        for field in ("authorizationUrl", "tokenUrl", "revocationUrl"):
            assert placeholders(oauth.get(field)) <= config, (key, field)

    # The loader enforces the same rule.
    entry = _entry("bamboohr")
    entry["healthCheck"]["path"] = "/{companyId}/v1/meta/users"
    with pytest.raises(CatalogError, match=r"healthCheck\.path: placeholder \{companyId\} is not a required property"):
        validate_entry(entry, source="<test>")

    entry = _entry("zendesk")
    entry["configSchema"]["required"] = []
    with pytest.raises(CatalogError, match=r"oauthConfig\.authorizationUrl: placeholder \{subdomain\}"):
        validate_entry(entry, source="<test>")


def test_every_oauth_url_is_https(catalog):
    oauth_providers = [entry for entry in catalog.values() if entry["authType"] == "oauth2"]
    assert len(oauth_providers) >= 15
    for entry in oauth_providers:
        config = entry["oauthConfig"]
        for field in ("authorizationUrl", "tokenUrl", "revocationUrl"):
            url = config[field]
            if url is not None:
                assert url.startswith("https://"), (entry["provider"], field, url)
    for entry in catalog.values():
        for url in (entry["apiBaseUrl"], entry["docsUrl"]):
            assert url is None or url.startswith(("https://", "{")), (entry["provider"], url)


def test_oauth_client_env_names_follow_provider_families(catalog):
    families = {
        "GOOGLE": {"google_calendar", "gmail", "google_drive"},
        "MICROSOFT": {"outlook_calendar", "outlook_mail", "microsoft_teams"},
        "LINKEDIN": {"linkedin"},
    }
    for key, entry in catalog.items():
        if entry["oauthConfig"] is None:
            continue
        prefix = next((name for name, members in families.items() if key in members), key.upper())
        assert entry["oauthConfig"]["clientIdEnv"] == f"{prefix}_CLIENT_ID", key
        assert entry["oauthConfig"]["clientSecretEnv"] == f"{prefix}_CLIENT_SECRET", key


def test_shipped_health_checks_render_with_sample_values(catalog):
    samples = {
        "companyDomain": "acme",
        "host": "wd2-impl-services1.workday.com",
        "tenant": "acme_preview",
        "accountSid": "AC" + "0" * 32,
        "subdomain": "acme",
        "baseUrl": "https://api.example.com",
        "instanceUrl": "https://acme.my.salesforce.com",
        "baseUri": "https://na3.docusign.net",
        "accountId": "5f0e6d2c-0000-0000-0000-000000000000",
    }
    for key, entry in catalog.items():
        if entry["apiBaseUrl"]:
            assert render_template(entry["apiBaseUrl"], samples).startswith("https://"), key
        if entry["healthCheck"]:
            assert render_template(entry["healthCheck"]["path"], samples).startswith("/"), key
