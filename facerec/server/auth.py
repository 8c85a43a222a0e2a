"""Who may ask, and how much: the API key, same-origin and loopback-host checks, and the request size limit.

- API key (when the server has one): DeepStack clients send it as the `api_key` form field; other clients as
  an `X-API-Key` header or `Authorization: Bearer KEY`; the review page logs in once and then carries an
  HttpOnly, SameSite=Strict cookie holding an HMAC of the key (never the key itself). No key: 401; a wrong
  one: 403. Keys are compared in constant time.
- A browser page on another site must not drive this server (a form posted to http://127.0.0.1:5000 from
  anywhere): requests that change something and carry an Origin header must come from this server's origin.
- DNS rebinding: while we listen on loopback only, a Host header naming anything but a loopback address is
  refused, so a page served under some domain that resolves to 127.0.0.1 cannot read our answers.
- Size: a request body over the limit gets 413 before it is read (Content-Length), or as soon as it passes
  the limit (chunked bodies).
"""
from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, Awaitable, Callable
from urllib.parse import urlsplit

from fastapi import Request

from facerec.server.config import is_loopback
from facerec.server.errors import DEEPSTACK_PREFIX, ApiError

SESSION_COOKIE = "facerec_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# --------------------------------------------------------------------------- API key


def session_token(api_key: str) -> str:
    """What the review page's cookie holds: proves the key was given, without storing the key in the browser."""
    return hmac.new(api_key.encode(), b"facerec review page session", hashlib.sha256).hexdigest()


def presented_key(request: Request) -> str | None:
    header = request.headers.get("x-api-key")
    if header:
        return header
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return None


def check_key(api_key: str | None, request: Request, form_key: str | None = None) -> None:
    """Raise 401 (no key presented) or 403 (a wrong one) unless the request carries the server's key."""
    if not api_key:
        return
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and hmac.compare_digest(cookie, session_token(api_key)):
        return
    given = form_key or presented_key(request)
    if not given:
        raise ApiError(401, "an API key is required (api_key form field, X-API-Key header or Authorization: Bearer)")
    if not hmac.compare_digest(given.encode(), api_key.encode()):
        raise ApiError(403, "incorrect API key")


# --------------------------------------------------------------------------- ASGI middlewares


async def send_json(send: Send, scope: Scope, status: int, message: str) -> None:
    if scope.get("path", "").startswith(DEEPSTACK_PREFIX):
        body = {"success": False, "error": message, "duration": 0}
    else:
        body = {"detail": message}
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


class BodyLimitMiddleware:
    """413 for request bodies over `max_bytes`, before the application parses them."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                return await send_json(send, scope, 400, "invalid Content-Length header")
            if declared > self.max_bytes:
                return await send_json(send, scope, 413, self.too_large())
            return await self.app(scope, receive, send)  # the HTTP parser holds the client to that length
        # No length given (chunked): read up to the limit first, then hand the application the same messages.
        messages, total = [], 0
        while True:
            message = await receive()
            messages.append(message)
            total += len(message.get("body", b""))
            if total > self.max_bytes:
                return await send_json(send, scope, 413, self.too_large())
            if message["type"] != "http.request" or not message.get("more_body"):
                break

        async def replay() -> dict[str, Any]:
            return messages.pop(0) if messages else await receive()

        return await self.app(scope, replay, send)

    def too_large(self) -> str:
        return f"request body is larger than the {self.max_bytes / 1024 / 1024:g} MB limit (--max-upload-mb)"


class SameOriginMiddleware:
    """403 for cross-site requests that change something, and for non-loopback Host names on a loopback server."""

    def __init__(self, app: ASGIApp, loopback_only: bool):
        self.app = app
        self.loopback_only = loopback_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers", []))
        host = headers.get(b"host", b"").decode("latin-1")
        if self.loopback_only and host and not is_loopback(urlsplit(f"//{host}").hostname or ""):
            return await send_json(send, scope, 403, f"this server answers only on loopback addresses, not {host!r}")
        origin = headers.get(b"origin")
        if origin and scope.get("method", "GET") not in SAFE_METHODS:
            origin_host = urlsplit(origin.decode("latin-1")).netloc
            if origin_host != host:
                return await send_json(send, scope, 403, "cross-origin request refused")
        return await self.app(scope, receive, send)
