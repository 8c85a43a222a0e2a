"""`facerec serve` over real HTTP: a real server process on a free 127.0.0.1 port, the dlib backbone, real photos.

DeepStack's face API as its clients use it (the deepstack-python library Home Assistant's deepstack_face is
built on, and plain multipart requests in the shapes Double Take parses), our /api/v1, concurrency, and every
kind of bad input getting its HTTP error while the server lives on.
"""
from __future__ import annotations

from urllib.parse import quote

import io
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from serverproc import DATA, start_server

pytestmark = pytest.mark.slow  # model tests: real networks on real photos (see tests/conftest.py)

requests = pytest.importorskip("requests")

KEY = "test-key-3f9a"
PEOPLE = DATA / "people"
HOLDOUT = DATA / "holdout"
STRANGER = HOLDOUT / "deepface_id13_img24.jpg"  # a person never enrolled
PREDICTION_KEYS = {"confidence", "userid", "x_min", "y_min", "x_max", "y_max"}
MAX_UPLOAD_MB = 1


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # A live source that cannot be opened must not stop the server: the live view reports why.
    yield from start_server(tmp_path_factory, "--max-upload-mb", str(MAX_UPLOAD_MB), "--source", "missing.mp4",
                            api_key=KEY)


@pytest.fixture(scope="module")
def registered(server):
    """The three people of tests/data/people, registered the way DeepStack's docs do: several files, one userid."""
    for person_dir in sorted(PEOPLE.iterdir()):
        files = {f"image{i}": p.read_bytes() for i, p in enumerate(sorted(person_dir.glob("*.jpg")))}
        r = post(server, "/v1/vision/face/register", files=files, data={"userid": person_dir.name})
        assert r.status_code == 200, r.text
        assert r.json()["success"] is True and r.json()["message"] == "face added"
    return sorted(p.name for p in PEOPLE.iterdir())


def post(server, path: str, *, files=None, data=None, key: str | None = KEY, **kwargs):
    data = dict(data or {})
    if key is not None:
        data["api_key"] = key
    return requests.post(server.url + path, files=files, data=data, timeout=120, **kwargs)


def api(server, method: str, path: str, **kwargs):
    headers = {"X-API-Key": KEY, **kwargs.pop("headers", {})}
    return requests.request(method, server.url + path, headers=headers, timeout=120, **kwargs)


def recognize(server, photo: Path, **data) -> list[dict]:
    r = post(server, "/v1/vision/face/recognize", files={"image": photo.read_bytes()}, data=data)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True and isinstance(body["duration"], float)
    return body["predictions"]


def holdout_of(person: str) -> Path:
    return next(HOLDOUT.glob(f"{person}_*.jpg"))


# ---- DeepStack: register, recognize, list, delete, detect, match --------------------------------------


def test_registered_people_are_recognised_from_new_photos(server, registered):
    for person in registered:
        predictions = recognize(server, holdout_of(person))
        assert len(predictions) == 1
        p = predictions[0]
        assert set(p) == PREDICTION_KEYS
        assert p["userid"] == person
        assert 0.67 <= p["confidence"] <= 1.0  # DeepStack's default min_confidence: Double Take / HA accept it
        assert all(isinstance(p[k], int) for k in ("x_min", "y_min", "x_max", "y_max"))
        assert 0 <= p["x_min"] < p["x_max"] and 0 <= p["y_min"] < p["y_max"]


def test_a_stranger_is_unknown_with_confidence_zero(server, registered):
    predictions = recognize(server, STRANGER)
    assert [(p["userid"], p["confidence"]) for p in predictions] == [("unknown", 0)]


def test_min_confidence_only_makes_the_answer_stricter(server, registered):
    person = registered[0]
    assert recognize(server, holdout_of(person), min_confidence="1.0")[0]["userid"] == "unknown"
    assert recognize(server, STRANGER, min_confidence="0.0")[0]["userid"] == "unknown"


