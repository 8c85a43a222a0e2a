"""A real `facerec serve` and the CLI (`enroll`, `people`, `forget`, `tag`) on one gallery, interleaved in a seeded
random order for a bounded time, CLI processes killed with SIGKILL at random points (SQLite's crash testing, with
facerec's own processes). Afterwards `PRAGMA integrity_check` is ok, every acknowledged write (an HTTP 200, a CLI
exit 0) is there unless acknowledged as forgotten later, and no uploaded photo is orphaned. Also: the server
names a person enrolled from outside at its next request, and a tag job waits out a gallery held locked.

FACEREC_TEST_SEED picks another random order; the seed is in every failure message.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from facerec.gallery.store import Gallery
from facerec.paths import uploads_dir

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from serverproc import DATA, REPO, ServerProcess, require_server_extra  # noqa: E402

pytestmark = pytest.mark.slow  # a real server and CLI processes run the dlib backbone on real photos

requests = pytest.importorskip("requests")

SEED = int(os.environ.get("FACEREC_TEST_SEED", "17"))
RANDOM_RUN_S = 30.0  # the random interleaving; the CLI processes still running then finish (or are killed)
DRAIN_S = 90.0
SERVER_LOCK_TIMEOUT_S = "5"  # the server waits this long for another process's lock before "database is locked"
PHOTOS = sorted((DATA / "people").glob("*/*.jpg"))  # 9 small real photos of 3 people
ANGELINA = DATA / "people" / "Angelina_Jolie"
ALBUM_PHOTOS = sorted((DATA / "album").glob("*.jpg"))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_server_extra()
    work = tmp_path_factory.mktemp("shared-gallery")
    for album in ("album-cli", "album-job", "album-locked"):
        (work / "albums" / album).mkdir(parents=True)
        for photo in ALBUM_PHOTOS:
            shutil.copy(photo, work / "albums" / album / photo.name)
    server = ServerProcess(work, "--album-root", str(work / "albums"))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("FACEREC_LOCK_TIMEOUT_S", SERVER_LOCK_TIMEOUT_S)
        server.start()
    try:
        yield server
    finally:
        server.stop()


def cli_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "TF_CPP_MIN_LOG_LEVEL": "3", "FACEREC_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("FACEREC_LOCK_TIMEOUT_S", None)  # the CLI waits as a user's would
    return env


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "facerec.cli.main", *args], capture_output=True, text=True,
                          env=cli_env(), cwd=REPO, timeout=timeout)


def api(server: ServerProcess, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, server.url + path, timeout=120, **kwargs)


def register(server: ServerProcess, name: str, photo: Path) -> requests.Response:
    return api(server, "POST", f"/api/v1/people/{name}/photos", files={"images": (photo.name, photo.read_bytes())})


def identified(server: ServerProcess, photo: Path) -> list[str]:
    r = api(server, "POST", "/api/v1/identify", files={"image": photo.read_bytes()})
    assert r.status_code == 200, r.text
    return [f["name"] for f in r.json()["faces"]]


def wait_for_job(server: ServerProcess, job_id: int, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = api(server, "GET", f"/api/v1/jobs/{job_id}").json()["job"]
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.3)
    raise AssertionError(f"tag job {job_id} did not finish within {timeout} s")


# --------------------------------------------------------------------------- deterministic


def test_the_server_names_a_person_enrolled_from_outside_at_its_next_request(server, tmp_path):
    photos = sorted(ANGELINA.glob("*.jpg"))
    assert "Angelina_Jolie" not in identified(server, photos[0])
    people_dir = tmp_path / "people"
    (people_dir / "Angelina_Jolie").mkdir(parents=True)
    for photo in photos[1:]:
        shutil.copy(photo, people_dir / "Angelina_Jolie" / photo.name)
    enrolled = cli("enroll", str(people_dir), "--gallery", str(server.gallery), "--backbone", "dlib")
    assert enrolled.returncode == 0, enrolled.stderr
    assert identified(server, photos[0]) == ["Angelina_Jolie"]  # the server refitted on the outside change

    shutil.rmtree(people_dir / "Angelina_Jolie")
    forgotten = cli("forget", "Angelina_Jolie", "--gallery", str(server.gallery))
    assert forgotten.returncode == 0, forgotten.stderr
    assert "Angelina_Jolie" not in identified(server, photos[0])


HOLD_WRITE_LOCK = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")  # the write lock, as a long write of another process would hold it
print("held", flush=True)
sys.stdin.readline()
db.execute("COMMIT")
"""


