"""Headless Chromium for the server's page tests: Debian's `chromium` driven by Playwright, never a download."""
from __future__ import annotations

import os
import shutil

import pytest

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium_path() -> str | None:
    explicit = os.environ.get("FACEREC_CHROMIUM")
    if explicit:
        return explicit if os.path.isfile(explicit) else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def launch_browser():
    """Generator for a module fixture: a Playwright Browser on the system chromium, or a clean skip."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (the test extra)")
    path = chromium_path()
    if path is None:
        pytest.skip("no chromium found (apt-get install chromium, or set FACEREC_CHROMIUM): browser tests skipped")
    with sync_api.sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=path, headless=True,
                                                 args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        except Exception as e:  # noqa: BLE001 - a browser that cannot start is a skip, not a failure of facerec
            pytest.skip(f"chromium at {path} could not be started: {e}")
        try:
            yield browser
        finally:
            browser.close()


def artifacts_dir(request, tmp_path) -> "os.PathLike[str]":
    """Where a browser test leaves its screenshots: $FACEREC_TEST_ARTIFACTS/<test name> (kept after the run, for a
    person to look at; never committed), else pytest's tmp_path."""
    from pathlib import Path

    root = os.environ.get("FACEREC_TEST_ARTIFACTS")
    if not root:
        return tmp_path
    folder = Path(root) / request.node.name.replace("/", "_")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def route_missing(base_url: str, method: str, path: str, headers: dict[str, str] | None = None) -> str | None:
    """Why a route of issue 19's shared contract (/work/API-19.md) cannot be tested yet: it is not in the server's
    OpenAPI description (another branch builds it); None when it is there."""
    import requests

    paths = requests.get(base_url + "/api/v1/openapi.json", headers=headers, timeout=30).json()["paths"]
    if method.lower() in paths.get(path, {}):
        return None
    return f"{method.upper()} {path} is not served yet (built on branch i19-people, see API-19.md)"
