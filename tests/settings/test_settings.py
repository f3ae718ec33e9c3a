"""Settings: read once from the environment and .env, validated, printed with secrets masked."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bridge.settings import VARIABLES, Settings, SettingsError, load_settings

SHOP = {
    "WOOCOMMERCE_URL": "https://shop.example.com/",
    "WOOCOMMERCE_CONSUMER_KEY": "ck_live_abcdefghijklmnopqrstuvwxyz",
    "WOOCOMMERCE_CONSUMER_SECRET": "cs_live_zyxwvutsrqponmlkjihgfedcba",
    "WOOCOMMERCE_WEBHOOK_SECRET": "whsec_0123456789abcdefghij",
}
SECRETS = ("WOOCOMMERCE_CONSUMER_KEY", "WOOCOMMERCE_CONSUMER_SECRET", "WOOCOMMERCE_WEBHOOK_SECRET")


def test_nothing_set_gives_the_embedded_defaults_without_a_shop() -> None:
    """An empty environment and no .env file give SQLite, sync off and no shop."""
    settings = load_settings(environ={}, env_file=None)
    assert settings == Settings()
    assert settings.database.url == "sqlite:///creator-bridge.db"
    assert not settings.shop.configured
    assert not settings.sync_active


def test_the_real_environment_wins_over_the_env_file(tmp_path: Path) -> None:
    """A variable set in both places takes the environment's value; the file fills the rest."""
    env_file = tmp_path / ".env"
    env_file.write_text("BRIDGE_LOG_LEVEL=DEBUG\nBRIDGE_HTTP_MAX_ATTEMPTS=7\n")
    settings = load_settings(environ={"BRIDGE_LOG_LEVEL": "ERROR"}, env_file=env_file)
    assert settings.logging.level == "ERROR"
    assert settings.http.max_attempts == 7


def test_a_missing_env_file_is_not_an_error(tmp_path: Path) -> None:
    """The .env file is optional."""
    settings = load_settings(environ={}, env_file=tmp_path / "absent.env")
    assert settings == Settings()


def test_a_shop_needs_its_url_and_both_keys() -> None:
    """A complete shop turns sync on and normalises the URL without a trailing slash."""
    settings = load_settings(environ=SHOP, env_file=None)
    assert settings.shop.configured and settings.sync_active
    assert settings.shop.url == "https://shop.example.com"


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("BRIDGE_HTTP_MAX_ATTEMPTS", "lots", "must be a whole number"),
        ("BRIDGE_HTTP_MAX_ATTEMPTS", "0", "must be greater than zero"),
        ("BRIDGE_HTTP_READ_TIMEOUT", "soon", "must be a number"),
        ("BRIDGE_SYNC_ENABLED", "maybe", "must be true or false"),
        ("BRIDGE_LOG_LEVEL", "LOUD", "must be one of DEBUG, INFO, WARNING, ERROR"),
        ("BRIDGE_WOO_AUTH", "kerberos", "must be one of auto, basic, query, oauth"),
        ("WOOCOMMERCE_URL", "shop.example.com", "must be an http:// or https:// URL"),
        ("BRIDGE_PUBLIC_URL", "ftp://bridge.example.com", "must be an http:// or https:// URL"),
        ("DATABASE_URL", "mysql://root@localhost/bridge", "must be an sqlite:/// or"),
        ("BRIDGE_COMPLIMENTARY_CALL_MINUTES", "-5", "must be zero or more"),
        ("BRIDGE_PAID_STATUSES", " , ", "must list at least one value"),
        ("BRIDGE_PAID_STATUSES", "paid", "names paid, which no WooCommerce order has while paid"),
        ("BRIDGE_PAID_STATUSES", "processing,refunded", "names refunded"),
    ],
)
def test_a_malformed_value_names_the_variable_the_problem_and_a_good_example(
    variable: str, value: str, problem: str
) -> None:
    """The error is one line: the variable, what is wrong with it, and a working example."""
    environ = {**SHOP, variable: value} if variable.startswith("WOOCOMMERCE") else {variable: value}
    with pytest.raises(SettingsError) as caught:
        load_settings(environ=environ, env_file=None)
    message = str(caught.value)
    example = next(var.example for var in VARIABLES if var.name == variable)
    assert caught.value.variable == variable
    assert message.startswith(f"{variable} {problem}")
    assert message.endswith(f"for example {variable}={example}")
    assert "\n" not in message


def test_a_malformed_value_in_the_env_file_is_named_like_one_in_the_environment(
    tmp_path: Path,
) -> None:
    """Validation covers values that come from .env."""
    env_file = tmp_path / ".env"
    env_file.write_text("BRIDGE_INBOX_RETENTION_DAYS=a month\n")
    with pytest.raises(SettingsError, match=r"^BRIDGE_INBOX_RETENTION_DAYS must be a whole number"):
        load_settings(environ={}, env_file=env_file)


@pytest.mark.parametrize("missing", ["WOOCOMMERCE_CONSUMER_KEY", "WOOCOMMERCE_CONSUMER_SECRET"])
def test_a_shop_url_without_one_of_its_keys_fails_naming_the_missing_key(missing: str) -> None:
    """Shop settings come as a set: the error names the key that is missing and shows one."""
    environ = {name: value for name, value in SHOP.items() if name != missing}
    with pytest.raises(SettingsError) as caught:
        load_settings(environ=environ, env_file=None)
    assert caught.value.variable == missing
    assert str(caught.value).startswith(f"{missing} is required when WOOCOMMERCE_URL is set")
    assert f"for example {missing}=" in str(caught.value)


