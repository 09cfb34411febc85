"""PISA's compiled code, as shipped by ``pyterrier-pisa``: its extension module ``_pisathon``.

``import pyterrier_pisa`` would import PyTerrier, pandas and ir_datasets first (1-2 s, and memory) for
nothing we use: we load the extension file on its own (it depends on no Python module of its package), and
fall back to the ordinary import if the file cannot be found.

What we call (signatures from pyterrier-pisa 0.4.9):

- ``build_binlex(lines_file, out)``: PISA's binary lexicon of a one-string-per-line file;
- ``prepare_index(ctx, dir, encoding, scorer_name, stemmer, block_size=, quantize=, stop_fname=)``: compresses
  ``dir/inv`` and writes the block-max (wand) data when missing, then maps both into ``ctx``;
- ``retrieve(ctx, algorithm, [(qidx, {term: float})], k=, threads=, pretokenised=, query_weighted=,
  result_qidxs=, result_docnos=, result_ranks=, result_scores=)``: searches, writes into the four buffers,
  returns the number of results.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import os
import sys
from importlib import metadata
from pathlib import Path

from ...errors import LilsrError

MODULE = "pyterrier_pisa._pisathon"
PACKAGE = "pyterrier-pisa"


def load_pisathon():
    """The ``_pisathon`` extension module; a clear error naming ``make venv`` when it is not installed."""
    if MODULE in sys.modules:
        return sys.modules[MODULE]
    spec = importlib.util.find_spec("pyterrier_pisa")
    if spec is None or not spec.submodule_search_locations:
        raise LilsrError(f"the pisa engine needs {PACKAGE} (the 'engines' extra): run 'make venv' "
                         f"(or pip install {PACKAGE}==0.4.9)")
    for folder in spec.submodule_search_locations:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = Path(folder) / f"_pisathon{suffix}"
            if path.is_file():
                loader = importlib.machinery.ExtensionFileLoader(MODULE, str(path))
                module = importlib.util.module_from_spec(importlib.util.spec_from_file_location(MODULE, path,
                                                                                                 loader=loader))
                loader.exec_module(module)
                sys.modules[MODULE] = module
                return module
    try:
        from pyterrier_pisa import _pisathon
    except ImportError as exc:
        raise LilsrError(f"the pisa engine cannot load PISA from {PACKAGE} ({exc}); run 'make venv'") from None
    return _pisathon


def pisa_version() -> str | None:
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return None


VERBOSE_ENV = "LILSR_VERBOSE"  # set by `lilsr index pisa --verbose`: PISA's own log lines are shown


@contextlib.contextmanager
def stdout_to_stderr():
    """PISA's C++ code prints ``[info]`` log lines and, when compressing, a temporary file name, on file
    descriptors 1 and 2 (below Python's sys.stdout). They say nothing a user acts on: they are kept aside and
    shown (on stderr, so that a command's standard output stays its own) only when PISA fails or with
    ``$LILSR_VERBOSE`` set."""
    import tempfile

    sys.stdout.flush()
    sys.stderr.flush()
    verbose = os.environ.get(VERBOSE_ENV, "") not in ("", "0")
    saved_out, saved_err = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile() as kept:
        os.dup2(2 if verbose else kept.fileno(), 1)
        if not verbose:
            os.dup2(kept.fileno(), 2)
        failed = False
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            os.dup2(saved_out, 1)
            os.dup2(saved_err, 2)
            os.close(saved_out)
            os.close(saved_err)
            if failed and not verbose:
                kept.seek(0)
                sys.stderr.write(kept.read().decode("utf-8", "replace"))
