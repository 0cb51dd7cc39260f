"""Security defaults that can be checked on a real embedded Ray."""

from __future__ import annotations

import psutil


def test_the_embedded_ray_listens_on_loopback_only(ray_local: None) -> None:
    import ray

    @ray.remote
    def ping() -> int:  # starts a worker process, which listens too
        return 1

    assert ray.get(ping.remote()) == 1
    listening = []
    for process in psutil.Process().children(recursive=True):
        try:
            connections = process.net_connections(kind="inet")
        except psutil.Error:  # a worker that has just exited
            continue
        listening += [(process.name(), c.laddr) for c in connections if c.status == psutil.CONN_LISTEN]

    assert len(listening) >= 3  # at least the GCS, the raylet and a worker
    exposed = [(name, addr) for name, addr in listening if addr.ip not in ("127.0.0.1", "::ffff:127.0.0.1")]
    assert exposed == []