def test_deepstack_python_client_registers_and_gets_the_person_back(server, registered):
    core = pytest.importorskip("deepstack.core", reason="deepstack-python (the test extra) is not installed")
    client = core.DeepstackFace(ip="127.0.0.1", port=server.port, api_key=KEY, timeout=120)
    assert client.register("Barack_Obama", (DATA / "core" / "obama_2.jpg").read_bytes()) == "face added"
    predictions = client.recognize((DATA / "album" / "obama.jpg").read_bytes())
    assert core.get_recognized_faces(predictions).keys() == {"Barack_Obama"}
    assert "Barack_Obama" in client.get_registered_faces()
    faces = client.detect((DATA / "core" / "group_3.jpg").read_bytes())
    assert len(faces) == 3


def test_list_and_delete(server, registered):
    r = post(server, "/v1/vision/face/register", files={"image": (DATA / "core" / "kit_1.jpg").read_bytes()},
             data={"userid": "Temporary Person"})
    assert r.json()["message"] == "face added"
    faces = post(server, "/v1/vision/face/list").json()["faces"]
    assert set(registered) | {"Temporary Person"} <= set(faces)
    r = post(server, "/v1/vision/face/delete", data={"userid": "Temporary Person"})
    assert r.status_code == 200 and r.json()["success"] is True
    assert "Temporary Person" not in post(server, "/v1/vision/face/list").json()["faces"]
    assert recognize(server, DATA / "core" / "kit_2.jpg")[0]["userid"] == "unknown"
    r = post(server, "/v1/vision/face/delete", data={"userid": "Temporary Person"})
    assert r.status_code == 404 and r.json()["success"] is False


def test_detect_returns_every_face_in_deepstack_shape(server):
    r = post(server, "/v1/vision/face", files={"image": (DATA / "core" / "group_3.jpg").read_bytes()})
    assert r.status_code == 200, r.text
    predictions = r.json()["predictions"]
    assert len(predictions) == 3
    assert all(set(p) == {"confidence", "x_min", "y_min", "x_max", "y_max"} for p in predictions)


def test_match_tells_same_from_different(server):
    same = post(server, "/v1/vision/face/match", files={"image1": (DATA / "core" / "kit_1.jpg").read_bytes(),
                                                         "image2": (DATA / "core" / "kit_2.jpg").read_bytes()})
    other = post(server, "/v1/vision/face/match", files={"image1": (DATA / "core" / "kit_1.jpg").read_bytes(),
                                                          "image2": (DATA / "core" / "rose_1.jpg").read_bytes()})
    assert same.status_code == other.status_code == 200
    assert same.json()["similarity"] >= 0.67 > other.json()["similarity"]


