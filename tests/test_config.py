"""Settings from the environment and `.env` (bot/config.py), and `bot config` (bot/cli.py)."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import cli
from bot.app import make_github
from bot.config import ConfigError, Settings, StateBackend, load_settings
from bot.domain import RunStatus
from bot.github.auth import app_jwt
from bot.testing import KeyPair

SECRET = "s3cret-webhook-value-do-not-print"
FIELDS = {name.upper() for name in Settings.model_fields}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No setting leaks in from the real environment, and no real `.env` is read."""
    for name in list(os.environ):
        upper = name.upper()
        if upper in FIELDS or upper.startswith("LABELS__"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def one_line(message: str) -> bool:
    return bool(message) and "\n" not in message and "\r" not in message


def load_error(**overrides: object) -> str:
    with pytest.raises(ConfigError) as raised:
        load_settings(**overrides)
    message = str(raised.value)
    assert one_line(message), message
    return message


def set_credentials(monkeypatch: pytest.MonkeyPatch, keys: KeyPair) -> None:
    monkeypatch.setenv("APP_ID", "4321")
    monkeypatch.setenv("PRIVATE_KEY", keys.private_pem)
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)


# -- defaults and sources -----------------------------------------------------------------


def test_defaults_match_the_readme() -> None:
    loaded = load_settings()

    assert loaded.host == "127.0.0.1"
    assert loaded.port == 3000
    assert loaded.webhook_path == "/api/github/webhooks"
    assert loaded.state_backend is StateBackend.FILE
    assert loaded.data_dir == Path(".bot")
    assert loaded.claude_dir == Path(".claude")
    assert loaded.log_level == "info"
    assert loaded.github_api_url == "https://api.github.com"
    assert loaded.permission_cache_seconds == 300
    assert {status.value: loaded.labels.for_status(status) for status in RunStatus} == {
        status.value: f"bot:{status.value}" for status in RunStatus
    }
    assert loaded.sandbox


def test_environment_sets_values(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PORT", "4001")
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("LOG_LEVEL", "debug")

    loaded = load_settings()

    assert loaded.port == 4001
    assert loaded.host == "0.0.0.0"
    assert loaded.data_dir == tmp_path / "state"
    assert loaded.log_level == "debug"


def test_dotenv_is_read_and_the_environment_wins(
    monkeypatch: pytest.MonkeyPatch, clean_env: Path
) -> None:
    (clean_env / ".env").write_text(
        "PORT=4100\nWEBHOOK_PATH=/hooks\nLABELS__SUCCEEDED=done\n", encoding="utf-8"
    )
    from_file = load_settings()
    assert from_file.port == 4100
    assert from_file.webhook_path == "/hooks"
    assert from_file.labels.succeeded == "done"

    monkeypatch.setenv("PORT", "4200")
    assert load_settings().port == 4200


def test_overrides_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "4200")
    assert load_settings(port=4300).port == 4300


def test_labels_running_sets_the_running_label(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABELS__RUNNING", "x")

    loaded = load_settings()

    assert loaded.labels.running == "x"
    assert loaded.labels.for_status(RunStatus.RUNNING) == "x"
    assert "x" in loaded.labels.all()
    assert loaded.labels.queued == "bot:queued"


# -- malformed values ---------------------------------------------------------------------


def test_port_abc_is_one_line_naming_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "abc")
    message = load_error()
    assert message.startswith("PORT:")
    assert "abc" in message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "70000"),
        ("PORT", "-1"),
        ("LOG_LEVEL", "loud"),
        ("STATE_BACKEND", "s3"),
        ("APP_ID", "my-app"),
        ("PERMISSION_CACHE_SECONDS", "-5"),
        ("MAX_PAYLOAD_BYTES", "0"),
    ],
)
def test_a_malformed_value_is_named(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    assert load_error().startswith(f"{name}:")


def test_webhook_path_must_start_with_a_slash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_PATH", "hooks")
    assert "WEBHOOK_PATH" in load_error()


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(port=st.integers(min_value=-100_000, max_value=200_000))
def test_any_port_in_range_loads_and_any_other_is_refused(port: int) -> None:
    if 0 <= port <= 65535:
        assert load_settings(port=port).port == port
    else:
        assert load_error(port=port).startswith("PORT:")


CREDENTIALS = ("APP_ID", "PRIVATE_KEY", "WEBHOOK_SECRET")


@pytest.mark.parametrize(
    "given_names",
    [
        combo
        for size in (1, 2)
        for combo in itertools.combinations(CREDENTIALS, size)  # every incomplete set
    ],
    ids="+".join,
)
def test_incomplete_credentials_name_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, app_keys: KeyPair, given_names: tuple[str, ...]
) -> None:
    values = {"APP_ID": "4321", "PRIVATE_KEY": app_keys.private_pem, "WEBHOOK_SECRET": SECRET}
    for name in given_names:
        monkeypatch.setenv(name, values[name])

    message = load_error()

    for name in CREDENTIALS:
        assert (name in message) == (name not in given_names), (name, message)
    assert SECRET not in message
    assert "PRIVATE KEY-----" not in message


