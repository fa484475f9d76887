"""Shared test settings."""

from __future__ import annotations

import os

import torch
from hypothesis import settings

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

settings.register_profile("fitnas", deadline=None, print_blob=True)
settings.load_profile("fitnas")
