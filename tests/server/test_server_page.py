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
    # Two groups, three face thumbnails each, on the "Unknown faces" view.
    page.click("nav a[data-view='unknown']")
    page.wait_for_selector("body[data-view='unknown']")
    wait_for_images(page, ".cluster .face img")
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


# --------------------------------------------------------------------------- the page as a product (issue 19)

VIEWS = ("#/people", "#/person/Angelina_Jolie", "#/unknown", "#/add", "#/history")


def show(page, hash_: str) -> None:
    """Show a view of the page and wait until it has been drawn from the server's answers."""
    page.evaluate("() => { document.body.dataset.ready = ''; }")
    page.evaluate("h => { if (location.hash === h) window.dispatchEvent(new HashChangeEvent('hashchange'));"
                  " else location.hash = h; }", hash_)
    page.wait_for_selector("body[data-ready='1']")


HOSTILE = '<img src=x onerror="document.body.dataset.pwned=1"> & Co'  # a name is user data: shown as text


def enroll_many(server, tmp_path, count: int) -> list[str]:
    """`count` people written straight into the server's gallery (another process, as `facerec enroll` would):
    one real photo each, an embedding far from everyone's (a random direction), so they name nobody."""
    import hashlib

    import numpy as np

    from facerec.gallery.store import Gallery
    from facerec.types import Face

    backbone = requests.get(server.url + "/api/v1/info", headers=HEADERS, timeout=30).json()["backbone"]
    photo = (DATA / "core" / "kit_1.jpg").read_bytes()
    rng = np.random.default_rng(19)
    names = [f"Person {i:02d}" for i in range(count)] + [HOSTILE]
    with Gallery(server.gallery) as gallery:
        for name in names:
            path = tmp_path / f"{name}.jpg"
            path.write_bytes(photo)
            vector = rng.normal(size=128)
            face = Face((150, 90, 220, 260), 0.99, tuple((200.0 + i, 180.0) for i in range(5)))
            gallery.record_photo(name, path, hashlib.sha256(name.encode()).hexdigest(), 1.0, len(photo), "ok",
                                 "test", backbone, face, vector / np.linalg.norm(vector))
    return names


def test_test_an_image_draws_boxes_and_names(page, server, tagged, request, tmp_path):
    from browser import artifacts_dir

    sign_in(page, server)
    show(page, "#/add")
    page.set_input_files("#test-photo", str(DATA / "holdout" / "Angelina_Jolie_img10.jpg"))  # never enrolled
    page.click("#test-form button")
    page.wait_for_selector("#status:has-text('1 face found: Angelina_Jolie')")
    assert page.locator(".tested-face").evaluate_all("li => li.map(i => i.dataset.name)") == ["Angelina_Jolie"]
    box = page.locator(".boxed .box.known")
    assert box.count() == 1 and box.inner_text() == "1. Angelina_Jolie"
    size = box.bounding_box()
    assert size["width"] > 20 and size["height"] > 20  # drawn over the face, scaled with the photo
    page.screenshot(path=str(artifacts_dir(request, tmp_path) / "test-an-image.png"), full_page=True)


