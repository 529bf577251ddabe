"""Tokenizer tests run torch on one thread: on a shared, oversubscribed CPU two threads spin-wait
for each other and small convolutions get 10-50x slower (measured here)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
