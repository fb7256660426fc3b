"""Auth while Redis is down (REDIS_URL set: revocations and sign-in counters live there).

Both fail closed, with 503 and Retry-After, never a 500: without the revocation list a
signed-out token could pass, so a request with a token is not served (a 401 would make the
client drop a valid session); without the sign-in counter a password guess would go
uncounted, so sign-in is not served either. Both recover when Redis is back, without a
restart.
"""

from app.core.config import Settings
from tests.auth.conftest import LOGOUT, ME, auth_header, register, sign_in, tokens
from tests.conftest import running_client
from tests.outages import Relay, recovers


async def test_tokens_are_refused_and_sign_in_is_503_until_redis_returns(
    redis_relay: tuple[Relay, Settings],
) -> None:
    relay, via_relay = redis_relay
    async with running_client(via_relay, anonymous=True) as client:
        email = (await register(client))["email"]
        signed_in = auth_header((await tokens(client, email))["access_token"])
        assert (await client.get(ME, headers=signed_in)).status_code == 200

        await relay.stop()
        for refused in (
            await client.get(ME, headers=signed_in),
            await client.post(LOGOUT, headers=signed_in),
        ):
            assert refused.status_code == 503, refused.text
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.headers["retry-after"] == "5"
        unavailable = await sign_in(client, email)
        assert unavailable.status_code == 503, unavailable.text
        assert unavailable.headers["content-type"] == "application/problem+json"
        assert "retry-after" in unavailable.headers
        assert "access_token" not in unavailable.text

        await relay.start()
        assert await recovers(lambda: client.get(ME, headers=signed_in), 200) == 200
        assert (await sign_in(client, email)).status_code == 200
