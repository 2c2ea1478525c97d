"""Public identifiers: 26 characters of [0-9a-z], from a CSPRNG, so they cannot be guessed."""

from __future__ import annotations

import re
import secrets

ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
ID_LENGTH = 26
ID_PATTERN = re.compile(r"^[0-9a-z]{26}$")


def new_id() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(ID_LENGTH))


def is_public_id(value: str) -> bool:
    return bool(ID_PATTERN.match(value))
