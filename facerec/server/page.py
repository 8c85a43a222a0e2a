"""The review page at / : plain HTML, CSS and a little JavaScript shipped in facerec/server/static.

No build step and nothing fetched from the internet: the page talks to /api/v1 with fetch() and shows the
people enrolled (a face thumbnail and photo counts each) and the groups of unknown faces that tagging found,
with forms to name a group (a new name, or an existing person's to merge it in) and to drop faces that do
not belong. The HTML itself holds no data, so it is served without a key; the data it fetches needs one.
"""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "static"
# Only this server's own script, styles and images (uploads shown from blob: URLs), and never inside another
# site's frame: names are user data, and a framed page's buttons could be clicked for the user.
PAGE_POLICY = ("default-src 'self'; img-src 'self' blob: data:; object-src 'none'; base-uri 'none'; "
               "form-action 'self'; frame-ancestors 'none'")
NO_STORE = {"Cache-Control": "no-store", "Content-Security-Policy": PAGE_POLICY, "X-Content-Type-Options": "nosniff"}


def install(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    def review_page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html", headers=NO_STORE)

    @app.get("/live", include_in_schema=False)
    def live_page() -> FileResponse:
        return FileResponse(STATIC / "live.html", media_type="text/html", headers=NO_STORE)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
