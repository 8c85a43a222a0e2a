"""The review page in a real headless browser (the system chromium through Playwright) against a real server:
sign in with the API key, see the people and the groups of unknown faces that a tag job found, drop a face
that does not belong, name one group and merge another into a person — and the gallery shows it."""
from __future__ import annotations

import shutil
import time

import pytest

from browser import launch_browser
from serverproc import DATA, start_server

pytestmark = pytest.mark.slow  # model tests: real networks on real photos (see tests/conftest.py)

requests = pytest.importorskip("requests")

KEY = "page-key-81c2"
HEADERS = {"X-API-Key": KEY}


@pytest.fixture(scope="module")
def album(tmp_path_factory):
    """Three photos each of two people nobody has enrolled: tagging leaves two groups of unknown faces."""
    root = tmp_path_factory.mktemp("albums")
    album = root / "holiday"
    album.mkdir()
    for person in ("deepface_id03", "deepface_id05"):
        for photo in sorted((DATA / "people" / person).glob("*.jpg")):
            shutil.copy(photo, album / f"{person}_{photo.name}")
    return album


@pytest.fixture(scope="module")
def server(tmp_path_factory, album):
    yield from start_server(tmp_path_factory, "--album-root", str(album.parent), api_key=KEY)


@pytest.fixture(scope="module")
def tagged(server, album):
    """Angelina Jolie enrolled; the album tagged through the API's background job."""
    files = [("images", p.read_bytes()) for p in sorted((DATA / "people" / "Angelina_Jolie").glob("*.jpg"))]
    assert requests.post(server.url + "/api/v1/people/Angelina_Jolie/photos", files=files, headers=HEADERS,
                         timeout=120).status_code == 200
    r = requests.post(server.url + "/api/v1/tag", json={"album": "holiday"}, headers=HEADERS, timeout=30)
    assert r.status_code == 202, r.text
    job = r.json()["job"]
    deadline = time.monotonic() + 120
    while job["state"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.5)
        job = requests.get(server.url + f"/api/v1/jobs/{job['id']}", headers=HEADERS, timeout=30).json()["job"]
    assert job["state"] == "done", job
    assert job["summary"]["faces"] == 6 and job["summary"]["unknown"] == 6
    clusters = requests.get(server.url + "/api/v1/clusters", headers=HEADERS, timeout=30).json()["clusters"]
    assert [c["faces"] for c in clusters] == [3, 3]
    return clusters


@pytest.fixture(scope="module")
def browser():
    yield from launch_browser()


@pytest.fixture
def page(browser, server):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


def people(server) -> dict[str, dict]:
    body = requests.get(server.url + "/api/v1/people", headers=HEADERS, timeout=30).json()
    return {p["name"]: p for p in body["people"]}


def wait_for_images(page, selector: str) -> None:
    """Until every image matched has loaded (or failed: naturalWidth stays 0 and the asserts say so)."""
    page.wait_for_function("sel => [...document.querySelectorAll(sel)].every(img => img.complete)", arg=selector)


def sign_in(page, server) -> None:
    page.goto(server.url + "/")
    page.wait_for_selector("#login-form")
    page.fill("#login-key", "not the key")
    page.click("#login-form button")
    page.wait_for_selector("#status.error")
    page.fill("#login-key", KEY)
    page.click("#login-form button")
    page.wait_for_selector("body[data-ready='1']")


def test_review_page_names_drops_and_merges_groups(page, server, tagged):
    sign_in(page, server)
    # People: Angelina with a thumbnail that really loaded.
    card = page.locator(".person[data-name='Angelina_Jolie']")
    card.wait_for()
    assert "3 photos" in card.inner_text()
    wait_for_images(page, ".person img, .cluster .face img")
    assert card.locator("img").evaluate("img => img.naturalWidth") == 112
    # Two groups, three face thumbnails each.
    groups = page.locator(".cluster")
    assert groups.count() == 2
    assert page.locator(".cluster .face img").evaluate_all("imgs => imgs.map(i => i.naturalWidth)") == [112] * 6
    page.screenshot(path=str(server.workdir / "review.png"), full_page=True)  # for a person to look at

    # Drop one face from group 2.
    second = page.locator(".cluster[data-cluster='2']")
    dropped = int(second.locator(".drop-check").first.get_attribute("value"))
    second.locator(".drop-check").first.check()
    second.locator(".drop-button").click()
    page.wait_for_selector("#status:has-text('Dropped 1 face from group 2')")
    assert page.locator(".cluster[data-cluster='2'] .face").count() == 2

    # Name group 1 as a new person.
    first = page.locator(".cluster[data-cluster='1']")
    first.locator(".name-input").fill("Alice Example")
    first.locator(".name-button").click()
    page.wait_for_selector("#status:has-text('enrolled as Alice Example')")
    page.locator(".person[data-name='Alice Example']").wait_for()
    assert people(server)["Alice Example"]["faces"] == 3

    # Merge group 2 (two faces left) into the person enrolled above (another person here: the mechanics are tested).
    second = page.locator(".cluster[data-cluster='2']")
    second.locator(".name-input").fill("Alice Example")
    second.locator(".name-button").click()
    page.wait_for_selector("#status:has-text('merged into Alice Example')")
    assert people(server)["Alice Example"]["faces"] == 5
    # the status shows before the page has re-read the groups: wait for that
    page.wait_for_function("() => document.querySelectorAll('.cluster').length === 0")
    remaining = requests.get(server.url + "/api/v1/clusters", headers=HEADERS, timeout=30).json()
    assert remaining["clusters"] == [] and remaining["unknown_faces"] == 1  # the dropped face, still unnamed
    assert requests.get(server.url + f"/api/v1/detections/{dropped}/thumbnail", headers=HEADERS,
                        timeout=30).status_code == 404  # in no group any more

    # Regrouping is asked for (reading the groups never regroups): the lone dropped face makes no group.
    page.locator("#regroup-button").click()
    page.wait_for_selector("#status:has-text('Grouped the unknown faces again: 0 groups')")


def test_review_page_without_the_key_shows_only_the_sign_in_form(page, server):
    page.goto(server.url + "/")
    page.wait_for_selector("#login-form")
    assert page.locator("#main").is_hidden()
    assert requests.get(server.url + "/api/v1/clusters", timeout=30).status_code == 401