def test_people_search_and_paging(page, server, tagged, request, tmp_path):
    from browser import artifacts_dir

    enroll_many(server, tmp_path, 60)
    total = requests.get(server.url + "/api/v1/people", headers=HEADERS, timeout=30).json()["people"]
    sign_in(page, server)
    assert page.locator("#people .person").count() == 48  # one page, never everyone at once
    assert page.inner_text("#people-pager .range") == f"1–48 of {len(total)}"
    page.screenshot(path=str(artifacts_dir(request, tmp_path) / "people-page-1.png"), full_page=True)
    page.evaluate("() => { document.body.dataset.ready = ''; }")
    page.click("#people-pager .next")
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("#people .person").count() == len(total) - 48
    assert page.locator("#people-pager .next").is_disabled()
    # search: any part of the name, whatever the case and separators; back to the first page
    page.evaluate("() => { document.body.dataset.ready = ''; }")
    page.fill("#people-search", "person_07")
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("#people .person").evaluate_all("cards => cards.map(c => c.dataset.name)") == ["Person 07"]
    assert page.inner_text("#people-count") == "(1 matching “person_07”)"
    # a name that looks like HTML is shown as the text it is, on the grid and on its page
    page.evaluate("() => { document.body.dataset.ready = ''; }")
    page.fill("#people-search", "onerror")
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("#people .person .name").all_inner_texts() == [HOSTILE]
    page.click("#people .person a")
    page.wait_for_selector("body[data-view='person']")
    assert page.inner_text("#person-name") == HOSTILE
    assert page.evaluate("() => document.body.dataset.pwned === undefined && !document.querySelector('main img[src=x]')")
    page.go_back()
    page.wait_for_selector("body[data-view='people']")
    page.evaluate("() => { document.body.dataset.ready = ''; }")
    page.fill("#people-search", "ANGELINA jolie")
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("#people .person").evaluate_all("cards => cards.map(c => c.dataset.name)") == ["Angelina_Jolie"]
    page.click("#people .person a")  # the person's page, by its link
    page.wait_for_selector("body[data-view='person']")
    wait_for_images(page, "#person-faces img")
    assert page.inner_text("#person-name") == "Angelina_Jolie"
    assert page.locator("#person-faces .face img").evaluate_all("imgs => imgs.map(i => i.naturalWidth)") == [112] * 3


def test_the_page_fits_390_px_without_horizontal_scroll(browser, server, tagged, request, tmp_path):
    from browser import artifacts_dir

    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        sign_in(page, server)
        for view in VIEWS:
            show(page, view)
            widths = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
            assert widths[0] <= widths[1] == 390, (view, widths)
            name = view.strip("#/").replace("/", "-") or "people"
            page.screenshot(path=str(artifacts_dir(request, tmp_path) / f"390px-{name}.png"), full_page=True)
    finally:
        context.close()


