"""PISA (the C++ engine of the learned-sparse efficiency literature) through ``pyterrier-pisa``'s compiled code.

- ``pisathon``: loading PISA's Python extension (``pyterrier_pisa._pisathon``) without PyTerrier.
- ``build``: ``lilsr index pisa``: integer impacts ``round(w * scale)`` written as PISA's binary collection,
  compressed and given block-max data by PISA itself.
- ``engine`` (``PisaEngine``): safe query processing (MaxScore, BlockMax-WAND, ...), one PISA call per query.
"""

from .engine import PisaEngine

__all__ = ["PisaEngine"]
