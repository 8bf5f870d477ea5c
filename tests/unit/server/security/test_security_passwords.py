"""Password hashing, verification, policy and generation."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from argon2 import PasswordHasher, Type

from attonix.server.security import passwords
from attonix.server.security.passwords import (
    DUMMY_HASH,
    check_password_policy,
    generate_password,
    hash_password,
    needs_rehash,
    verify_dummy,
    verify_password,
)

GOOD = "Violet-Harbour-Quietly-42"


def test_hash_is_argon2id_with_the_documented_parameters() -> None:
    stored = hash_password(GOOD)
    assert stored.startswith("$argon2id$v=19$m=19456,t=3,p=1$")
    assert GOOD not in stored


def test_hashes_are_salted() -> None:
    assert hash_password(GOOD) != hash_password(GOOD)


def test_verify_accepts_the_right_password_only() -> None:
    stored = hash_password(GOOD)
    assert verify_password(stored, GOOD) is True
    assert verify_password(stored, GOOD + "x") is False
    assert verify_password(stored, GOOD.lower()) is False
    assert verify_password(stored, "") is False


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "not a hash",
        "$argon2id$",
        "$argon2id$v=19$m=19456,t=3,p=1$@@@$@@@",
        "$2b$12$abcdefghijklmnopqrstuu5Yx7fZ3wQw8nI1Q0m6i0s0mK8b6sQy",
        DUMMY_HASH[:-5],
    ],
)
def test_verify_returns_false_on_malformed_hash(stored: str) -> None:
    assert verify_password(stored, GOOD) is False


def test_verify_refuses_overlong_passwords_without_hashing() -> None:
    stored = hash_password(GOOD)
    assert verify_password(stored, GOOD + "a" * 2000) is False


def test_verify_never_raises_on_wrong_types() -> None:
    assert verify_password(None, GOOD) is False  # type: ignore[arg-type]
    assert verify_password(hash_password(GOOD), None) is False  # type: ignore[arg-type]


def test_needs_rehash() -> None:
    assert needs_rehash(hash_password(GOOD)) is False
    weaker = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1, type=Type.ID)
    assert needs_rehash(weaker.hash(GOOD)) is True
    # A readable old hash still verifies, so the login can upgrade it.
    assert verify_password(weaker.hash(GOOD), GOOD) is True
    assert needs_rehash("garbage") is True


def test_dummy_hash_matches_current_parameters_and_takes_as_long() -> None:
    assert needs_rehash(DUMMY_HASH) is False
    assert verify_dummy(GOOD) is False
    assert verify_dummy() is False
    stored = hash_password(GOOD)

    def fastest(check: Callable[[], object]) -> float:
        # The minimum of a few runs filters out pauses caused by other work on the machine.
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            check()
            runs.append(time.perf_counter() - start)
        return min(runs)

    real = fastest(lambda: verify_password(stored, "wrong password 1"))
    dummy = fastest(lambda: verify_dummy("wrong password 1"))
    # Same parameters, same work: within a generous factor on a shared machine.
    assert dummy > real / 4
    assert real > dummy / 4


def test_policy_accepts_a_good_password() -> None:
    assert check_password_policy(GOOD, username="alice", email="alice@example.com") == []
    assert check_password_policy("correct horse battery staple zebra") == []


def test_policy_too_short_and_too_long() -> None:
    problems = check_password_policy("Sh0rt!")
    assert any("at least 12 characters" in p for p in problems)
    assert check_password_policy("Sh0rt!pass", min_length=8) == []
    long = ("Ab1-" * 300)[:1025]
    assert any("at most 1024" in p for p in check_password_policy(long))
    assert not any("at most" in p for p in check_password_policy(long[:1024]))


def test_the_rules_shown_before_an_attempt_name_what_the_policy_checks() -> None:
    rules = " ".join(passwords.password_rules(min_length=16))
    assert "At least 16 characters" in rules and "at most 1024" in rules
    for checked in ("two kinds", "user name", "e-mail", "common or breached"):
        assert checked in rules
    # A password each rule describes as wrong is refused by the policy.
    assert check_password_policy("Abcdefgh-123456", min_length=16)
    assert check_password_policy("abcdefghijklmnopq", min_length=16)


def test_policy_rejects_username_and_email_local_part() -> None:
    problems = check_password_policy("xx-Jdoe-2024-yy!", username="JDoe")
    assert any("user name" in p for p in problems)
    problems = check_password_policy("my-Johnny.B-password!", email="johnny.b@example.com")
    assert any("e-mail" in p for p in problems)
    # Very short names are not matched: they would reject most passwords.
    assert check_password_policy(GOOD, username="Vi") == []


@pytest.mark.parametrize(
    "password",
    ["abcdefghijklmnopq", "ABCDEFGHIJKLMNOP", "918273645091827364", "!@#$%^&*()_+{}|:<>"],
)
def test_policy_rejects_a_single_character_class(password: str) -> None:
    problems = check_password_policy(password)
    assert any("two kinds of characters" in p for p in problems)


@pytest.mark.parametrize(
    "password",
    [
        "password1234",
        "PASSWORD1234",
        "Password2024!",
        "qwertyuiop123",
        "1qaz2wsx3edc",
        "iloveyou1234",
        "Summer2023!",
        "qwertyuiopasdfghjkl",
    ],
)
def test_policy_rejects_common_passwords_case_insensitively(password: str) -> None:
    problems = check_password_policy(password, min_length=8)
    assert any("common or breached" in p for p in problems), problems


def test_common_list_is_shipped_and_loaded_once() -> None:
    words = passwords._common_passwords()
    assert len(words) > 5000
    assert "123456" in words
    assert "password2024" in words
    assert all(w == w.lower() for w in words)
    assert passwords._common_passwords() is words


def test_generated_passwords_pass_the_policy_and_differ() -> None:
    generated = {generate_password() for _ in range(50)}
    assert len(generated) == 50
    for password in generated:
        assert len(password) == 20
        assert check_password_policy(password) == []
    assert len(generate_password(64)) == 64


@pytest.mark.parametrize("length", [0, 11, 1025])
def test_generate_refuses_unsafe_lengths(length: int) -> None:
    with pytest.raises(ValueError, match="12 to 1024"):
        generate_password(length)
