"""The server's model lock (facerec.server.modellock): real threads queue on it; requests go before camera
loops, a camera loop still gets a turn after BACKGROUND_EVERY requests, and the lock is re-entrant."""
from __future__ import annotations

import threading
import time

from facerec.server.modellock import BACKGROUND_EVERY, FairModelLock


def queued(lock: FairModelLock) -> int:
    return len(lock._foreground) + len(lock._background)


def start_waiter(lock: FairModelLock, name: str, order: list[str], background: bool) -> threading.Thread:
    def run() -> None:
        if background:
            lock.mark_background()
        with lock:
            order.append(name)

    before = queued(lock)
    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 5
    while queued(lock) == before and time.monotonic() < deadline:  # wait until it stands in the queue
        time.sleep(0.005)
    return thread


def test_requests_go_before_a_waiting_camera_loop_which_still_gets_its_turn():
    lock, order = FairModelLock(), []
    lock.acquire()  # the model is busy
    threads = [start_waiter(lock, "camera", order, background=True)]
    threads += [start_waiter(lock, f"request{i}", order, background=False) for i in range(BACKGROUND_EVERY + 2)]
    lock.release()
    for t in threads:
        t.join(5)
    requests_first = [f"request{i}" for i in range(BACKGROUND_EVERY)]
    assert order == requests_first + ["camera", f"request{BACKGROUND_EVERY}", f"request{BACKGROUND_EVERY + 1}"]


def test_camera_loops_take_turns_in_arrival_order_and_the_lock_is_reentrant():
    lock, order = FairModelLock(), []
    with lock:
        with lock:  # re-entrant: a model call inside another
            threads = [start_waiter(lock, f"camera{i}", order, background=True) for i in range(3)]
        assert order == []  # still held once
    for t in threads:
        t.join(5)
    assert order == ["camera0", "camera1", "camera2"]


def test_a_request_waits_at_most_about_one_camera_turn_while_two_cameras_run():
    lock, stop, waits = FairModelLock(), threading.Event(), []

    def camera() -> None:
        lock.mark_background()
        while not stop.is_set():
            with lock:
                time.sleep(0.02)  # one detection

    cameras = [threading.Thread(target=camera) for _ in range(2)]
    for c in cameras:
        c.start()
    try:
        for _ in range(10):
            began = time.perf_counter()
            with lock:
                waits.append(time.perf_counter() - began)
            time.sleep(0.01)
    finally:
        stop.set()
        for c in cameras:
            c.join(5)
    assert sorted(waits)[len(waits) // 2] < 0.2  # median: one camera turn (20 ms) plus a busy machine's slack
