"""Fixtures the album tests share."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def local_cluster():
    """One local Ray cluster with one CPU for a module's tests (`facerec tag --ray` and the runs use it as it is,
    and leave it running)."""
    ray = pytest.importorskip("ray")
    from facerec.album.distributed import start_ray

    started = start_ray(ray, None, num_cpus=1)
    yield ray
    if started:
        ray.shutdown()
