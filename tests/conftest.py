"""Shared test set-up: one torch thread (the CI box has 2 cores) and deterministic seeds."""

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
