"""Who may ask, and how much: the API key, same-origin and loopback-host checks, and the request size limit.

- API key (when the server has one): DeepStack clients send it as the `api_key` form field; other clients as
  an `X-API-Key` header or `Authorization: Bearer KEY`; the review page logs in once and then carries an
  HttpOnly, SameSite=Strict cookie holding an HMAC of the key (never the key itself). No key: 401; a wrong
  one: 403. Keys are compared in constant time.
- A browser page on another site must not drive this server (a form posted to http://127.0.0.1:5000 from
  anywhere) nor learn anything from it (an <img src=/api/v1/people/NAME/thumbnail> that loads or fails tells
  whether NAME is enrolled): every request but those for the pages themselves, their static files, health and
  the OpenAPI document is refused when the browser says it comes from another site -- Sec-Fetch-Site other
  than same-origin/none, or an Origin or Referer naming another host. Clients that are not browsers send none
  of these headers and are not affected. GETs never change anything (facerec.server.api).
- Logging in (POST /api/v1/login) is rate-limited per client: a few wrong keys, then 429 with Retry-After.
- DNS rebinding: while we listen on loopback only, a Host header naming anything but a loopback address is
  refused, so a page served under some domain that resolves to 127.0.0.1 cannot read our answers.
- Size: a request body over the limit gets 413 before it is read (Content-Length), or as soon as it passes
  the limit (chunked bodies).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import math
import threading
import time
from typing import Any, Awaitable, Callable
from urllib.parse import urlsplit

from fastapi import Request

from facerec.server.config import is_loopback
from facerec.server.errors import DEEPSTACK_PREFIX, ApiError

SESSION_COOKIE = "facerec_session"
# What a page of another site may load: the pages and their static files hold no data.
PUBLIC_PATHS = frozenset({"/", "/live", "/api/v1/health", "/api/v1/openapi.json"})
PUBLIC_PREFIXES = ("/static/",)
SAME_SITE_FETCHES = frozenset({"same-origin", "none"})  # Sec-Fetch-Site: our own page, or typed by the user
LOGIN_BURST = 5  # wrong keys a client may try at once...
LOGIN_REFILL_S = 1.0  # ...then one more per second

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


class LoginThrottle:
    """A token bucket per client address for wrong keys: LOGIN_BURST at once, then one per LOGIN_REFILL_S."""

    MAX_CLIENTS = 10_000  # bounded memory: full buckets are forgotten first

    def __init__(self, burst: int = LOGIN_BURST, refill_s: float = LOGIN_REFILL_S):
        self.burst, self.refill_s = burst, refill_s
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, when counted)
        self._lock = threading.Lock()

    def _tokens(self, client: str, now: float) -> float:
        tokens, then = self._buckets.get(client, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - then) / self.refill_s)

    def retry_after(self, client: str) -> int:
        """Seconds until `client` may try a key again (0: now)."""
        with self._lock:
            tokens = self._tokens(client, time.monotonic())
        return 0 if tokens >= 1 else max(1, math.ceil((1 - tokens) * self.refill_s))

    def failed(self, client: str) -> None:
        with self._lock:
            now = time.monotonic()
            self._buckets[client] = (max(0.0, self._tokens(client, now) - 1), now)
            if len(self._buckets) > self.MAX_CLIENTS:
                waiting = {c: tw for c, tw in self._buckets.items() if self._tokens(c, now) < self.burst}
                latest = sorted(waiting, key=lambda c: waiting[c][1])[-self.MAX_CLIENTS:]
                self._buckets = {c: waiting[c] for c in latest}


def check_login(api_key: str | None, request: Request, form_key: str, throttle: LoginThrottle) -> None:
    """check_key for POST /api/v1/login, refused with 429 while the client has tried too many wrong keys."""
    client = request.client.host if request.client else "?"
    wait = throttle.retry_after(client)
    if wait:
        raise ApiError(429, f"too many wrong keys; try again in {wait} s", headers={"Retry-After": str(wait)})
    try:
        check_key(api_key, request, form_key)
    except ApiError:
        throttle.failed(client)
        raise


def is_cross_site(headers: dict[bytes, bytes], host: str) -> bool:
    """What the browser says of where a request comes from: another site (or an opaque origin) than `host`."""
    fetch_site = headers.get(b"sec-fetch-site")
    if fetch_site is not None and fetch_site.decode("latin-1").strip().lower() not in SAME_SITE_FETCHES:
        return True
    source = headers.get(b"origin") or headers.get(b"referer")
    return source is not None and urlsplit(source.decode("latin-1")).netloc != host


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


class SameOriginMiddleware:
    """403 for requests from pages of other sites (but for the pages themselves), and for non-loopback Host names
    on a loopback server."""

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
        if not is_public(scope.get("path", "")) and is_cross_site(headers, host):
            return await send_json(send, scope, 403, "cross-site request refused: a page of another site may not "
                                                     "read or change anything on this server")
        return await self.app(scope, receive, send)
