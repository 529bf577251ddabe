"""Objective tests run many small tensor ops: one intra-op thread avoids OpenMP spin-waiting on a
shared 2-core machine (40x faster here than 2 threads under load); restored after each test."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
