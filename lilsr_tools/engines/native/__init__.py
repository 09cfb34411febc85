"""The native Seismic-like index: static pruning, blocked posting lists with 8-bit summaries, a 16-bit
forward index, numba kernels for build and search (see docs/native.md)."""

from .build import BuildParams, build_native_index
from .engine import SEARCH_DEFAULTS, NativeEngine

__all__ = ["BuildParams", "NativeEngine", "SEARCH_DEFAULTS", "build_native_index"]
