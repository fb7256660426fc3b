"""Access-token attacks (security catalogue J01-J15, J17, J23): every one is the same 401."""

import time
import uuid
from typing import Any

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwt.warnings import InsecureKeyLengthWarning

from app.auth.config import AuthSettings
from app.auth.tokens import TokenCodec
from app.core.config import Settings
from app.main import create_app
from tests.auth.conftest import ME, auth_header, claims_for, forge, unsigned
from tests.auth.plugin import create_account
from tests.conftest import TEST_SECRET_KEY, make_settings, running_client

OTHER_SECRET = "another-secret-4f9c2b7e1a8d6c3f0e5b9a2d7c4e1f8a"


def uniform(response: httpx2.Response) -> dict[str, Any]:
    """The parts of a 401 that must not differ by reason (the request id always does)."""
    body = response.json()
    body.pop("request_id")
    return {
        "status": response.status_code,
        "www-authenticate": response.headers.get("www-authenticate"),
        "body": body,
    }


async def user_id(settings: Settings) -> uuid.UUID:
    return (await create_account(settings, ["user"])).id


async def assert_refused(client: httpx2.AsyncClient, token: str) -> None:
    response = await client.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert uniform(response) == {
        "status": 401,
        "www-authenticate": "Bearer",
        "body": {
            "type": "about:blank",
            "title": "Unauthorized",
            "status": 401,
            "detail": "Not authenticated.",
            "instance": ME,
        },
    }


def ed25519_keys() -> tuple[str, str]:
    private = ed25519.Ed25519PrivateKey.generate()
    return _pem(private), _public_pem(private.public_key())


def _pem(private: ed25519.Ed25519PrivateKey) -> str:
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _public_pem(public: ed25519.Ed25519PublicKey) -> str:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


class TestValidToken:
    async def test_a_token_we_issued_is_accepted(
        self, anon: httpx2.AsyncClient, settings: Settings
    ) -> None:
        subject = await user_id(settings)
        response = await anon.get(ME, headers=auth_header(forge(claims_for(subject))))
        assert response.status_code == 200
        assert response.json()["id"] == str(subject)

    async def test_small_clock_skew_is_tolerated(
        self, anon: httpx2.AsyncClient, settings: Settings
    ) -> None:
        # J06, second half: expired 5 s ago, inside the 10 s leeway.
        token = forge(claims_for(await user_id(settings), exp=int(time.time()) - 5))
        assert (await anon.get(ME, headers=auth_header(token))).status_code == 200


