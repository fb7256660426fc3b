"""HTTP conditional requests (RFC 9110 §13): ETag matching for If-Match / If-None-Match."""

import hashlib

from pydantic import BaseModel
from starlette.responses import Response

# Clients may cache, but must revalidate with If-None-Match before reuse.
REVALIDATE = "private, no-cache"


def strong_etag(value: str) -> str:
    return f'"{value}"'


def weak_etag_for(body: bytes) -> str:
    return f'W/"{hashlib.sha256(body).hexdigest()[:32]}"'


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def none_match(header: str | None, etag: str) -> bool:
    """True when If-None-Match names the current representation (weak comparison)."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    return any(_opaque(tag) == _opaque(etag) for tag in header.split(","))


def match(header: str, etag: str) -> bool:
    """True when If-Match names the current representation (strong comparison)."""
    if header.strip() == "*":
        return True
    return any(
        tag.strip() == etag and not tag.strip().startswith("W/") for tag in header.split(",")
    )


def revalidate(response: Response, etag: str, if_none_match: str | None) -> Response | None:
    """Tag `response` with `etag`; return a bodiless 304 to send instead when the client's copy
    (If-None-Match) is current."""
    headers = {"ETag": etag, "Cache-Control": REVALIDATE}
    if none_match(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    response.headers.update(headers)
    return None


def tagged_json(response: Response, model: BaseModel, if_none_match: str | None) -> Response:
    """`model` as JSON with a weak ETag of exactly those bytes, serialized once (returning the
    model would have FastAPI serialize it a second time); a bodiless 304 instead when the
    client's copy is current. Keeps the headers set on the route's `response`."""
    body = model.model_dump_json().encode()
    not_modified = revalidate(response, weak_etag_for(body), if_none_match)
    if not_modified is not None:
        return not_modified
    tagged = Response(body, media_type="application/json")
    tagged.raw_headers.extend(response.raw_headers)
    return tagged
