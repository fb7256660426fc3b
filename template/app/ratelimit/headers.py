"""Response headers describing the limit a request was counted against.

`RateLimit-Policy` and `RateLimit` follow draft-ietf-httpapi-ratelimit-headers (structured
fields: quoted policy name, q = quota, w = window seconds; r = remaining, t = seconds until
the quota has room again). The older `X-RateLimit-*` trio is what most clients still read;
its Reset is a Unix timestamp, as GitHub and most gateways send it.
"""

import time

from app.ratelimit.limiter import Decision


def _quoted(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def rate_limit_headers(decisions: list[Decision]) -> list[tuple[str, str]]:
    """Headers for the policies a request was counted against (at least one).

    The draft fields list every policy; the X- trio, which has room for one, describes the
    one closest to refusing.
    """
    policies = ", ".join(
        f"{_quoted(d.policy.name)};q={d.policy.item.amount};w={d.policy.window_seconds}"
        for d in decisions
    )
    current = ", ".join(
        f"{_quoted(d.policy.name)};r={d.remaining};t={d.reset_after}" for d in decisions
    )
    tightest = min(decisions, key=lambda d: (d.allowed, d.remaining))
    return [
        ("RateLimit-Policy", policies),
        ("RateLimit", current),
        ("X-RateLimit-Limit", str(tightest.policy.item.amount)),
        ("X-RateLimit-Remaining", str(tightest.remaining)),
        ("X-RateLimit-Reset", str(int(time.time()) + tightest.reset_after)),
    ]
