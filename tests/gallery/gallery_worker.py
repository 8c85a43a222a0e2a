"""A real process that uses one gallery as facerec's long-running processes do (a connection per thread, threads
that come and go, connections closed and opened again), for tests/gallery/test_multiprocess.py.

    python gallery_worker.py GALLERY --stdin             do the commands read from stdin, one a line
    python gallery_worker.py GALLERY --random PREFIX SEED   do random commands on names PREFIX0, PREFIX1, ... forever

Commands: `add NAME` (a person with one photo, from the main connection), `thread-add NAME` (the same from a new
thread with its own connection, which stays open as a server's worker thread keeps its one), `forget NAME`,
`reopen` (close the main connection and open it again), `check` (every name acknowledged and not forgotten is
there). Each command is acknowledged with "ok COMMAND NAME" on stdout, flushed, only after its transaction committed;
a forget is announced with "begin forget NAME" before it starts; a name found missing is reported as "missing NAME".
"""
from __future__ import annotations

import random
import sys
import threading
import time
import zlib
from pathlib import Path

import numpy as np

from facerec.gallery.store import Gallery
from facerec.types import Face

FACE = Face((10, 20, 64, 80), 0.99, ((30.0, 50.0), (60.0, 50.0), (45.0, 65.0), (35.0, 80.0), (58.0, 80.0)))
BACKBONE = "dlib"
KEEP_THREADS = 6  # connections kept open by "worker threads", as uvicorn's thread pool keeps its threads


class Worker:
    def __init__(self, gallery: Path):
        self.path = gallery
        self.main = Gallery(gallery)
        self.present: set[str] = set()
        self.threads: list[tuple[threading.Thread, threading.Event]] = []

    def do(self, command: str, name: str = "") -> None:
        if command == "add":
            self._add(self.main, name)
        elif command == "thread-add":
            self._thread_add(name)
        elif command == "forget":
            print("begin forget", name, flush=True)  # from here on the name may be gone before "ok forget" says so
            self.main.forget(name)
            self.present.discard(name)
        elif command == "reopen":
            self.main.close()
            self.main = Gallery(self.path)
        elif command == "check":
            enrolled = {p.name for p in self.main.people()}
            for missing in sorted(self.present - enrolled):
                print("missing", missing, flush=True)
        else:
            raise SystemExit(f"unknown command {command!r}")
        print("ok", command, name, flush=True)

    def _add(self, gallery: Gallery, name: str) -> None:
        embedding = np.random.default_rng(zlib.crc32(name.encode())).normal(size=128).astype(np.float32)
        gallery.record_photo(name, f"/photos/{name}.jpg", f"sha-{name}", 1.0, 1, "ok", "", BACKBONE, FACE, embedding)
        self.present.add(name)

    def _thread_add(self, name: str) -> None:
        done, failure = threading.Event(), []

        def run(stop: threading.Event) -> None:
            try:
                gallery = Gallery(self.path)  # this thread's own connection, as the server opens one per thread
                self._add(gallery, name)
            except BaseException as e:  # noqa: BLE001 - reported by the main thread
                failure.append(e)
                done.set()
                return
            done.set()
            stop.wait()
            gallery.close()

        stop = threading.Event()
        thread = threading.Thread(target=run, args=(stop,), daemon=True)
        thread.start()
        done.wait()
        if failure:
            raise failure[0]
        self.threads.append((thread, stop))
        if len(self.threads) > KEEP_THREADS:
            old, old_stop = self.threads.pop(0)
            old_stop.set()
            old.join()


def run_stdin(worker: Worker) -> None:
    print("ready", flush=True)
    for line in sys.stdin:
        command, _, name = line.strip().partition(" ")
        if command:
            worker.do(command, name)


def run_random(worker: Worker, prefix: str, seed: int) -> None:
    rng = random.Random(seed)
    print("ready", flush=True)
    for i in range(1_000_000):
        roll = rng.random()
        own = sorted(worker.present)
        if roll < 0.35:
            worker.do("add", f"{prefix}{i}")
        elif roll < 0.55:
            worker.do("thread-add", f"{prefix}{i}")
        elif roll < 0.7 and own:
            worker.do("forget", rng.choice(own))
        elif roll < 0.8:
            worker.do("reopen")
        else:
            worker.do("check")
        time.sleep(rng.uniform(0, 0.02))


def main(argv: list[str]) -> None:
    worker = Worker(Path(argv[1]))
    if argv[2] == "--stdin":
        run_stdin(worker)
    else:
        run_random(worker, argv[3], int(argv[4]))


if __name__ == "__main__":
    main(sys.argv)
