"""Response headers describing the limit a request was counted against.

`RateLimit-Policy` and `RateLimit` follow draft-ietf-httpapi-ratelimit-headers (structured
fields: quoted policy name, q = quota, w = window seconds; r = remaining, t = seconds until
the quota has room again). The older `X-RateLimit-*` trio is what most clients still read;
its Reset is a Unix timestamp, as GitHub and most gateways send it.
"""

import time

from app.ratelimit.limiter import Decision


def rate_limit_headers(decision: Decision) -> list[tuple[str, str]]:
    policy = decision.policy
    name = policy.name.replace("\\", "\\\\").replace('"', '\\"')
    return [
        ("RateLimit-Policy", f'"{name}";q={policy.item.amount};w={policy.window_seconds}'),
        ("RateLimit", f'"{name}";r={decision.remaining};t={decision.reset_after}'),
        ("X-RateLimit-Limit", str(policy.item.amount)),
        ("X-RateLimit-Remaining", str(decision.remaining)),
        ("X-RateLimit-Reset", str(int(time.time()) + decision.reset_after)),
    ]