def test_the_page_is_keyboard_reachable(page, server, tagged):
    sign_in(page, server)

    def tab_to(selector: str, limit: int = 80) -> None:
        for _ in range(limit):
            page.keyboard.press("Tab")
            if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
                outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
                assert outline != "none", f"{selector} has no visible focus"
                return
        raise AssertionError(f"Tab never reached {selector}")

    tab_to("nav a[data-view='unknown']")
    page.keyboard.press("Enter")
    page.wait_for_selector("body[data-view='unknown']")
    tab_to("#tag-album")  # the form's field, by its label
    assert page.evaluate("() => document.activeElement.labels[0].textContent") == "Folder on the server"
    show(page, "#/people")
    tab_to(".person[data-name='Angelina_Jolie'] a")
    page.keyboard.press("Enter")
    page.wait_for_selector("body[data-view='person']")
    tab_to("#person-faces .face-open")
    page.keyboard.press("Enter")  # the photo the face came from
    page.wait_for_function("() => document.getElementById('photo-dialog').open")
    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.getElementById('photo-dialog').open")
    # every control is a real button, link or labelled field
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input:not([type=hidden])')]
        .filter(i => !i.labels.length && !i.getAttribute('aria-label')).map(i => i.id || i.className)""")
    assert unlabelled == []


def test_cover_move_hide_and_undo_on_the_person_page(page, server, tagged, request, tmp_path):
    from browser import artifacts_dir, route_missing

    for method, path in (("post", "/api/v1/people/{name}/cover"), ("post", "/api/v1/faces/{face_id}/move"),
                         ("post", "/api/v1/people/{name}/hide")):
        missing = route_missing(server.url, method, path, HEADERS)
        if missing:
            pytest.skip(missing)
    # Setup through the API: Kit enrolled; an album face of the tagged folder confirmed as Angelina (wrongly).
    kit = (DATA / "core" / "kit_1.jpg").read_bytes()
    assert requests.post(server.url + "/api/v1/people/Kit/photos", files={"images": kit}, headers=HEADERS,
                         timeout=120).status_code == 200
    album = [f for f in requests.get(server.url + "/api/v1/faces", headers=HEADERS, timeout=30).json()["faces"]
             if f["kind"] == "album"]
    face = album[0]["id"]
    assert requests.post(server.url + f"/api/v1/faces/{face}/confirm", json={"name": "Angelina_Jolie"},
                         headers=HEADERS, timeout=30).status_code == 200

    sign_in(page, server)
    show(page, "#/person/Angelina_Jolie")
    # Cover: the second enrolled face; the people grid shows it.
    second = page.locator("#person-faces .face[data-kind='sample']").nth(1)
    cover = second.get_attribute("data-face")
    second.locator(".cover-button").click()
    page.wait_for_selector(f"#status:has-text('The cover of Angelina_Jolie is now face {cover}')")
    assert page.locator(f"#person-faces .face.is-cover[data-face='{cover}']").count() == 1
    show(page, "#/people")
    src = page.locator(".person[data-name='Angelina_Jolie'] img").get_attribute("src")
    assert src == f"/api/v1/faces/{cover}/thumbnail"

    # Move the album face to Kit, with the keyboard-reachable form in its card; Ctrl+Z takes it back.
    show(page, "#/person/Angelina_Jolie")
    card = page.locator(f"#person-faces .face[data-face='{face}']")
    card.locator(".move-button").click()
    card.locator(".move-input").fill("Kit")
    card.locator(".move-form button").click()
    page.wait_for_selector(f"#status:has-text('Moved face {face} from Angelina_Jolie to Kit')")
    assert page.locator(f"#person-faces .face[data-face='{face}']").count() == 0
    page.screenshot(path=str(artifacts_dir(request, tmp_path) / "person-page.png"), full_page=True)
    page.keyboard.press("Control+z")
    page.wait_for_selector("#status:has-text('Undone')")
    page.locator(f"#person-faces .face[data-face='{face}']").wait_for()

    # Hide: out of the grid, back with "Show hidden"; unhide.
    page.click("#hide-button")
    page.wait_for_selector("#status:has-text('Angelina_Jolie is hidden')")
    assert page.locator("#person-hidden").is_visible()
    show(page, "#/people")
    assert page.locator(".person[data-name='Angelina_Jolie']").count() == 0
    page.check("#show-hidden")
    page.locator(".person.is-hidden[data-name='Angelina_Jolie']").wait_for()
    page.click(".person[data-name='Angelina_Jolie'] a")
    page.wait_for_selector("body[data-view='person']")
    page.click("#hide-button")
    page.wait_for_selector("#status:has-text('Angelina_Jolie is shown again')")
    assert not any(p["hidden"] for p in people(server).values())


def test_review_routes_answer_images_and_pages_and_refuse_bad_requests(server, tagged):
    """The routes the page uses (facerec.server.review_api), over plain HTTP."""
    import io

    from PIL import Image

    def get(path: str, **kwargs):
        return requests.get(server.url + path, timeout=60, **{"headers": HEADERS, **kwargs})

    page = requests.get(server.url + "/", timeout=30)  # the page itself: its own resources only, never framed
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    faces = get("/api/v1/faces").json()["faces"]
    for face in (next(f for f in faces if f["kind"] == "sample"), next(f for f in faces if f["kind"] == "album")):
        thumb = get(f"/api/v1/faces/{face['id']}/thumbnail")
        assert thumb.status_code == 200 and Image.open(io.BytesIO(thumb.content)).size == (112, 112)
        photo = get(f"/api/v1/faces/{face['id']}/photo")
        assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
        assert max(Image.open(io.BytesIO(photo.content)).size) <= 1024
    for bad in ("a999999", "s999999", "x1", "12"):
        r = get(f"/api/v1/faces/{bad}/photo")
        assert r.status_code == 404 and r.json()["detail"], bad
    assert get("/api/v1/review/people", headers={}).status_code == 401  # the key, as everywhere
    assert get("/api/v1/faces/a1/photo", headers={**HEADERS, "Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert get("/api/v1/review/people?limit=0").status_code == 422
    assert get("/api/v1/review/faces?offset=-1").status_code == 422
    page = get("/api/v1/review/people?q=angelina&limit=1").json()
    assert [p["name"] for p in page["people"]] == ["Angelina_Jolie"] and page["total"] == 1
    assert page["people"][0]["cover_thumbnail"].startswith("/api/v1/")
    hers = [f["id"] for f in get("/api/v1/faces?person=Angelina_Jolie").json()["faces"]]
    samples = get("/api/v1/review/faces?person=Angelina_Jolie&limit=2&offset=1").json()
    assert samples["total"] == len(hers) >= 3 and samples["offset"] == 1
    assert [f["id"] for f in samples["faces"]] == hers[1:3]