@pytest.mark.parametrize("case, status, error", [
    ("no image field", 400, "No valid image file found"),
    ("register without userid", 400, "userid not specified"),
    ("register without files", 400, "No valid image file found"),
    ("register a photo without a face", 400, "no face detected"),
    ("not an image", 400, "invalid image"),
    ("min_confidence not a number", 400, "Invalid value for min_confidence"),
    ("min_confidence above 1", 400, "min_confidence cannot be greater than 1"),
    ("no api key", 401, "Incorrect api key"),
    ("wrong api key", 401, "Incorrect api key"),
    ("match with one image", 400, "expected two image files, only one found"),
    ("match with three images", 400, "only two images allowed"),
    ("match, no face", 400, "no face found"),
])
def test_deepstack_errors_have_deepstacks_status_and_text(server, case, status, error):
    """DeepStack's server (its Go middlewares and face.py) answers these codes and texts; clients compare them."""
    jpeg = (DATA / "core" / "kit_1.jpg").read_bytes()
    noface = (DATA / "core" / "noface_017.jpg").read_bytes()
    recognize_path, match_path = "/v1/vision/face/recognize", "/v1/vision/face/match"
    calls = {
        "no image field": lambda: post(server, recognize_path),
        "register without userid": lambda: post(server, "/v1/vision/face/register", files={"image": jpeg}),
        "register without files": lambda: post(server, "/v1/vision/face/register", data={"userid": "Nobody"}),
        "register a photo without a face": lambda: post(server, "/v1/vision/face/register", files={"image": noface},
                                                        data={"userid": "Nobody"}),
        "not an image": lambda: post(server, recognize_path, files={"image": ("notes.txt", b"hello")}),
        "min_confidence not a number": lambda: post(server, recognize_path, files={"image": jpeg},
                                                    data={"min_confidence": "high"}),
        "min_confidence above 1": lambda: post(server, recognize_path, files={"image": jpeg}, data={"min_confidence": "2"}),
        "no api key": lambda: post(server, recognize_path, files={"image": jpeg}, key=None),
        "wrong api key": lambda: post(server, recognize_path, files={"image": jpeg}, key="guess"),
        "match with one image": lambda: post(server, match_path, files={"image1": jpeg}),
        "match with three images": lambda: post(server, match_path, files={"a": jpeg, "b": jpeg, "c": jpeg}),
        "match, no face": lambda: post(server, match_path, files={"a": jpeg, "b": noface}),
    }
    r = calls[case]()
    assert (r.status_code, r.json()) == (status, {"success": False, "error": error, "duration": 0})


def test_match_takes_any_two_files_and_detect_defaults_to_deepstacks_055(server):
    kit_1, kit_2 = (DATA / "core" / "kit_1.jpg").read_bytes(), (DATA / "core" / "kit_2.jpg").read_bytes()
    by_any_name = post(server, "/v1/vision/face/match", files={"first": kit_1, "second": kit_2})
    assert by_any_name.status_code == 200 and by_any_name.json()["similarity"] >= 0.67
    group = (DATA / "core" / "group_6.jpg").read_bytes()
    default = post(server, "/v1/vision/face", files={"image": group}).json()["predictions"]
    explicit = post(server, "/v1/vision/face", files={"image": group}, data={"min_confidence": "0.55"}).json()
    assert default == explicit["predictions"] and all(p["confidence"] >= 0.55 for p in default)


# ---- concurrency ------------------------------------------------------------------------------------------


def test_twenty_concurrent_requests_are_all_answered_and_nothing_is_lost(server, registered):
    photos = sorted(PEOPLE.rglob("*.jpg")) + [DATA / "core" / "kit_1.jpg"]  # 10 different photos
    newcomers = {f"concurrent_{i:02d}": photo for i, photo in enumerate(photos)}

    def register(item):
        name, photo = item
        return post(server, "/v1/vision/face/register", files={"image": photo.read_bytes()}, data={"userid": name})

    def ask(_):
        return post(server, "/v1/vision/face/recognize", files={"image": holdout_of(registered[0]).read_bytes()})

    with ThreadPoolExecutor(max_workers=20) as pool:  # 10 registrations and 10 recognitions at once
        registrations = [pool.submit(register, item) for item in newcomers.items()]
        answers = [pool.submit(ask, i) for i in range(10)]
        responses = [f.result() for f in registrations + answers]
    assert [r.status_code for r in responses] == [200] * 20
    assert all(r.json()["success"] for r in responses)
    assert all(r.result().json()["predictions"][0]["userid"] == registered[0] for r in answers)
    listed = set(post(server, "/v1/vision/face/list").json()["faces"])
    assert set(newcomers) <= listed
    people = {p["name"]: p for p in api(server, "GET", "/api/v1/people").json()["people"]}
    assert all(people[n]["faces"] == 1 for n in newcomers)
    assert server.alive()


# ---- our JSON API ---------------------------------------------------------------------------------------------