def test_a_blank_value_counts_as_not_set() -> None:
    """Whitespace-only values fall back to the default instead of failing."""
    settings = load_settings(environ={"BRIDGE_HTTP_MAX_ATTEMPTS": "  "}, env_file=None)
    assert settings.http.max_attempts == Settings().http.max_attempts


def test_secrets_are_masked_in_the_printable_settings() -> None:
    """masked() lists every variable and shows no secret in full."""
    shown = load_settings(environ=SHOP, env_file=None).masked()
    assert list(shown) == [var.name for var in VARIABLES]
    for name in SECRETS:
        assert shown[name] != SHOP[name]
        assert SHOP[name] not in shown[name]
        assert "****" in shown[name]
    assert shown["WOOCOMMERCE_URL"] == "https://shop.example.com"


def test_secrets_and_the_database_password_never_appear_in_the_repr() -> None:
    """repr(Settings), as logs and tracebacks show it, carries no secret."""
    environ = {**SHOP, "DATABASE_URL": "postgresql://bridge:s3cret-pw@db.internal:5432/bridge"}
    text = repr(load_settings(environ=environ, env_file=None))
    for name in SECRETS:
        assert SHOP[name] not in text
    assert "s3cret-pw" not in text


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_a_plain_postgresql_url_is_normalised_to_psycopg_3(scheme: str) -> None:
    """postgresql:// and postgres:// (as hosting platforms hand them out) mean psycopg 3."""
    environ = {"DATABASE_URL": f"{scheme}://bridge@db.internal:5432/bridge"}
    settings = load_settings(environ=environ, env_file=None)
    assert settings.database.url == "postgresql+psycopg://bridge@db.internal:5432/bridge"


def test_an_explicit_psycopg_url_is_kept_as_it_is() -> None:
    """A URL that already names the driver is not rewritten."""
    url = "postgresql+psycopg://bridge@db.internal/bridge"
    assert load_settings(environ={"DATABASE_URL": url}, env_file=None).database.url == url


def test_the_database_password_is_masked_when_settings_are_printed() -> None:
    """masked() shows the database URL with its password replaced."""
    environ = {"DATABASE_URL": "postgresql://bridge:s3cret-pw@db.internal:5432/bridge"}
    shown = load_settings(environ=environ, env_file=None).masked()
    assert shown["DATABASE_URL"] == "postgresql+psycopg://bridge:****@db.internal:5432/bridge"


def test_every_variable_is_declared_once_on_its_group_and_its_default_is_the_parsed_text() -> None:
    """The declaration is the one source: a field per variable, whose default is parse(default)."""
    assert len({var.name for var in VARIABLES}) == len(VARIABLES) == 77
    assert len({(var.group, var.attr) for var in VARIABLES}) == len(VARIABLES)
    defaults = Settings()
    for var in VARIABLES:
        value = getattr(getattr(defaults, var.group), var.attr)
        assert value == (None if var.default is None else var.parse(var.default)), var.name
        var.parse(var.example)
    assert [field.name for field in dataclasses.fields(Settings)] == list(
        dict.fromkeys(var.group for var in VARIABLES)
    )


def test_settings_come_in_groups_by_what_they_configure() -> None:
    """A variable is read through its group: the shop's keys under shop, the console's under it."""
    settings = load_settings(
        environ={
            **SHOP,
            "BRIDGE_CONSOLE_SESSION_IDLE_MINUTES": "15",
            "BRIDGE_SYNC_ORDERS_SCHEDULE": "5m",
        },
        env_file=None,
    )
    assert settings.shop.consumer_key == SHOP["WOOCOMMERCE_CONSUMER_KEY"]
    assert settings.console.session_idle_minutes == 15
    assert settings.sync.schedule("orders") == "5m" == settings.sync.orders_schedule
    assert settings.sync.jobs() == (
        "orders",
        "catalog",
        "subscriptions",
        "inbox",
        "outbox",
        "expiry",
        "webhooks",
        "alerts",
        "backup",
    )
    with pytest.raises(KeyError):
        settings.sync.schedule("lease")


def test_replace_changes_the_named_fields_of_the_named_groups_only() -> None:
    """settings.replace(group={field: value}) keeps every other field; a typo is an error."""
    settings = load_settings(environ=SHOP, env_file=None)
    changed = settings.replace(shop={"url": None}, http={"max_attempts": 1})
    assert changed.shop.url is None and changed.http.max_attempts == 1
    assert changed.shop.consumer_key == settings.shop.consumer_key
    assert changed.http.read_timeout == settings.http.read_timeout
    assert changed.inbox == settings.inbox
    assert settings.shop.url == "https://shop.example.com"  # the original is unchanged
    with pytest.raises(TypeError, match="no group 'shopp'"):
        settings.replace(shopp={"url": None})
    with pytest.raises(TypeError):
        settings.replace(shop={"adress": None})


def test_a_group_shows_no_secret_in_its_repr_either() -> None:
    """repr(settings.shop) and repr(settings.database) mask secrets and the password."""
    environ = {**SHOP, "DATABASE_URL": "postgresql://bridge:s3cret-pw@db.internal:5432/bridge"}
    settings = load_settings(environ=environ, env_file=None)
    shown = repr(settings.shop) + repr(settings.database)
    for name in SECRETS:
        assert SHOP[name] not in shown
    assert "s3cret-pw" not in shown
    assert "url='https://shop.example.com'" in shown
