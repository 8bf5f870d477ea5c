"""Password hashing (argon2id), the password policy, and one-time password generation.

Parameters: argon2id, memory 19 MiB (19456 KiB), 3 passes, 1 lane, 16-byte salt, 32-byte tag.
That is above OWASP's argon2id floor (19 MiB, t=2) and measured at about 25-30 ms per hash on a
shared 2-core machine: slow enough to make offline guessing expensive, fast enough that a
burst of logins does not starve the API. One lane because a login must not take both cores.
"""

from __future__ import annotations

import functools
import secrets
import string
from importlib import resources

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

MEMORY_COST_KIB = 19456
TIME_COST = 3
PARALLELISM = 1
HASH_LEN = 32
SALT_LEN = 16

MAX_LENGTH = 1024
"""Longest password accepted: long enough for any passphrase, short enough to bound work."""

_HASHER = PasswordHasher(
    time_cost=TIME_COST,
    memory_cost=MEMORY_COST_KIB,
    parallelism=PARALLELISM,
    hash_len=HASH_LEN,
    salt_len=SALT_LEN,
    type=Type.ID,
)

DUMMY_HASH = (
    "$argon2id$v=19$m=19456,t=3,p=1$uW4rDcxuoyFGGglW4gCnWA"
    "$ykLaZXD0S8uimETxpO0ogjqDEpXV70oOkLf3JVWyIB8"
)
"""A hash with the current parameters whose password nobody knows; see :func:`verify_dummy`."""

# Punctuation that survives copy-paste, shells and URL forms without quoting surprises.
_GENERATED_SYMBOLS = "-_.!@#%+="
_GENERATED_ALPHABET = string.ascii_letters + string.digits + _GENERATED_SYMBOLS


def hash_password(password: str) -> str:
    """Hash a password with argon2id and the module's parameters, returning the PHC string."""
    return _HASHER.hash(password)


def verify_password(stored: str, password: str) -> bool:
    """Tell whether ``password`` matches the stored hash; False (never an exception) otherwise."""
    if not isinstance(stored, str) or not isinstance(password, str):
        return False
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
    except ValueError:
        # A hash string that parses but carries impossible parameters.
        return False


def verify_dummy(password: str = "") -> bool:
    """Spend one verification's time and return False, so unknown users look like known ones."""
    verify_password(DUMMY_HASH, password or "\x00")
    return False


def needs_rehash(stored: str) -> bool:
    """Tell whether a stored hash uses other parameters than today's (or is unreadable)."""
    try:
        return _HASHER.check_needs_rehash(stored)
    except (InvalidHashError, ValueError):
        return True


@functools.cache
def _common_passwords() -> frozenset[str]:
    """The shipped list of refused passwords, lower-cased; read once, on first use."""
    text = (
        resources.files("attonix.server.security")
        .joinpath("data/common-passwords.txt")
        .read_text(encoding="utf-8")
    )
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and line[0] != "#"
    )


def _character_classes(password: str) -> int:
    """Count lower case, upper case, digits and everything else present in the password."""
    return sum(
        (
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )


def password_rules(min_length: int = 12) -> list[str]:
    """The policy :func:`check_password_policy` enforces, as sentences to show before a first
    attempt."""
    return [
        f"At least {min_length} characters (at most {MAX_LENGTH}).",
        "At least two kinds of characters (lower case, upper case, digits, symbols);"
        " a passphrase with spaces counts.",
        "Not containing your user name or e-mail address, and not a common or breached password.",
    ]


def check_password_policy(
    password: str, *, min_length: int = 12, username: str = "", email: str = ""
) -> list[str]:
    """Return the policy problems of a candidate password, as sentences; empty means acceptable."""
    problems: list[str] = []
    if len(password) < min_length:
        problems.append(f"Use at least {min_length} characters (this has {len(password)}).")
    if len(password) > MAX_LENGTH:
        problems.append(f"Use at most {MAX_LENGTH} characters.")
    lowered = password.lower()
    # Three characters is the shortest name worth matching; "al" would reject half the
    # dictionary.
    if len(username) >= 3 and username.lower() in lowered:
        problems.append("Do not include your user name in your password.")
    local_part = email.split("@", 1)[0].lower() if email else ""
    if len(local_part) >= 3 and local_part in lowered and local_part != username.lower():
        problems.append("Do not include your e-mail address in your password.")
    if password and _character_classes(password) < 2:
        problems.append(
            "Mix at least two kinds of characters (lower case, upper case, digits, symbols);"
            " a passphrase with spaces counts."
        )
    if lowered in _common_passwords() or lowered.strip() in _common_passwords():
        problems.append(
            "This password is on a list of common or breached passwords; choose another."
        )
    return problems


def generate_password(length: int = 20) -> str:
    """Return a random password of ``length`` characters that passes the default policy."""
    if not 12 <= length <= MAX_LENGTH:
        raise ValueError(f"generated passwords are 12 to {MAX_LENGTH} characters long")
    while True:
        candidate = "".join(secrets.choice(_GENERATED_ALPHABET) for _ in range(length))
        # Rejection sampling keeps the distribution uniform over acceptable passwords
        # instead of forcing one character of each class into fixed positions.
        if (
            any(c.islower() for c in candidate)
            and any(c.isupper() for c in candidate)
            and any(c.isdigit() for c in candidate)
            and not check_password_policy(candidate)
        ):
            return candidate