def test_openapi_document_describes_the_api(server):
    r = requests.get(server.url + "/api/v1/openapi.json", timeout=30)
    assert r.status_code == 200
    paths = r.json()["paths"]
    for path in ("/api/v1/people", "/api/v1/identify", "/api/v1/verify", "/api/v1/detect", "/api/v1/tag",
                 "/api/v1/clusters", "/api/v1/clusters/{cluster_id}/name", "/v1/vision/face/recognize"):
        assert path in paths
    form = paths["/v1/vision/face/register"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert set(form["required"]) == {"userid", "image"} and "api_key" in form["properties"]


def test_names_facerec_cannot_hold_are_refused_where_they_enter(server):
    """One rule for names (facerec.names), over HTTP as on the command line: '/' would split a tag hierarchy in
    photo managers, 'unknown' is what strangers are called, control characters break sidecars."""
    photo = (DATA / "core" / "rose_2.jpg").read_bytes()
    before = api(server, "GET", "/api/v1/people").json()["people"]
    for bad, why in (("AC/DC", "separator"), ("unknown", "reserved"), ("Bob\x07", "control")):
        r = post(server, "/v1/vision/face/register", files={"image": photo}, data={"userid": bad})
        assert r.status_code == 400 and why in r.json()["error"], (bad, r.text)
        r = api(server, "POST", f"/api/v1/people/{quote(bad, safe='')}/photos", files=[("images", ("a.jpg", photo, "image/jpeg"))])
        assert r.status_code == 400 and why in r.json()["detail" if "detail" in r.json() else "error"], (bad, r.text)
    assert api(server, "GET", "/api/v1/people").json()["people"] == before


def test_people_enrol_identify_thumbnail_forget(server, registered):
    files = [("images", (p.name, p.read_bytes(), "image/jpeg")) for p in [DATA / "core" / "rose_1.jpg"]]
    files.append(("images", ("noface.jpg", (DATA / "core" / "noface_017.jpg").read_bytes(), "image/jpeg")))
    r = api(server, "POST", "/api/v1/people/Rose Leslie/photos", files=files)
    assert r.status_code == 200, r.text
    assert [p["status"] for p in r.json()["photos"]] == ["ok", "no_face"]

    people = {p["name"]: p for p in api(server, "GET", "/api/v1/people").json()["people"]}
    assert people["Rose Leslie"]["faces"] == 1
    thumb = api(server, "GET", people["Rose Leslie"]["thumbnail"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    from PIL import Image

    assert Image.open(io.BytesIO(thumb.content)).size == (112, 112)

    faces = api(server, "POST", "/api/v1/identify",
                files={"image": (DATA / "core" / "rose_2.jpg").read_bytes()}).json()["faces"]
    assert [f["name"] for f in faces] == ["Rose Leslie"] and faces[0]["distance"] <= 0.10

    verdict = api(server, "POST", "/api/v1/verify", files={"a": (DATA / "core" / "rose_1.jpg").read_bytes(),
                                                            "b": (DATA / "core" / "rose_2.jpg").read_bytes()}).json()
    assert verdict["same"] is True
    detected = api(server, "POST", "/api/v1/detect", files={"image": (DATA / "core" / "group_6.jpg").read_bytes()})
    assert len(detected.json()["faces"]) == 6

    assert api(server, "DELETE", "/api/v1/people/Rose Leslie").status_code == 200
    assert api(server, "DELETE", "/api/v1/people/Rose Leslie").status_code == 404
    assert api(server, "GET", "/api/v1/people/Rose Leslie/thumbnail").status_code == 404


def test_uploaded_photos_are_private_and_removed_with_the_person(server):
    r = api(server, "POST", "/api/v1/people/Kit/photos", files={"images": (DATA / "core" / "kit_2.jpg").read_bytes()})
    assert r.status_code == 200, r.text
    uploads = server.workdir / "gallery-uploads"
    copies = [p for p in uploads.rglob("*") if p.is_file()]
    assert copies and all(p.stat().st_mode & 0o077 == 0 for p in copies)
    assert uploads.stat().st_mode & 0o077 == 0
    before = set(copies)
    assert api(server, "DELETE", "/api/v1/people/Kit").status_code == 200
    assert len(before - {p for p in uploads.rglob("*") if p.is_file()}) == 1


def test_login_is_rate_limited_per_client(server):
    """A few wrong keys, then 429 with Retry-After -- even for the right key -- until the client has waited."""
    def login(key: str):
        return requests.post(server.url + "/api/v1/login", data={"api_key": key}, timeout=30)

    answers = [login(f"guess-{i}") for i in range(6)]
    assert [r.status_code for r in answers[:5]] == [403] * 5
    limited = answers[5]
    assert limited.status_code == 429 and "too many wrong keys" in limited.json()["detail"]
    wait = int(limited.headers["Retry-After"])
    assert 1 <= wait <= 5
    assert login(KEY).status_code == 429  # no key is even compared meanwhile
    time.sleep(wait + 0.2)
    assert login(KEY).status_code == 204


# ---- bad input: an HTTP error each, and the server lives on ---------------------------------------------------


def truncated_jpeg() -> bytes:
    return (DATA / "core" / "kit_1.jpg").read_bytes()[:2000]


def oversized_png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (700, 700, 3), dtype=np.uint8)).save(buf, "PNG")
    assert len(buf.getvalue()) > MAX_UPLOAD_MB * 1024 * 1024
    return buf.getvalue()


@pytest.mark.parametrize("case, expected", [
    ("text instead of an image", 400),
    ("truncated jpeg", 400),
    ("no image field", 400),
    ("register without userid", 400),
    ("register a photo without a face", 400),
    ("min_confidence not a number", 400),
    ("no api key", 401),
    ("wrong api key", 401),
    ("over the size limit", 413),
    ("over the size limit, chunked", 413),
    ("api: identify without image", 422),
    ("api: unknown person", 404),
    ("api: no key", 401),
    ("api: cross-site form post", 403),
    ("api: tag without album roots", 403),
    ("api: unknown group", 404),
    ("api: thumbnail path traversal", 404),
])
def test_bad_input_gets_an_http_error_and_the_server_lives_on(server, case, expected):
    jpeg = (DATA / "core" / "kit_1.jpg").read_bytes()
    recognize_path = "/v1/vision/face/recognize"
    calls = {
        "text instead of an image": lambda: post(server, recognize_path, files={"image": ("notes.txt", b"hello")}),
        "truncated jpeg": lambda: post(server, recognize_path, files={"image": ("cut.jpg", truncated_jpeg())}),
        "no image field": lambda: post(server, recognize_path, data={"min_confidence": "0.5"}),
        "register without userid": lambda: post(server, "/v1/vision/face/register", files={"image": jpeg}),
        "register a photo without a face": lambda: post(
            server, "/v1/vision/face/register", files={"image": (DATA / "core" / "noface_017.jpg").read_bytes()},
            data={"userid": "Nobody"}),
        "min_confidence not a number": lambda: post(server, recognize_path, files={"image": jpeg},
                                                    data={"min_confidence": "high"}),
        "no api key": lambda: post(server, recognize_path, files={"image": jpeg}, key=None),
        "wrong api key": lambda: post(server, recognize_path, files={"image": jpeg}, key="guess"),
        "over the size limit": lambda: post(server, recognize_path, files={"image": oversized_png()}),
        "over the size limit, chunked": lambda: requests.post(  # no Content-Length: counted as it arrives
            server.url + recognize_path, data=(b"x" * 65536 for _ in range(MAX_UPLOAD_MB * 16 + 1)), timeout=60),
        "api: identify without image": lambda: api(server, "POST", "/api/v1/identify"),
        "api: unknown person": lambda: api(server, "DELETE", "/api/v1/people/Nobody At All"),
        "api: no key": lambda: requests.get(server.url + "/api/v1/people", timeout=30),
        "api: cross-site form post": lambda: api(server, "DELETE", "/api/v1/people/x",
                                                 headers={"Origin": "http://evil.example"}),
        "api: tag without album roots": lambda: api(server, "POST", "/api/v1/tag", json={"album": "/etc"}),
        "api: unknown group": lambda: api(server, "POST", "/api/v1/clusters/99/name", json={"name": "X"}),
        "api: thumbnail path traversal": lambda: api(server, "GET", "/api/v1/people/..%2F..%2Fetc%2Fpasswd/thumbnail"),
    }
    r = calls[case]()
    assert r.status_code == expected, r.text
    body = r.json()
    if r.url.split(str(server.port), 1)[1].startswith("/v1/vision"):
        assert body["success"] is False and body["error"]
    else:
        assert body["detail"]
    assert requests.get(server.url + "/api/v1/health", timeout=30).status_code == 200


def peak_memory_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc")


THIN_WIDTH = 100_000  # the 372-byte PNG that grew the server to 22 GB and held the model lock for ~90 s


def test_an_absurd_image_shape_is_refused_quickly_in_bounded_memory(server, registered):
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (THIN_WIDTH, 1), (120, 120, 120)).save(buf, "PNG")
    thin = buf.getvalue()
    assert len(thin) < 1000
    before = peak_memory_mb(server.process.pid)
    start = time.monotonic()
    with ThreadPoolExecutor(2) as pool:  # a normal client at the same time is not stalled behind it
        refused = pool.submit(api, server, "POST", "/api/v1/identify", files={"image": ("thin.png", thin)})
        normal = pool.submit(api, server, "POST", "/api/v1/identify",
                             files={"image": ("kit.jpg", (DATA / "core" / "kit_1.jpg").read_bytes())})
        r, other = refused.result(), normal.result()
    seconds = time.monotonic() - start
    assert r.status_code == 400 and "times longer than it is wide" in r.json()["detail"], r.text
    assert other.status_code == 200, other.text
    assert seconds < 30  # both answers; the refusal itself takes milliseconds
    assert peak_memory_mb(server.process.pid) - before < 200
    assert server.alive()