class TestRefused:
    @pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
    async def test_alg_none(self, anon: httpx2.AsyncClient, settings: Settings, alg: str) -> None:
        claims = claims_for(await user_id(settings))
        await assert_refused(anon, unsigned({"alg": alg, "typ": "JWT"}, claims))

    @pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
    async def test_algorithm_outside_the_allow_list(
        self, anon: httpx2.AsyncClient, settings: Settings, algorithm: str
    ) -> None:
        claims = claims_for(await user_id(settings))
        # Same secret, stronger hash: PyJWT itself warns that the key is short for it.
        with pytest.warns(InsecureKeyLengthWarning):
            token = forge(claims, algorithm=algorithm)
        await assert_refused(anon, token)

    async def test_rs256_with_an_attacker_key(
        self, anon: httpx2.AsyncClient, settings: Settings
    ) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        claims = claims_for(await user_id(settings))
        await assert_refused(anon, forge(claims, key=key, algorithm="ES256"))

    async def test_tampered_payload_truncated_and_swapped_signatures(
        self, anon: httpx2.AsyncClient, settings: Settings
    ) -> None:
        subject = await user_id(settings)
        token = forge(claims_for(subject))
        header, _, signature = token.split(".")
        admin = forge(claims_for(subject, roles=["admin"])).split(".")[1]
        other = forge(claims_for(subject)).split(".")[2]
        for mutated in (
            f"{header}.{admin}.{signature}",
            f"{header}.{token.split('.')[1]}.",
            f"{header}.{token.split('.')[1]}",
            f"{header}.{token.split('.')[1]}.{other}",
            token[:-2],
        ):
            await assert_refused(anon, mutated)

    async def test_wrong_key(self, anon: httpx2.AsyncClient, settings: Settings) -> None:
        await assert_refused(anon, forge(claims_for(await user_id(settings)), key=OTHER_SECRET))

    async def test_expired_beyond_the_leeway(
        self, anon: httpx2.AsyncClient, settings: Settings
    ) -> None:
        claims = claims_for(await user_id(settings), exp=int(time.time()) - 60)
        await assert_refused(anon, forge(claims))

    @pytest.mark.parametrize(
        "claim", ["sub", "iat", "nbf", "exp", "jti", "typ", "iss", "aud", "roles"]
    )
    async def test_missing_required_claim(
        self, anon: httpx2.AsyncClient, settings: Settings, claim: str
    ) -> None:
        claims = claims_for(await user_id(settings))
        del claims[claim]
        await assert_refused(anon, forge(claims))

    @pytest.mark.parametrize("claim", ["nbf", "iat"])
    async def test_not_yet_valid(
        self, anon: httpx2.AsyncClient, settings: Settings, claim: str
    ) -> None:
        claims = claims_for(await user_id(settings), **{claim: int(time.time()) + 120})
        await assert_refused(anon, forge(claims))

    @pytest.mark.parametrize("audience", ["other-api", ["app-api", "other-api"], "app"])
    async def test_audience(
        self, anon: httpx2.AsyncClient, settings: Settings, audience: object
    ) -> None:
        await assert_refused(anon, forge(claims_for(await user_id(settings), aud=audience)))

    @pytest.mark.parametrize("issuer", ["evil", "app.evil", "https://app", "ap"])
    async def test_issuer(self, anon: httpx2.AsyncClient, settings: Settings, issuer: str) -> None:
        await assert_refused(anon, forge(claims_for(await user_id(settings), iss=issuer)))

    @pytest.mark.parametrize("kind", ["refresh", "reset", "ws", "ACCESS", ""])
    async def test_other_token_types(
        self, anon: httpx2.AsyncClient, settings: Settings, kind: str
    ) -> None:
        await assert_refused(anon, forge(claims_for(await user_id(settings), typ=kind)))

    async def test_subject_that_is_not_a_user_id(self, anon: httpx2.AsyncClient) -> None:
        for subject in ("admin", "1", "' OR 1=1 --"):
            await assert_refused(anon, forge(claims_for(subject)))

    async def test_unknown_critical_header(
        self, anon: httpx2.AsyncClient, settings: Settings
    ) -> None:
        claims = claims_for(await user_id(settings))
        headers = {"crit": ["x-unknown"], "x-unknown": 1}
        await assert_refused(anon, jwt.encode(claims, TEST_SECRET_KEY, "HS256", headers=headers))

    async def test_embedded_keys_are_ignored(
        self, anon: httpx2.AsyncClient, settings: Settings
    ) -> None:
        attacker = ec.generate_private_key(ec.SECP256R1())
        jwk = jwt.algorithms.ECAlgorithm.to_jwk(attacker.public_key(), as_dict=True)
        claims = claims_for(await user_id(settings))
        for header in (
            {"jwk": jwk},
            {"jku": "http://127.0.0.1:9/keys"},
            {"x5u": "http://127.0.0.1:9/c"},
        ):
            await assert_refused(anon, forge(claims, key=attacker, algorithm="ES256", **header))
            await assert_refused(anon, forge(claims, key=OTHER_SECRET, **header))

    @pytest.mark.parametrize(
        "token",
        [
            "a",
            "a.b",
            "a.b.c.d",
            "!!!.???.***",
            "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln",
            "x" * 100_000,
        ],
    )
    async def test_malformed_tokens(self, anon: httpx2.AsyncClient, token: str) -> None:
        await assert_refused(anon, token)

    async def test_non_ascii_authorization_header(self, anon: httpx2.AsyncClient) -> None:
        value = "Bearer é.ü.ß".encode("latin-1")
        response = await anon.get(ME, headers={b"Authorization": value})
        assert response.status_code == 401

    @pytest.mark.parametrize("scheme", ["Basic", "Token", "bearer\t", ""])
    async def test_other_schemes(
        self, anon: httpx2.AsyncClient, settings: Settings, scheme: str
    ) -> None:
        token = forge(claims_for(await user_id(settings)))
        response = await anon.get(ME, headers={"Authorization": f"{scheme} {token}".strip()})
        assert response.status_code == 401

    async def test_token_in_the_query_string_is_ignored(
        self, anon: httpx2.AsyncClient, settings: Settings
    ) -> None:
        token = forge(claims_for(await user_id(settings)))
        response = await anon.get(ME, params={"access_token": token})
        assert response.status_code == 401


