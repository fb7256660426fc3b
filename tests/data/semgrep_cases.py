# ruff: noqa
# What each rule of template/.semgrep.yml must flag and what it must leave alone, annotated
# for `semgrep --test` (tests/test_semgrep.py) on the line before each case. Never imported.

import hmac

import jwt
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from slowapi.util import get_ipaddr
from sqlalchemy import select, text
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

app = FastAPI()
decoder = jwt.PyJWT()


def tokens(token: str, key: str) -> None:
    # ruleid: jwt-decode-without-audience-issuer-and-required-claims
    jwt.decode(token, key, algorithms=["HS256"])
    # ruleid: jwt-decode-without-audience-issuer-and-required-claims
    jwt.decode(token, key, algorithms=["HS256"], audience="api", issuer="me")
    # ruleid: jwt-decode-without-audience-issuer-and-required-claims
    decoder.decode(token, key, algorithms=["HS256"], issuer="me", options={"require": ["exp"]})
    # ok: jwt-decode-without-audience-issuer-and-required-claims
    decoder.decode(
        token,
        key,
        algorithms=["HS256"],
        audience="api",
        issuer="me",
        options={"require": ["exp"], "strict_aud": True},
    )
    # ok: jwt-decode-without-audience-issuer-and-required-claims
    jwt.decode(
        token, key, issuer="me", options={"require": ["exp"]}, audience="api", algorithms=["HS256"]
    )
    # ok: jwt-decode-without-audience-issuer-and-required-claims
    token.encode().decode("utf-8")
    # ruleid: jwt-decode-without-verification, jwt-decode-without-audience-issuer-and-required-claims
    jwt.decode(token, options={"verify_signature": False})
    # ruleid: jwt-none-algorithm
    jwt.decode(
        token, key, algorithms=["HS256", "none"], audience="a", issuer="i", options={"require": []}
    )
    # ruleid: jwt-none-algorithm
    jwt.encode({"sub": "1"}, key, algorithm="none")


def comparisons(given_token: str, stored: str, api_key: str, header: str, row: object) -> bool:
    # ruleid: secret-compared-with-equals
    if given_token == stored:
        return True
    # ruleid: secret-compared-with-equals
    if header != api_key:
        return False
    # ruleid: secret-compared-with-equals
    if row.password_hash == header:
        return True
    # ok: secret-compared-with-equals
    if hmac.compare_digest(given_token, stored):
        return True
    # ok: secret-compared-with-equals
    if given_token == "":
        return False
    # ok: secret-compared-with-equals
    if api_key is None or api_key == None:  # noqa: E711
        return False
    # ok: secret-compared-with-equals
    select(Token).where(Token.token_hash == header)
    # ok: secret-compared-with-equals
    select(Token).where(given_token == Token.token_hash)
    # ok: secret-compared-with-equals
    return header == stored


def settings() -> None:
    # ruleid: postgres-setting-outlives-the-transaction
    text("SELECT set_config('app.tenant_id', :tenant, false)")
    # ruleid: postgres-setting-outlives-the-transaction
    text("SET app.tenant_id = '1'")
    # ruleid: postgres-setting-outlives-the-transaction
    text("set session app.tenant_id to '1'")
    # ok: postgres-setting-outlives-the-transaction
    text("SELECT set_config('app.tenant_id', :tenant, true)")
    # ok: postgres-setting-outlives-the-transaction
    text("SET LOCAL app.tenant_id = '1'")


def proxies(request: Request) -> str | None:
    # ruleid: proxy-headers-trusted-from-anyone
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts="*")
    # ruleid: proxy-headers-trusted-from-anyone
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=["10.0.0.1", "*"])
    # ruleid: proxy-headers-trusted-from-anyone
    uvicorn.run(app, forwarded_allow_ips="*")
    # ok: proxy-headers-trusted-from-anyone
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=["10.0.0.1"])
    # ruleid: client-address-from-a-forwarded-header
    address = get_ipaddr(request)
    # ruleid: client-address-from-a-forwarded-header
    address = request.headers.get("X-Forwarded-For", "")
    # ruleid: client-address-from-a-forwarded-header
    address = request.headers["x-real-ip"]
    # ok: client-address-from-a-forwarded-header
    address = request.headers.get("user-agent", "")
    # ok: client-address-from-a-forwarded-header
    return request.client.host if request.client else address


def cors() -> None:
    # ruleid: cors-any-origin-with-credentials
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_credentials=True)
    # ruleid: cors-any-origin-with-credentials
    app.add_middleware(
        CORSMiddleware, allow_credentials=True, allow_methods=["*"], allow_origins=["*"]
    )
    # ok: cors-any-origin-with-credentials
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_credentials=False)
    # ok: cors-any-origin-with-credentials
    app.add_middleware(
        CORSMiddleware, allow_origins=["https://example.com"], allow_credentials=True
    )