def test_static_files_never_reach_outside_the_package(server):
    for path in ("/static/../../README.md", "/static/%2e%2e/%2e%2e/README.md", "/static/..%2F..%2Fgallery.sqlite"):
        r = requests.get(server.url + path, timeout=30)
        assert r.status_code == 404, path
        assert b"# facerec" not in r.content and b"SQLite" not in r.content


def test_a_live_source_that_cannot_be_opened_is_reported_not_fatal(server):
    deadline = time.monotonic() + 30
    while (status := api(server, "GET", "/api/v1/live").json())["finished"] is False and time.monotonic() < deadline:
        time.sleep(0.2)
    assert status["status"].startswith("cannot open: video file not found")
    assert api(server, "GET", "/api/v1/live", headers={"X-API-Key": "wrong"}).status_code == 403
    health = requests.get(server.url + "/api/v1/health", timeout=30)
    assert health.status_code == 200  # alive, and says what does not work
    assert health.json()["status"] == "degraded" and health.json()["problems"] == [f"live view: {status['status']}"]


def test_port_in_use_is_a_usage_error(tmp_path, capsys):
    import socket

    from facerec.cli.main import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        code = main(["serve", "--port", str(taken.getsockname()[1]), "--gallery", str(tmp_path / "g.sqlite")])
    assert code == 2
    assert "already in use" in capsys.readouterr().err


def test_public_address_without_a_key_is_refused_before_loading_anything(tmp_path, capsys):
    from facerec.cli.main import main

    code = main(["serve", "--host", "0.0.0.0", "--gallery", str(tmp_path / "g.sqlite")])
    assert code == 2
    assert "without an API key" in capsys.readouterr().err
    assert not (tmp_path / "g.sqlite").exists()
