"""Find secret values written into a blueprint, without ever repeating them.

Two checks: environment variables whose name says they hold a credential but whose value is a
literal, and any string anywhere that looks like key material — a PEM private key, a cloud
access key, a JSON Web Token, a token of a well-known service, a URL with a password, or a
long high-entropy string. Both report only where the value is and what it looks like.
"""

from __future__ import annotations

import enum
import math
import re
import types
import typing
from collections import Counter
from typing import Any, Literal

from pydantic import BaseModel

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
    ("a private key", re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")),
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
# One pass over each string instead of one per pattern (blueprints hold many strings).
_ANY_PATTERN = re.compile(
    "|".join(f"(?P<p{i}>{pattern.pattern})" for i, (_, pattern) in enumerate(_PATTERNS))
)
_TOKEN = re.compile(r"[A-Za-z0-9+/=_-]{24,}")
# Public material that is long and random by design, never a secret: image digests, SSH
# public keys and PEM certificates or public keys.
_PUBLIC = re.compile(
    r"sha(?:256|384|512):[0-9a-f]{64,128}"
    r"|(?:ssh-(?:rsa|dss|ed25519)|ecdsa-sha2-nistp\d+|sk-\S+@openssh\.com) [A-Za-z0-9+/]+=*"
    r"|-----BEGIN (CERTIFICATE|PUBLIC KEY)-----.*?-----END \1-----",
    re.DOTALL,
)
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
    match = _ANY_PATTERN.search(text)
    if match is not None:
        return next(_PATTERNS[int(k[1:])][0] for k, v in match.groupdict().items() if v)
    if len(text) < 24:
        return None
    cleaned = _PUBLIC.sub("", text)
    for token in _TOKEN.findall(cleaned):
        if _high_entropy(token):
            return "a high-entropy string (a key or token)"
    return None


def strings(value: Any, path: Path = ()) -> list[tuple[Path, str]]:
    """Every string of at least 16 characters in plain data, with its path.

    Shorter strings cannot hold any of the secrets looked for. An explicit stack rather than
    recursion: generated blueprints hold hundreds of thousands of values.
    """
    out: list[tuple[Path, str]] = []
    stack: list[tuple[Path, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        kind = type(item)
        if kind is str:
            if len(item) >= 16:
                out.append((where, item))
        elif kind is dict:
            stack.extend(((*where, k), v) for k, v in item.items() if type(v) is not int)
        elif kind is list:
            stack.extend(((*where, i), v) for i, v in enumerate(item))
    return out


def _field_keys(model: type[BaseModel]) -> tuple[tuple[str, str], ...]:
    """(attribute, key in the by-alias dump) of each field of ``model``, in field order."""
    keys = _KEYS.get(model)
    if keys is None:
        keys = tuple(
            (name, f.serialization_alias or f.alias or name)
            for name, f in model.model_fields.items()
            if not _short_scalar(f.annotation)
        )
        _KEYS[model] = keys
    return keys


_KEYS: dict[type[BaseModel], tuple[tuple[str, str], ...]] = {}
_NUMBERS = (int, float, bool, type(None))


def _short_scalar(annotation: Any) -> bool:
    """Whether a field of this type never dumps to a string of 16 characters or more."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return all(_short_scalar(a) for a in typing.get_args(annotation))
    if typing.get_origin(annotation) is Literal:
        return all(not isinstance(v, str) or len(v) < 16 for v in typing.get_args(annotation))
    return annotation in _NUMBERS


_SKIP = (int, float, bool, type(None))


def model_strings(model: BaseModel, path: Path = ()) -> list[tuple[Path, str]]:
    """``strings(model.model_dump(mode="json", by_alias=True))`` without the dump.

    Walks the validated model itself, in the same order and with the same paths: exporting a
    large blueprint to plain data first costs more than the scan. Enumerations count by
    value and other scalars (addresses, dates) by their text, as the JSON dump writes them.
    Values that cannot yield a string (short strings, numbers, None) are dropped before a
    path is built for them, which leaves the order of what is found unchanged.
    """
    out: list[tuple[Path, str]] = []
    stack: list[tuple[Path, Any]] = [(path, model)]
    push = stack.append
    while stack:
        where, item = stack.pop()
        kind = type(item)
        if kind is str:
            out.append((where, item))  # only strings of 16 characters or more are pushed
        elif isinstance(item, BaseModel):
            for name, key in _field_keys(kind):
                value = getattr(item, name)
                if _worth(value):
                    push(((*where, key), value))
        elif kind is dict:
            for k, v in item.items():
                if _worth(v):
                    push(((*where, str(k)), v))
        elif kind is list or kind is tuple or kind is set or kind is frozenset:
            for i, v in enumerate(item):
                if _worth(v):
                    push(((*where, i), v))
        elif isinstance(item, enum.Enum):
            value = item.value
            if isinstance(value, str) and len(value) >= 16:
                out.append((where, value))
        elif not isinstance(item, _SKIP):
            text = item.isoformat() if hasattr(item, "isoformat") else str(item)
            if len(text) >= 16:
                out.append((where, text))
    return out


def _worth(value: Any) -> bool:
    """Whether walking ``value`` can find a string: not a short string, a number or None."""
    kind = type(value)
    if kind is str:
        return len(value) >= 16
    return kind is not int and kind is not bool and kind is not float and value is not None
