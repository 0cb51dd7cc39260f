"""Fixtures for the trainables tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Run like a Tune trial with one CPU: one intra-op thread.

    The models here are tiny; on two threads their kernels spend more time synchronising
    than computing (several times slower), and a trial actor gets one thread anyway.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
