"""Users, tokens and failed-login counters in the store (SQLite and PostgreSQL), the auth
config file, the first admin, and the ``traza users``/``traza tokens`` commands."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.conftest import postgres_schema

from traza.auth.config import AuthConfig, read_auth_config
from traza.auth.passwords import MIN_PASSWORD_LENGTH, hash_password, verify_password
from traza.auth.principal import Permission
from traza.auth.setup import ensure_admin, open_auth_store
from traza.auth.store import PERSONAL, RUN, SESSION, AuthStore
from traza.cli import main
from traza.exceptions import TrazaException
from traza.store.uri import open_store

PASSWORD = "correct horse battery"


@pytest.fixture(params=["sqlite", "postgresql"])
def auth(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AuthStore]:
    if request.param == "postgresql":
        with postgres_schema() as url:
            store = open_store(url)
            yield AuthStore(store.db)  # type: ignore[attr-defined]
            store.close()
        return
    store = open_store(f"sqlite:///{tmp_path}/auth.db")
    yield AuthStore(store.db)  # type: ignore[attr-defined]
    store.close()


def test_passwords_are_salted_scrypt_and_verified_in_constant_form() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first != second and first.startswith("scrypt$32768$8$1$")
    assert PASSWORD not in first
    assert verify_password(PASSWORD, first) and verify_password(PASSWORD, second)
    assert not verify_password(PASSWORD + "x", first)
    assert not verify_password(PASSWORD, "bcrypt$whatever")


def test_users_are_created_read_updated_and_deleted(auth: AuthStore) -> None:
    alice = auth.create_user("alice", PASSWORD)
    assert (alice.username, alice.is_admin) == ("alice", False)
    assert auth.get_user("alice") == alice
    with pytest.raises(TrazaException) as e:
        auth.create_user("alice", PASSWORD)
    assert e.value.error_code == "RESOURCE_ALREADY_EXISTS"
    assert auth.check_password("alice", PASSWORD) == alice
    assert auth.check_password("alice", "wrong password!") is None
    assert auth.check_password("nobody", PASSWORD) is None
    auth.set_admin("alice", True)
    assert auth.get_user("alice").is_admin and auth.has_admin()
    auth.set_password("alice", "another long password")
    assert auth.check_password("alice", PASSWORD) is None
    assert auth.check_password("alice", "another long password") is not None
    auth.create_user("bob", PASSWORD)
    assert [u.username for u in auth.list_users()] == ["alice", "bob"]
    auth.delete_user("alice")
    with pytest.raises(TrazaException) as e:
        auth.get_user("alice")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(TrazaException):
        auth.delete_user("alice")


@pytest.mark.parametrize("bad", ["", "a:b", "tab\there", "x" * 256])
def test_usernames_that_break_basic_auth_are_refused(auth: AuthStore, bad: str) -> None:
    with pytest.raises(TrazaException) as e:
        auth.create_user(bad, PASSWORD)
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"


def test_a_short_password_is_refused_with_the_rule(auth: AuthStore) -> None:
    with pytest.raises(TrazaException) as e:
        auth.create_user("carol", "x" * (MIN_PASSWORD_LENGTH - 1))
    assert f"at least {MIN_PASSWORD_LENGTH} characters" in e.value.message
    assert auth.find_user("carol") is None


def test_tokens_are_stored_hashed_and_revoked(auth: AuthStore) -> None:
    user = auth.create_user("dave", PASSWORD)
    secret, token = auth.create_token(user.id, "ci")
    assert secret.startswith("trz_") and len(secret) > 40
    with auth.db.read() as cur:
        cur.execute("SELECT token_hash FROM auth_tokens")
        stored = [row[0] for row in cur.fetchall()]
    assert secret not in stored and len(stored[0]) == 64
    found = auth.lookup_token(secret)
    assert found is not None and found[1] == user and found[0].kind == PERSONAL
    assert auth.get_token(token.id).last_used_time is not None
    assert auth.lookup_token(secret + "x") is None
    assert [t.name for t in auth.list_tokens(user.id)] == ["ci"]
    auth.revoke_token(token.id)
    assert auth.lookup_token(secret) is None


def test_expired_tokens_and_ended_runs_tokens_stop(auth: AuthStore) -> None:
    user = auth.create_user("erin", PASSWORD)
    old, _ = auth.create_token(user.id, "old", expires_time=int(time.time() * 1000) - 1)
    assert auth.lookup_token(old) is None
    run_secret, _ = auth.create_token(user.id, "job", RUN, "r1")
    other, _ = auth.create_token(user.id, "job2", RUN, "r2")
    found = auth.lookup_token(run_secret)
    assert found is not None and found[0].run_id == "r1"
    assert auth.revoke_run_tokens("r1") == 1
    assert auth.lookup_token(run_secret) is None and auth.lookup_token(other) is not None


def test_a_new_password_ends_the_users_sessions(auth: AuthStore) -> None:
    user = auth.create_user("frank", PASSWORD)
    session, _ = auth.create_token(user.id, "web", SESSION)
    personal, _ = auth.create_token(user.id, "ci")
    assert [t.kind for t in auth.list_tokens(user.id)] == [PERSONAL]
    auth.set_password("frank", "a brand new password")
    assert auth.lookup_token(session) is None and auth.lookup_token(personal) is not None


def test_every_change_to_users_or_tokens_bumps_the_version(auth: AuthStore) -> None:
    seen = [auth.version()]

    def moved() -> bool:
        seen.append(auth.version())
        return seen[-1] > seen[-2]

    user = auth.create_user("gina", PASSWORD)
    assert moved()
    _, token = auth.create_token(user.id)
    auth.revoke_token(token.id)
    assert moved()
    auth.set_admin("gina", True)
    assert moved()
    auth.set_password("gina", "yet another password")
    assert moved()
    auth.delete_user("gina")
    assert moved()


def test_failed_logins_lock_a_key_for_the_rest_of_the_window(auth: AuthStore) -> None:
    keys = ["user:h", "addr:10.0.0.9"]
    for _ in range(3):
        assert auth.locked_for(keys, 3, 60_000) is None
        auth.record_failure(keys, 60_000)
    wait = auth.locked_for(keys, 3, 60_000)
    assert wait is not None and 55 < wait <= 60
    assert auth.locked_for(["user:other"], 3, 60_000) is None
    auth.clear_failures(keys[:1])
    assert auth.locked_for(keys[:1], 3, 60_000) is None
    assert auth.locked_for(keys[1:], 3, 60_000) is not None
    # Once the window has passed a key starts again at one failure, and stale keys are dropped.
    auth.record_failure(["addr:1.2.3.4"], 1)
    time.sleep(0.01)
    auth.record_failure(["addr:1.2.3.4"], 1)
    with auth.db.read() as cur:
        cur.execute("SELECT key, count FROM auth_failed_logins")
        assert cur.fetchall() == [("addr:1.2.3.4", 1)]


def test_sso_users_are_made_on_first_sight_without_a_password(auth: AuthStore) -> None:
    first = auth.user_for_header("sso@example.com")
    assert auth.user_for_header("sso@example.com") == first
    assert auth.check_password("sso@example.com", "!") is None
    assert auth.check_password("sso@example.com", "") is None


def test_no_admin_and_no_password_refuses_with_both_ways(auth: AuthStore) -> None:
    with pytest.raises(TrazaException) as e:
        ensure_admin(auth, AuthConfig())
    assert "MLFLOW_AUTH_ADMIN_PASSWORD" in e.value.message
    assert "traza users create" in e.value.message
    ensure_admin(auth, AuthConfig(admin_username="root", admin_password=PASSWORD))
    root = auth.get_user("root")
    assert root.is_admin and auth.check_password("root", PASSWORD) == root
    # Once an admin exists the configured password is never applied again.
    ensure_admin(auth, AuthConfig(admin_username="root", admin_password="changed password"))
    assert auth.check_password("root", PASSWORD) == root


def test_mlflow_basic_auth_ini_and_environment(tmp_path: Path) -> None:
    ini = tmp_path / "basic_auth.ini"
    ini.write_text(
        "[mlflow]\ndefault_permission = EDIT\ndatabase_uri = sqlite:///users.db\n"
        "admin_username = boss\nadmin_password = from the file\n"
        "auth_cache_ttl_seconds = 30\nauth_cache_max_size = 50\n"
    )
    config = read_auth_config({"MLFLOW_AUTH_CONFIG_PATH": str(ini)})
    assert config.default_permission is Permission.EDIT
    assert (config.admin_username, config.admin_password) == ("boss", "from the file")
    assert config.database_uri == "sqlite:///users.db"
    assert (config.cache_ttl_seconds, config.cache_max_size) == (30, 50)
    env = {
        "MLFLOW_AUTH_CONFIG_PATH": str(ini),
        "MLFLOW_AUTH_ADMIN_PASSWORD": "from mlflow env",
        "TRAZA_AUTH_ADMIN_PASSWORD": "from traza env",
    }
    assert read_auth_config(env).admin_password == "from traza env"
    defaults = read_auth_config({})
    assert defaults.admin_username == "admin" and defaults.admin_password is None
    assert defaults.default_permission is Permission.READ and defaults.database_uri is None
    with pytest.raises(TrazaException, match="Cannot read the auth config"):
        read_auth_config({"MLFLOW_AUTH_CONFIG_PATH": str(tmp_path / "missing.ini")})


def test_a_separate_users_database(tmp_path: Path) -> None:
    users_uri = f"sqlite:///{tmp_path}/users.db"
    tracking = open_store(f"sqlite:///{tmp_path}/tracking.db")
    auth = open_auth_store(AuthConfig(database_uri=users_uri), tracking)
    auth.create_user("ivy", PASSWORD)
    assert AuthStore(tracking.db).find_user("ivy") is None  # type: ignore[attr-defined]
    assert open_auth_store(AuthConfig(), open_store(users_uri)).find_user("ivy") is not None


def test_users_and_tokens_commands(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/cli.db"
    runner = CliRunner()

    def traza(*args: str, input: str | None = None) -> str:
        result = runner.invoke(main, [*args, "--backend-store-uri", uri], input=input)
        assert result.exit_code == 0, result.output
        return result.output

    traza("users", "create", "admin", "--admin", input=f"{PASSWORD}\n{PASSWORD}\n")
    traza("users", "create", "jo", "--password", PASSWORD)
    listing = traza("users", "list")
    assert "admin" in listing and "yes" in listing and "jo" in listing
    secret = traza("tokens", "create", "jo", "--name", "laptop").strip().splitlines()[-1]
    auth = open_auth_store(AuthConfig(), open_store(uri))
    found = auth.lookup_token(secret)
    assert found is not None and found[1].username == "jo"
    assert "laptop" in traza("tokens", "list", "jo") and secret not in traza("tokens", "list", "jo")
    traza("tokens", "revoke", str(found[0].id))
    assert auth.lookup_token(secret) is None
    traza("users", "set-password", "jo", "--password", "a new password!")
    assert auth.check_password("jo", "a new password!") is not None
    traza("users", "set-admin", "jo")
    assert auth.get_user("jo").is_admin
    traza("users", "delete", "jo", "--yes")
    assert auth.find_user("jo") is None
    short = runner.invoke(
        main, ["users", "create", "x", "--password", "short", "--backend-store-uri", uri]
    )
    assert short.exit_code == 1 and "at least 12 characters" in short.output
    missing = runner.invoke(
        main, ["users", "list", "--backend-store-uri", f"sqlite:///{tmp_path}/no.db"]
    )
    assert missing.exit_code == 1 and "No database" in missing.output