def test_a_tag_job_waits_out_a_gallery_another_process_holds_locked(server):
    holder = subprocess.Popen([sys.executable, "-c", HOLD_WRITE_LOCK, str(server.gallery)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        job_id = api(server, "POST", "/api/v1/tag", json={"album": "album-locked"}).json()["job"]["id"]
        deadline = time.monotonic() + 120
        while (job := api(server, "GET", f"/api/v1/jobs/{job_id}").json()["job"])["state"] != "retrying":
            assert job["state"] not in ("done", "failed"), job
            assert time.monotonic() < deadline, f"the job never reported that it waits: {job}"
            time.sleep(0.2)
        assert "locked" in job["error"]
        health = api(server, "GET", "/api/v1/health").json()
        assert health["status"] == "degraded" and any(f"tag job {job_id}" in p for p in health["problems"])
    finally:
        holder.communicate("release\n", timeout=30)
    job = wait_for_job(server, job_id)
    assert job["state"] == "done" and job["error"] is None and job["retries"] >= 1, job
    assert job["summary"]["photos"] == len(ALBUM_PHOTOS)
    assert api(server, "GET", "/api/v1/health").json()["status"] == "ok"


# --------------------------------------------------------------------------- random interleaving


@dataclass
class Launched:
    """A CLI process started in the background, killed with SIGKILL at `kill_at` if it still runs then."""

    kind: str
    process: subprocess.Popen
    kill_at: float | None
    names: set[str] = field(default_factory=set)  # the people it acts on
    expected: set[str] = field(default_factory=set)  # `people`: acknowledged-present when it started
    killed: bool = False


@dataclass
class Ledger:
    """What the processes acknowledged. Names are never reused, so a name's history is short."""

    present: set[str] = field(default_factory=set)  # acknowledged written and not (being) forgotten
    forgotten: set[str] = field(default_factory=set)  # acknowledged forgotten
    forgetting: set[str] = field(default_factory=set)  # a forget was started (acknowledged or not)
    uploaded: set[str] = field(default_factory=set)  # registered over HTTP (their photo is an upload)
    tagged: set[str] = field(default_factory=set)  # albums a tag run or job finished
    acks: int = 0
    kills: int = 0


class Interleaving:
    def __init__(self, server: ServerProcess, work: Path, seed: int):
        self.server, self.seed, self.rng = server, seed, random.Random(seed)
        self.people_dir = work / "people"
        self.people_dir.mkdir()
        self.ledger = Ledger()
        self.lanes: dict[str, Launched | None] = {"folder": None, "tag": None, "people": None}
        self.job_ids: list[int] = []
        self.counter = 0
        self.trace: list[str] = []

    def fail(self, message: str) -> str:
        return f"seed {self.seed}: {message}\nlast steps: {self.trace[-15:]}"

    def new_name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    # ---- HTTP (the test's main thread)
    def http_register(self) -> None:
        name = self.new_name("web")
        r = register(self.server, name, self.rng.choice(PHOTOS))
        if r.status_code == 503:  # a CLI process held the write lock too long: not acknowledged, and no orphan
            self.trace.append(f"http register {name}: 503")
            return
        assert r.status_code == 200, self.fail(f"register {name}: {r.status_code} {r.text}")
        self.ledger.present.add(name)
        self.ledger.uploaded.add(name)
        self.ledger.acks += 1
        self.trace.append(f"http register {name}")

    def http_forget(self) -> None:
        candidates = sorted(self.ledger.present & self.ledger.uploaded - self.ledger.forgetting)
        if not candidates:
            return
        name = self.rng.choice(candidates)
        self.ledger.forgetting.add(name)
        r = api(self.server, "DELETE", f"/api/v1/people/{name}")
        if r.status_code == 503:  # not acknowledged: they may or may not be forgotten
            self.trace.append(f"http forget {name}: 503")
            return
        assert r.status_code == 200, self.fail(f"forget {name}: {r.status_code} {r.text}")
        self.ledger.present.discard(name)
        self.ledger.forgotten.add(name)
        self.ledger.acks += 1
        self.trace.append(f"http forget {name}")

    def tag_job(self) -> None:
        r = api(self.server, "POST", "/api/v1/tag", json={"album": "album-job"})
        assert r.status_code == 202, self.fail(f"tag job: {r.status_code} {r.text}")
        self.job_ids.append(r.json()["job"]["id"])
        self.trace.append(f"tag job {self.job_ids[-1]}")

    # ---- CLI processes in the background, one per lane
    def launch(self, lane: str, kind: str, args: list[str], names: set[str] = frozenset(),
               expected: set[str] = frozenset()) -> None:
        kill_at = time.monotonic() + self.rng.uniform(0.3, 6.0) if self.rng.random() < 0.5 else None
        process = subprocess.Popen([sys.executable, "-m", "facerec.cli.main", *args, "--gallery",
                                    str(self.server.gallery)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, env=cli_env(), cwd=REPO)
        self.lanes[lane] = Launched(kind, process, kill_at, set(names), set(expected))
        self.trace.append(f"start {kind} {sorted(names)}" + (" (to be killed)" if kill_at else ""))

    def cli_enroll(self) -> None:
        name = self.new_name("cli")
        folder = self.people_dir / name
        folder.mkdir()
        for photo in self.rng.sample(PHOTOS, 2):
            shutil.copy(photo, folder / photo.name)
        names = {p.name for p in self.people_dir.iterdir()}
        self.launch("folder", "enroll", ["enroll", str(self.people_dir), "--backbone", "dlib"], names)

    def cli_forget(self) -> None:
        candidates = sorted(self.ledger.present - self.ledger.uploaded - self.ledger.forgetting)
        if not candidates:
            return
        name = self.rng.choice(candidates)
        shutil.rmtree(self.people_dir / name)  # else the next enroll would enroll them again
        self.ledger.forgetting.add(name)
        self.launch("folder", "forget", ["forget", name], {name})

    def cli_tag(self) -> None:
        self.launch("tag", "tag", ["tag", str(self.server.workdir / "albums" / "album-cli"), "--backbone", "dlib"])

    def cli_people(self) -> None:
        self.launch("people", "people", ["people", "--json"], expected=set(self.ledger.present))

    # ---- acknowledgements
    def poll(self, now: float) -> None:
        for lane, launched in self.lanes.items():
            if launched is None:
                continue
            if launched.process.poll() is None:
                if launched.kill_at is not None and now >= launched.kill_at:
                    os.kill(launched.process.pid, signal.SIGKILL)
                    launched.killed = True
                    self.ledger.kills += 1
                else:
                    continue
            out, err = launched.process.communicate(timeout=60)
            self.lanes[lane] = None
            self.trace.append(f"end {launched.kind} rc={launched.process.returncode}")
            if launched.killed:
                continue  # nothing acknowledged: whatever it committed may or may not be there
            assert launched.process.returncode == 0, self.fail(f"{launched.kind} exited "
                                                               f"{launched.process.returncode}: {err[-2000:]}")
            self.acknowledge(launched, out)

    def acknowledge(self, launched: Launched, out: str) -> None:
        self.ledger.acks += 1
        if launched.kind == "enroll":
            self.ledger.present |= launched.names - self.ledger.forgetting
        elif launched.kind == "forget":
            self.ledger.present -= launched.names
            self.ledger.forgotten |= launched.names
        elif launched.kind == "tag":
            self.ledger.tagged.add("album-cli")
        elif launched.kind == "people":
            listed = {p["name"] for p in json.loads(out)["people"]}
            missing = launched.expected - self.ledger.forgetting - listed
            assert not missing, self.fail(f"acknowledged, but another process does not see them: {sorted(missing)}")

    def step(self) -> None:
        free = [lane for lane, launched in self.lanes.items() if launched is None]
        choices = [self.http_register, self.http_register, self.http_forget, self.tag_job]
        if "folder" in free:
            choices += [self.cli_enroll, self.cli_enroll, self.cli_forget]
        if "tag" in free:
            choices.append(self.cli_tag)
        if "people" in free:
            choices += [self.cli_people, self.cli_people]
        self.rng.choice(choices)()

    def kill_all(self) -> None:
        """After a failure: no CLI process outlives the test."""
        for launched in filter(None, self.lanes.values()):
            if launched.process.poll() is None:
                launched.process.kill()
            launched.process.communicate(timeout=60)

    def run(self, seconds: float) -> None:
        try:
            self._run(seconds)
        except BaseException:
            self.kill_all()
            raise

    def _run(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.poll(time.monotonic())
            self.step()
            time.sleep(self.rng.uniform(0, 0.3))
        drain_until = time.monotonic() + DRAIN_S
        while any(self.lanes.values()):
            now = time.monotonic()
            if now >= drain_until:  # bounded: what still runs now is killed (and acknowledged nothing)
                for launched in filter(None, self.lanes.values()):
                    launched.kill_at = now
            self.poll(now)
            time.sleep(0.1)
        for job_id in self.job_ids:
            job = wait_for_job(self.server, job_id)
            assert job["state"] == "done", self.fail(f"tag job {job_id}: {job}")
            self.ledger.tagged.add("album-job")


def test_server_and_cli_interleaved_at_random_lose_nothing_acknowledged(server):
    run = Interleaving(server, server.workdir, SEED)
    run.run(RANDOM_RUN_S)
    ledger = run.ledger
    assert server.stop() is not None and not server.alive()  # a clean stop, as Ctrl-C: nothing may be lost then
    assert "disk I/O error" not in server.log() and "not a database" not in server.log(), server.log()

    with Gallery(server.gallery, create=False) as gallery:
        assert gallery.integrity_check() == "ok"
        assert gallery._db.execute("PRAGMA foreign_key_check").fetchall() == []
        enrolled = {p.name for p in gallery.people()}
        photos = gallery.photos()
        media = {Path(m["path"]).parent.name for m in gallery._db.execute("SELECT path FROM media")}
    unsure = ledger.forgetting - ledger.forgotten  # a forget that was killed may or may not have happened
    lost = ledger.present - unsure - enrolled
    assert not lost, run.fail(f"acknowledged but lost: {sorted(lost)}")
    back = ledger.forgotten & enrolled
    assert not back, run.fail(f"acknowledged as forgotten, but still there: {sorted(back)}")
    assert ledger.tagged <= media, run.fail(f"albums tagged but not in the gallery: {sorted(ledger.tagged - media)}")

    uploads = uploads_dir(server.gallery)
    on_disk = {p for p in uploads.rglob("*") if p.is_file()} if uploads.exists() else set()
    recorded = {Path(p.path) for p in photos if Path(p.path).is_relative_to(uploads)}
    assert on_disk == recorded, run.fail(f"orphaned uploads: {sorted(on_disk - recorded)}; "
                                         f"uploads missing: {sorted(recorded - on_disk)}")
    assert all(p.person in enrolled for p in photos)
    assert ledger.acks >= 10 and ledger.present, run.fail(f"too little happened to show anything: {ledger}")
    print(f"seed {SEED}: {ledger.acks} acknowledged writes and reads, {ledger.kills} processes killed, "
          f"{len(enrolled)} people at the end\n" + "\n".join(run.trace))
