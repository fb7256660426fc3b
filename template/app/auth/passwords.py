"""Password hashing: Argon2id through pwdlib, off the event loop, a bounded number at once.

An Argon2 hash costs ~64 MiB and tens of milliseconds of CPU by design. Run on the event
loop it would stall every other request; run without a bound, a burst of logins could
exhaust memory. So hashes run in worker threads, at most AUTH_HASH_CONCURRENCY at a time.
"""

import unicodedata
from functools import cache
from importlib.resources import files

import anyio
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

MIN_LENGTH = 8
# Long enough for any passphrase, short enough that a megabyte "password" is refused before
# it reaches the hasher.
MAX_LENGTH = 1024

# argon2-cffi's defaults, above OWASP's minimum (m=19 MiB, t=2, p=1).
TIME_COST = 3
MEMORY_COST_KIB = 65_536
PARALLELISM = 4
# Every hash this app stores; anything else (an unusable marker) matches no password.
ARGON2_PREFIX = "$argon2"
# The hash of a random value nobody knows, made with the parameters above.
DUMMY_HASH = "$argon2id$v=19$m=65536,t=3,p=4$o0Z3DzBOkAQP3bO1+hWERg$hWuHPyM7zk//J6y1SyyU7jyF1YLvHcgMs/t5eOnhAzM"  # noqa: E501


def normalize(password: str) -> str:
    """NFKC, so a password typed as composed or decomposed characters is the same password."""
    return unicodedata.normalize("NFKC", password)


@cache
def common_passwords() -> frozenset[str]:
    text = files("app.auth").joinpath("common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip())


def is_common(password: str) -> bool:
    return normalize(password).lower() in common_passwords()


class Passwords:
    """Hash and verify passwords; every call does exactly one Argon2 computation."""

    def __init__(self, concurrency: int) -> None:
        self._hash = PasswordHash(
            (
                Argon2Hasher(
                    time_cost=TIME_COST, memory_cost=MEMORY_COST_KIB, parallelism=PARALLELISM
                ),
            )
        )
        self._limiter = anyio.CapacityLimiter(concurrency)

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(
            self._hash.hash, normalize(password), limiter=self._limiter
        )

    async def verify(self, password: str, hashed: str | None) -> tuple[bool, str | None]:
        """(matches, new hash when the stored one uses older parameters).

        Without a stored hash (unknown user) the password is checked against a dummy hash
        with the same parameters, so an unknown e-mail costs the same work as a wrong
        password and answers the same.
        """
        if hashed is None or not hashed.startswith(ARGON2_PREFIX):
            # Unknown user, or an account without a usable password: same work, no match.
            await anyio.to_thread.run_sync(
                self._hash.verify, normalize(password), DUMMY_HASH, limiter=self._limiter
            )
            return False, None
        return await anyio.to_thread.run_sync(
            self._hash.verify_and_update, normalize(password), hashed, limiter=self._limiter
        )
