"""Shared test set-up: one torch thread (the CI box has 2 cores), deterministic seeds, and the fixtures several test
files use (each built once per session)."""

from pathlib import Path

import pytest
import torch
from helpers_model import make_tiny_models
from helpers_run import quantize_tiny_run

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True, scope="session")
def _clip_cache_in_a_temporary_folder(tmp_path_factory):
    """`cache auto` writes to ~/.cache/darkedge/clips: the tests' clips go to a folder of their own instead."""
    import darkedge.data.cache

    darkedge.data.cache.DEFAULT_DIR = tmp_path_factory.mktemp("clip_cache")


@pytest.fixture(scope="session")
def qrun(tmp_path_factory) -> Path:
    """A tiny run directory after `darkedge calib build` and `darkedge quantize` (tests copy it to change it)."""
    return quantize_tiny_run(tmp_path_factory.mktemp("quantized"))


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> dict[str, Path]:
    """The tiny classifier of helpers_model as a checkpoint ("torch") and an ONNX graph ("onnxruntime")."""
    return make_tiny_models(tmp_path_factory.mktemp("model"))