class TestAsymmetricKeys:
    """EdDSA with key ids: `kid` only picks one of the configured public keys (J02, J12)."""

    @pytest.fixture
    def keys(self, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
        private, public = ed25519_keys()
        _, old_public = ed25519_keys()
        monkeypatch.setenv("AUTH_ALGORITHM", "EdDSA")
        monkeypatch.setenv("AUTH_PRIVATE_KEY", private)
        monkeypatch.setenv("AUTH_KEY_ID", "k2")
        monkeypatch.setenv(
            "AUTH_PUBLIC_KEYS",
            f'{{"k1": {old_public!r}, "k2": {public!r}}}'.replace("'", '"').replace("\n", "\\n"),
        )
        return {"private": private, "public": public}

    async def test_tokens_carry_kid_and_verify(
        self, settings: Settings, keys: dict[str, str]
    ) -> None:
        subject = await user_id(settings)
        codec = TokenCodec(AuthSettings(), settings)
        token, _ = codec.issue_access_token(str(subject), frozenset({"user"}))
        assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "kid": "k2", "typ": "JWT"}
        async with running_client(settings, anonymous=True) as client:
            assert (await client.get(ME, headers=auth_header(token))).status_code == 200

    async def test_hmac_with_the_public_key_is_refused(
        self, settings: Settings, keys: dict[str, str]
    ) -> None:
        claims = claims_for(await user_id(settings))
        async with running_client(settings, anonymous=True) as client:
            for kid in ("k2", None):
                headers = {"kid": kid} if kid else {}
                await assert_refused(client, unsigned_hmac(claims, keys["public"], headers))

    @pytest.mark.parametrize("kid", ["../../dev/null", "' OR 1=1 --", "k" * 10_000, "k3", "", None])
    async def test_kid_injection(
        self, settings: Settings, keys: dict[str, str], kid: object
    ) -> None:
        private = serialization.load_pem_private_key(keys["private"].encode(), None)
        assert isinstance(private, ed25519.Ed25519PrivateKey)
        headers = {"kid": kid} if kid is not None else {}
        token = jwt.encode(claims_for(await user_id(settings)), private, "EdDSA", headers=headers)
        async with running_client(settings, anonymous=True) as client:
            await assert_refused(client, token)


def unsigned_hmac(claims: dict[str, Any], public_pem: str, headers: dict[str, Any]) -> str:
    """HS256 keyed with the public key's PEM text (CVE-2022-29217); PyJWT refuses to do it."""
    import hashlib
    import hmac
    import json

    from tests.auth.conftest import b64

    header = {"alg": "HS256", "typ": "JWT", **headers}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(public_pem.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


class TestKeyStrength:
    @pytest.mark.parametrize(
        "secret",
        [
            "short",
            "x" * 40,
            "change-me-change-me-change-me-change-me",
            "0123456789abcdef0123456789abcde",
        ],
    )
    def test_weak_secret_refuses_to_start(self, secret: str) -> None:
        # J23: in any environment, not only production.
        with pytest.raises(ValueError, match="SECRET_KEY"):
            create_app(make_settings(secret_key=secret))

    def test_auth_secret_key_takes_precedence(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("AUTH_SECRET_KEY", "short")
        with pytest.raises(ValueError, match="SECRET_KEY"):
            create_app(make_settings(secret_key=TEST_SECRET_KEY))

    def test_asymmetric_without_keys_refuses_to_start(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("AUTH_ALGORITHM", "ES256")
        with pytest.raises(ValueError, match="AUTH_PRIVATE_KEY"):
            create_app(make_settings())