def test_only_app_id_names_the_other_two(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ID", "4321")
    message = load_error()
    assert "PRIVATE_KEY or PRIVATE_KEY_PATH" in message
    assert "WEBHOOK_SECRET" in message


def test_gist_backend_needs_a_gist_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATE_BACKEND", "gist")
    assert "GIST_TOKEN" in load_error()

    monkeypatch.setenv("GIST_TOKEN", "ghp_not_a_real_token")
    assert load_settings().state_backend is StateBackend.GIST


@pytest.mark.parametrize("field", ["private_key", "webhook_secret", "gist_token"])
def test_a_malformed_secret_is_never_echoed(field: str) -> None:
    message = load_error(**{field: [SECRET]})
    assert message.startswith(field.upper())
    assert SECRET not in message


def test_a_malformed_key_path_is_never_echoed() -> None:
    message = load_error(private_key_path=[SECRET])
    assert message.startswith("PRIVATE_KEY_PATH")
    assert SECRET not in message


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    field=st.sampled_from(["private_key", "webhook_secret", "gist_token", "private_key_path"]),
    secret=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=12, max_size=40),
    shape=st.sampled_from(["list", "dict"]),
)
def test_no_malformed_secret_like_field_leaks(field: str, secret: str, shape: str) -> None:
    value: object = [secret] if shape == "list" else {"value": secret}
    message = load_error(**{field: value})
    assert field.upper() in message
    assert secret not in message


def test_settings_repr_hides_secrets(monkeypatch: pytest.MonkeyPatch, app_keys: KeyPair) -> None:
    set_credentials(monkeypatch, app_keys)
    loaded = load_settings()
    shown = repr(loaded) + str(loaded.model_dump(mode="json"))
    assert SECRET not in shown
    assert "PRIVATE KEY-----" not in shown


# -- the private key ----------------------------------------------------------------------


def test_private_key_with_literal_backslash_n_becomes_a_pem(
    monkeypatch: pytest.MonkeyPatch, app_keys: KeyPair
) -> None:
    escaped = app_keys.private_pem.replace("\n", "\\n")
    assert "\n" not in escaped
    monkeypatch.setenv("APP_ID", "4321")
    monkeypatch.setenv("PRIVATE_KEY", escaped)
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)

    pem = load_settings().private_key_pem()

    assert pem == app_keys.private_pem
    # And it signs a JWT the public key accepts.
    token = app_jwt(4321, pem, time.time())
    assert jwt.decode(token, app_keys.public_pem, algorithms=["RS256"])["iss"] == "4321"


def test_private_key_path_is_read(
    monkeypatch: pytest.MonkeyPatch, app_keys: KeyPair, tmp_path: Path
) -> None:
    key_file = tmp_path / "app.pem"
    key_file.write_text(app_keys.private_pem)
    monkeypatch.setenv("APP_ID", "4321")
    monkeypatch.setenv("PRIVATE_KEY_PATH", str(key_file))
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)

    assert load_settings().private_key_pem() == app_keys.private_pem


def test_private_key_path_to_a_missing_file_names_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere" / "app.pem"
    monkeypatch.setenv("APP_ID", "4321")
    monkeypatch.setenv("PRIVATE_KEY_PATH", str(missing))
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    loaded = load_settings()

    with pytest.raises(ConfigError) as raised:
        loaded.private_key_pem()

    message = str(raised.value)
    assert one_line(message)
    assert message.startswith("PRIVATE_KEY_PATH")
    assert str(missing) in message


def ed25519_pem() -> str:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    return pem.decode()


@pytest.mark.parametrize(
    ("make_key", "words"),
    [
        (lambda: "not a key at all", "not an unencrypted private key in PEM format"),
        (ed25519_pem, "not an RSA key"),
    ],
    ids=["garbage", "ed25519"],
)
async def test_a_key_that_cannot_sign_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, make_key: Callable[[], str], words: str
) -> None:
    key = make_key()
    monkeypatch.setenv("APP_ID", "4321")
    monkeypatch.setenv("PRIVATE_KEY", key)
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)

    async with aiohttp.ClientSession() as session:
        with pytest.raises(ConfigError) as raised:
            make_github(load_settings(), session)

    message = str(raised.value)
    assert one_line(message)
    assert message.startswith("PRIVATE_KEY: ")
    assert words in message
    assert key.splitlines()[-1] not in message  # the key itself is never echoed


# -- sandbox ------------------------------------------------------------------------------


def test_sandbox_without_credentials_only(
    monkeypatch: pytest.MonkeyPatch, app_keys: KeyPair
) -> None:
    assert load_settings().sandbox
    set_credentials(monkeypatch, app_keys)
    loaded = load_settings()
    assert loaded.app_id == 4321
    assert not loaded.sandbox


# -- the CLI ------------------------------------------------------------------------------


def test_cli_config_with_a_bad_port_prints_one_line_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PORT", "abc")

    code = cli.main(["config"])

    out, err = capsys.readouterr()
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("bot: configuration error:")
    assert "PORT" in lines[0]
    assert "Traceback" not in err
    assert out == ""


def test_cli_config_with_a_missing_key_file_prints_one_line_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr("bot.logs.configure", lambda level, fmt: None)
    missing = tmp_path / "missing.pem"
    monkeypatch.setenv("APP_ID", "4321")
    monkeypatch.setenv("PRIVATE_KEY_PATH", str(missing))
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)

    code = cli.main(["config"])

    _out, err = capsys.readouterr()
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("bot: configuration error: PRIVATE_KEY_PATH")
    assert str(missing) in lines[0]


def test_cli_config_shows_settings_without_secrets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], app_keys: KeyPair
) -> None:
    monkeypatch.setattr("bot.logs.configure", lambda level, fmt: None)
    set_credentials(monkeypatch, app_keys)
    monkeypatch.setenv("PORT", "4555")

    code = cli.main(["config"])

    out, err = capsys.readouterr()
    assert code == 0
    assert '"port": 4555' in out
    assert SECRET not in out + err
    assert "PRIVATE KEY-----" not in out + err


# -- bugs found ---------------------------------------------------------------------------


def test_malformed_labels_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABELS", "x")
    assert "LABELS" in load_error()
