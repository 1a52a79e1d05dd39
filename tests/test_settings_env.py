"""config.env: every number and boolean from the environment reaches Django in its type, or
start-up stops with a message naming the variable (ANYMAIL_*: tests/mailings/test_anymail_settings.py)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("value", "expected"), [("True", True), ("False", False), ("", False), (None, False)])
def test_env_bool_reads_true_or_false_and_defaults_when_unset(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("MUSTER_FLAG", raising=False)
    else:
        monkeypatch.setenv("MUSTER_FLAG", value)
    assert env_bool("MUSTER_FLAG", False) is expected


@pytest.mark.parametrize("value", ["true", "1", "yes", "on", "False "])
def test_env_bool_refuses_anything_else_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("MUSTER_FLAG", value)
    with pytest.raises(ImproperlyConfigured, match="MUSTER_FLAG must be True or False"):
        env_bool("MUSTER_FLAG", False)


@pytest.mark.parametrize(("value", "expected"), [("42", 42), ("0", 0), ("-3", -3), (" 7 ", 7), ("", 500)])
def test_env_int_reads_integers_and_defaults_when_empty(monkeypatch, value, expected):
    monkeypatch.setenv("MUSTER_NUMBER", value)
    assert env_int("MUSTER_NUMBER", 500) == expected


def test_env_int_defaults_when_unset(monkeypatch):
    monkeypatch.delenv("MUSTER_NUMBER", raising=False)
    assert env_int("MUSTER_NUMBER", 500, minimum=1) == 500


@pytest.mark.parametrize("value", ["abc", "1.5", "5s", "1e3"])
def test_env_int_refuses_a_non_integer_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("MUSTER_NUMBER", value)
    with pytest.raises(ImproperlyConfigured, match=f"MUSTER_NUMBER must be an integer, not '{value}'"):
        env_int("MUSTER_NUMBER", 500)


@pytest.mark.parametrize(("value", "minimum"), [("0", 1), ("-1", 1), ("-1", 0)])
def test_env_int_refuses_a_value_below_its_minimum(monkeypatch, value, minimum):
    monkeypatch.setenv("MUSTER_NUMBER", value)
    with pytest.raises(ImproperlyConfigured, match=f"MUSTER_NUMBER must be at least {minimum}, not '{value}'"):
        env_int("MUSTER_NUMBER", 500, minimum=minimum)


def test_env_int_accepts_its_minimum(monkeypatch):
    monkeypatch.setenv("MUSTER_NUMBER", "1")
    assert env_int("MUSTER_NUMBER", 500, minimum=1) == 1


def test_env_str_reads_a_secret_from_a_file(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("MUSTER_SECRET", "ignored")
    monkeypatch.setenv("MUSTER_SECRET_FILE", str(secret))
    assert env_str("MUSTER_SECRET") == "s3cret"


def test_env_list_splits_on_commas_and_drops_blanks(monkeypatch):
    monkeypatch.setenv("MUSTER_HOSTS", " a.example , ,b.example,")
    assert env_list("MUSTER_HOSTS") == ["a.example", "b.example"]


# --- start-up -------------------------------------------------------------------------------------


def django_setup(tmp_path, **variables) -> subprocess.CompletedProcess:
    """`django.setup()` with the production settings, in a process of its own."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ANYMAIL_", "MAILINGS_", "DJANGO_"))}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", DEBUG="False", SECRET_KEY="start-up-test")
    env.update(MUSTER_VAR_DIR=str(tmp_path), **variables)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_settings_start_with_good_values(tmp_path):
    started = django_setup(
        tmp_path,
        MAILINGS_CHUNK_SIZE="1",
        COUNT_MEMO_SECONDS="0",
        ANYMAIL_REQUESTS_TIMEOUT="3.05,27",
        ANYMAIL_POSTMARK_USE_BULK_API="True",
    )
    assert started.returncode == 0, started.stderr


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MAILINGS_CHUNK_SIZE", "abc", "MAILINGS_CHUNK_SIZE must be an integer, not 'abc'"),
        ("MAILINGS_CHUNK_SIZE", "0", "MAILINGS_CHUNK_SIZE must be at least 1, not '0'"),
        ("DATABASE_CONN_MAX_AGE", "-1", "DATABASE_CONN_MAX_AGE must be at least 0, not '-1'"),
        ("ALREADY_SIGNED_EMAIL_INTERVAL_MINUTES", "0", "ALREADY_SIGNED_EMAIL_INTERVAL_MINUTES must be at least 1"),
        ("DEBUG", "yes", "DEBUG must be True or False, not 'yes'"),
        ("ANYMAIL_REQUESTS_TIMEOUT", "soon", "ANYMAIL_REQUESTS_TIMEOUT must be seconds"),
        ("ANYMAIL_AMAZON_SES_CLIENT_PARAMS", "eu-west-1", "ANYMAIL_AMAZON_SES_CLIENT_PARAMS must be a JSON object"),
        # The demo's code that passes as a second factor never works in production.
        ("MUSTER_DEMO_TOTP_CODE", "123456", "MUSTER_DEMO_TOTP_CODE is for make run's demo only and needs DEBUG=True"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(tmp_path, variable, value, message):
    started = django_setup(tmp_path, **{variable: value})
    assert started.returncode != 0
    assert f"ImproperlyConfigured: {message}" in started.stderr
