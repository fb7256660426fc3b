"""Sessions: sign-in, refresh rotation and reuse, sign-out, and what ends them (J16, J18-J22)."""

import asyncio

import httpx2
import jwt

from app.core.config import Settings
from tests.auth.conftest import (
    LOGOUT,
    ME,
    REFRESH,
    TOKEN,
    account,
    auth_header,
    register,
    sign_in,
    tokens,
)


async def refresh(client: httpx2.AsyncClient, refresh_token: str) -> httpx2.Response:
    return await client.post(REFRESH, json={"refresh_token": refresh_token})


class TestSignIn:
    async def test_password_flow_gives_a_usable_pair(self, anon: httpx2.AsyncClient) -> None:
        user = await register(anon)
        response = await sign_in(anon, user["email"])
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        pair = response.json()
        assert pair["token_type"] == "bearer"
        assert pair["expires_in"] == 900
        me = await anon.get(ME, headers=auth_header(pair["access_token"]))
        assert me.json()["email"] == user["email"]

    async def test_email_is_case_insensitive(self, anon: httpx2.AsyncClient) -> None:
        user = await register(anon, email="Mixed.Case@Example.com")
        assert user["email"] == "mixed.case@example.com"
        assert (await sign_in(anon, "MIXED.case@example.COM")).status_code == 200

    async def test_each_sign_in_is_a_new_independent_session(
        self, anon: httpx2.AsyncClient
    ) -> None:
        # J22: distinct jti and refresh tokens; ending one session leaves the other alone.
        user = await register(anon)
        first, second = await tokens(anon, user["email"]), await tokens(anon, user["email"])
        jtis = {
            jwt.decode(p["access_token"], options={"verify_signature": False})["jti"]
            for p in (first, second)
        }
        assert len(jtis) == 2
        assert first["refresh_token"] != second["refresh_token"]
        await anon.post(LOGOUT, headers=auth_header(first["access_token"]))
        assert (await anon.get(ME, headers=auth_header(second["access_token"]))).status_code == 200
        assert (await refresh(anon, second["refresh_token"])).status_code == 200

    async def test_the_token_url_serves_swagger_authorize(self, anon: httpx2.AsyncClient) -> None:
        schema = (await anon.get("/openapi.json")).json()
        flows = schema["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]
        assert flows["password"]["tokenUrl"] == TOKEN
        user = await register(anon)
        assert (await sign_in(anon, user["email"])).status_code == 200


class TestRefresh:
    async def test_rotation_gives_a_new_pair_and_uses_the_old_token_up(
        self, anon: httpx2.AsyncClient
    ) -> None:
        user = await register(anon)
        first = await tokens(anon, user["email"])
        rotated = await refresh(anon, first["refresh_token"])
        assert rotated.status_code == 200
        second = rotated.json()
        assert second["refresh_token"] != first["refresh_token"]
        assert (await anon.get(ME, headers=auth_header(second["access_token"]))).status_code == 200

    async def test_reuse_revokes_the_whole_family(self, anon: httpx2.AsyncClient) -> None:
        # J19: R1 -> R2; R1 again is refused and takes R2 down with it.
        user = await register(anon)
        r1 = (await tokens(anon, user["email"]))["refresh_token"]
        r2 = (await refresh(anon, r1)).json()["refresh_token"]
        reuse = await refresh(anon, r1)
        assert reuse.status_code == 401
        assert reuse.headers["www-authenticate"] == "Bearer"
        assert (await refresh(anon, r2)).status_code == 401

    async def test_reuse_leaves_other_sessions_alone(self, anon: httpx2.AsyncClient) -> None:
        user = await register(anon)
        stolen = (await tokens(anon, user["email"]))["refresh_token"]
        other = (await tokens(anon, user["email"]))["refresh_token"]
        await refresh(anon, stolen)
        await refresh(anon, stolen)
        assert (await refresh(anon, other)).status_code == 200

    async def test_twenty_concurrent_refreshes_one_success(self, anon: httpx2.AsyncClient) -> None:
        # J20: one conditional UPDATE decides; the losers see a used token and revoke the
        # family, so even the winner's new token is dead afterwards (no grace window).
        user = await register(anon)
        token = (await tokens(anon, user["email"]))["refresh_token"]
        responses = await asyncio.gather(*(refresh(anon, token) for _ in range(20)))
        statuses = [response.status_code for response in responses]
        assert statuses.count(200) == 1
        # 429 where rate limiting is present: its strict limit on refresh refused some first.
        assert set(statuses) - {200} <= {401, 429}
        winner = next(r for r in responses if r.status_code == 200).json()
        # Refused: 401, or 429 where rate limiting has already had enough of this client.
        assert (await refresh(anon, winner["refresh_token"])).status_code in {401, 429}

    async def test_unknown_and_oversized_tokens(self, anon: httpx2.AsyncClient) -> None:
        assert (await refresh(anon, "not-a-token")).status_code == 401
        assert (await refresh(anon, "x" * 201)).status_code == 422

    async def test_an_access_token_is_no_refresh_token(self, anon: httpx2.AsyncClient) -> None:
        user = await register(anon)
        pair = await tokens(anon, user["email"])
        assert (await refresh(anon, pair["access_token"][:200])).status_code == 401


class TestSignOut:
    async def test_logout_refuses_the_access_token_and_its_refresh_family(
        self, anon: httpx2.AsyncClient
    ) -> None:
        # J18
        user = await register(anon)
        pair = await tokens(anon, user["email"])
        rotated = (await refresh(anon, pair["refresh_token"])).json()
        out = await anon.post(LOGOUT, headers=auth_header(rotated["access_token"]))
        assert out.status_code == 204
        assert (await anon.get(ME, headers=auth_header(rotated["access_token"]))).status_code == 401
        assert (await refresh(anon, rotated["refresh_token"])).status_code == 401

    async def test_logout_needs_a_token(self, anon: httpx2.AsyncClient) -> None:
        assert (await anon.post(LOGOUT)).status_code == 401


class TestStateChangesApplyAtOnce:
    async def test_password_change_ends_every_session(self, anon: httpx2.AsyncClient) -> None:
        # J21: other sessions die; the caller gets a fresh pair.
        user = await register(anon)
        other = await tokens(anon, user["email"])
        mine = await tokens(anon, user["email"])
        change = await anon.post(
            f"{ME}/password",
            json={
                "current_password": "correct horse battery staple",
                "new_password": "a new long passphrase 42",
            },
            headers=auth_header(mine["access_token"]),
        )
        assert change.status_code == 200, change.text
        fresh = change.json()
        for old in (other, mine):
            assert (await anon.get(ME, headers=auth_header(old["access_token"]))).status_code == 401
            assert (await refresh(anon, old["refresh_token"])).status_code == 401
        assert (await anon.get(ME, headers=auth_header(fresh["access_token"]))).status_code == 200
        assert (await sign_in(anon, user["email"])).status_code == 401
        assert (await sign_in(anon, user["email"], "a new long passphrase 42")).status_code == 200

    async def test_password_change_needs_the_current_password(
        self, anon: httpx2.AsyncClient
    ) -> None:
        user = await register(anon)
        pair = await tokens(anon, user["email"])
        change = await anon.post(
            f"{ME}/password",
            json={
                "current_password": "wrong wrong wrong",
                "new_password": "a new long passphrase 42",
            },
            headers=auth_header(pair["access_token"]),
        )
        assert change.status_code == 401
        assert (await anon.get(ME, headers=auth_header(pair["access_token"]))).status_code == 200

    async def test_deactivation_deletion_and_demotion(
        self, anon: httpx2.AsyncClient, settings: Settings
    ) -> None:
        # J16: a valid token of a changed account is refused at once.
        _, admin = await account(settings, "user", "admin")
        victims = [await register(anon) for _ in range(3)]
        pairs = [await tokens(anon, victim["email"]) for victim in victims]
        deactivated, deleted, demoted_admin = victims
        await anon.patch(
            f"/api/users/{demoted_admin['id']}", json={"roles": ["admin", "user"]}, headers=admin
        )
        promoted = await tokens(anon, demoted_admin["email"])
        assert (
            await anon.get("/api/users", headers=auth_header(promoted["access_token"]))
        ).status_code == 200

        assert (
            await anon.patch(
                f"/api/users/{deactivated['id']}", json={"is_active": False}, headers=admin
            )
        ).status_code == 200
        assert (await anon.delete(f"/api/users/{deleted['id']}", headers=admin)).status_code == 204
        assert (
            await anon.patch(
                f"/api/users/{demoted_admin['id']}", json={"roles": ["user"]}, headers=admin
            )
        ).status_code == 200

        for pair in pairs[:2]:
            assert (
                await anon.get(ME, headers=auth_header(pair["access_token"]))
            ).status_code == 401
            assert (await refresh(anon, pair["refresh_token"])).status_code == 401
        assert (
            await anon.get("/api/users", headers=auth_header(promoted["access_token"]))
        ).status_code == 401
        renewed = (await refresh(anon, promoted["refresh_token"])).json()
        assert (
            await anon.get("/api/users", headers=auth_header(renewed["access_token"]))
        ).status_code == 403
        assert (await sign_in(anon, deactivated["email"])).status_code == 401
