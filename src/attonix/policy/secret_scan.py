"""Find secret values written into a blueprint, without ever repeating them.

Two checks: environment variables whose name says they hold a credential but whose value is a
literal, and any string anywhere that looks like key material — a PEM private key, a cloud
access key, a JSON Web Token, a token of a well-known service, a URL with a password, or a
long high-entropy string. Both report only where the value is and what it looks like.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from attonix.blueprint.diagnostics import Path

# Name parts that mark an environment variable as holding a credential.
_SECRET_WORDS = frozenset(
    {
        "PASSWORD",
        "PASSWD",
        "PASS",
        "PWD",
        "TOKEN",
        "SECRET",
        "KEY",
        "APIKEY",
        "PRIVATE",
        "CREDENTIAL",
        "CREDENTIALS",
        "AUTH",
        "SALT",
    }
)
# Suffixes naming where a secret is or how it is shaped, not the secret itself.
_SAFE_SUFFIXES = frozenset(
    {
        "FILE",
        "PATH",
        "DIR",
        "NAME",
        "ID",
        "PREFIX",
        "URL",
        "URI",
        "ALGORITHM",
        "LENGTH",
        "SIZE",
        "TTL",
        "TIMEOUT",
        "HEADER",
        "FORMAT",
        "TYPE",
        "ENABLED",
        "REQUIRED",
        "VERSION",
    }
)
_HARMLESS_VALUES = frozenset({"", "true", "false", "yes", "no", "none", "null", "0", "1"})

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a private key", re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----")),
    ("an AWS access key id", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b")),
    (
        "a JSON Web Token",
        re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    ),
    ("a GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_\w{40,})")),
    ("a GitLab token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a password inside a URL", re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@")),
)
_TOKEN = re.compile(r"[A-Za-z0-9+/=_-]{24,}")
_DIGEST = re.compile(r"sha(?:256|384|512):[0-9a-f]{64,128}")
_HEX = re.compile(r"^[0-9a-fA-F]+$")


def secret_env_name(name: str) -> bool:
    """Whether an environment variable's name says it holds a credential."""
    parts = [p for p in re.split(r"[_\W]+", name.upper()) if p]
    if not parts or parts[-1] in _SAFE_SUFFIXES:
        return False
    return any(p in _SECRET_WORDS or p.endswith(("PASSWORD", "TOKEN", "SECRET")) for p in parts)


def literal_secret(name: str, value: str) -> bool:
    """Whether env ``name=value`` writes a credential literally into the blueprint."""
    if not secret_env_name(name):
        return False
    stripped = value.strip()
    # A file path points at a mounted secret; ${VAR} defers to the environment at run time.
    return not (stripped.lower() in _HARMLESS_VALUES or stripped.startswith(("/", "${", "$(")))


def entropy(text: str) -> float:
    """Shannon entropy of ``text`` in bits per character."""
    counts = Counter(text)
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _high_entropy(token: str) -> bool:
    if _HEX.match(token):
        return len(token) >= 32 and entropy(token) >= 3.0
    has_classes = (
        any(c.isupper() for c in token)
        and any(c.islower() for c in token)
        and any(c.isdigit() for c in token)
    )
    return has_classes and entropy(token) >= 4.0


def looks_like_secret(text: str) -> str | None:
    """What kind of secret ``text`` contains (for the message), or None."""
    if len(text) < 16:
        return None
    for kind, pattern in _PATTERNS:
        if pattern.search(text):
            return kind
    # Image digests are long hex by design; they are not secrets.
    cleaned = _DIGEST.sub("", text)
    for token in _TOKEN.findall(cleaned):
        if _high_entropy(token):
            return "a high-entropy string (a key or token)"
    return None


def strings(value: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """Every string in plain data (dicts, lists, scalars) with its path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from strings(item, (*path, i))
