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
