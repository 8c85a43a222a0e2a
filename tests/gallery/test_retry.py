"""Retry with backoff (facerec.gallery.retry): a gallery that another real process holds locked is waited out, a lasting
error is raised once the attempts are spent, and an error that cannot clear up is raised at once."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from facerec.errors import GalleryError
from facerec.gallery import store
from facerec.gallery.retry import Backoff, Stopped, is_transient, retry_transient
from facerec.gallery.store import Gallery

HOLD_WRITE_LOCK = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")  # the write lock, as a long `facerec enroll` transaction would hold it
print("held", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
"""
QUICK = Backoff(first_s=0.1, factor=2.0, max_s=0.4, attempts=8)  # 0.1 + 0.2 + 0.4 * 5: about 2.3 s in all


@pytest.fixture
def gallery(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "LOCK_TIMEOUT_S", 0.1)  # a lock held longer than this is "database is locked"
    with Gallery(tmp_path / "g.sqlite") as g:
        yield g


def hold_write_lock(gallery: Gallery, seconds: float) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_WRITE_LOCK, str(gallery.path), str(seconds)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_write_waits_out_a_lock_another_process_holds(gallery):
    holder = hold_write_lock(gallery, 0.8)
    retries = []
    try:
        person = retry_transient(lambda: gallery.add_person("Alice"), what="test write", backoff=QUICK,
                                 on_retry=lambda attempt, error, delay: retries.append((attempt, str(error))))
    finally:
        holder.wait(timeout=30)
    assert person == gallery.person_id("Alice")
    assert retries and all("locked" in error for _, error in retries)  # it did meet the lock, and said so


def test_a_lock_that_stays_is_raised_once_the_attempts_are_spent(gallery):
    holder = hold_write_lock(gallery, 10)
    retries = []
    try:
        started = time.monotonic()
        with pytest.raises(GalleryError, match="locked"):
            retry_transient(lambda: gallery.add_person("Alice"), what="test write", backoff=Backoff(0.05, 2, 0.1, 3),
                            on_retry=lambda *args: retries.append(args))
        assert time.monotonic() - started < 5  # bounded: it never hangs on a gallery that stays locked
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert len(retries) == 2  # three tries, two waits
    assert gallery.person_id("Alice") is None


def test_an_error_that_cannot_clear_up_is_raised_at_once(gallery):
    calls = []

    def broken() -> None:
        calls.append(1)
        gallery._db.execute("SELECT * FROM no_such_table")

    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        retry_transient(broken, what="test read", backoff=QUICK)
    assert len(calls) == 1


def test_a_stop_request_ends_the_wait(gallery):
    holder = hold_write_lock(gallery, 10)
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    try:
        started = time.monotonic()
        with pytest.raises(Stopped):
            retry_transient(lambda: gallery.add_person("Alice"), what="test write",
                            backoff=Backoff(first_s=5, attempts=3), stop=stop)
        assert time.monotonic() - started < 3
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_which_errors_are_transient(gallery, tmp_path):
    not_a_database = tmp_path / "notes.sqlite"
    not_a_database.write_text("my notes, not a database, long enough to have a header " * 4)
    with pytest.raises(GalleryError) as opened:
        Gallery(not_a_database)
    assert is_transient(opened.value)  # a file being replaced or restored reads like this for a moment
    with pytest.raises(sqlite3.OperationalError) as no_table:
        gallery._db.execute("SELECT * FROM no_such_table")
    assert not is_transient(no_table.value)
    assert not is_transient(ValueError("database is locked"))  # only SQLite's own errors count
    assert not is_transient(None)
