"""How much of a collection's corpus a given vector store covers.

Checked wherever a store meets a collection (compare, ablate): a store of 300 of SciFact's 5,183 documents
would otherwise be evaluated as if it held them all, the documents it lacks silently never retrieved
(nDCG@10 0.06 with no word why). Below 100% the comparison is refused unless the user says ``--partial``;
then the coverage is printed and recorded in the report and the manifest.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..data.collection import Collection
from ..errors import LilsrError
from ..vectors.store import SparseVectors


@dataclass(frozen=True)
class Coverage:
    store: str
    collection: str
    corpus_documents: int
    store_documents: int
    covered: int  # corpus documents the store holds

    @property
    def complete(self) -> bool:
        return self.covered == self.corpus_documents

    def sentence(self) -> str:
        share = self.covered / self.corpus_documents if self.corpus_documents else 0.0
        return (f"{self.store} covers {self.covered:,} of the {self.corpus_documents:,} documents of "
                f"{self.collection} ({share:.1%})")

    def as_dict(self) -> dict:
        return {**asdict(self), "share": self.covered / self.corpus_documents if self.corpus_documents else 0.0}


def corpus_coverage(vectors: SparseVectors, collection: Collection) -> Coverage:
    corpus_ids = {document.id for document in collection.corpus()}
    covered = len(corpus_ids.intersection(vectors.ids))
    return Coverage(str(vectors.path), collection.name, len(corpus_ids), len(vectors), covered)


def check_coverage(coverage: Coverage, model: str, partial: bool) -> None:
    """Refuse an incomplete store unless ``partial``."""
    if coverage.complete or partial:
        return
    raise LilsrError(f"model '{model}': {coverage.sentence()}; the missing ones can never be retrieved, so every "
                     "figure would be too low. Encode the whole corpus ('lilsr encode corpus'), or pass --partial to "
                     "evaluate it anyway (the coverage is then printed and recorded in the report and manifest)")


def coverage_notes(coverage: dict[str, Coverage]) -> list[str]:
    """One sentence per incomplete store (model name -> coverage), for the report and the console."""
    return [f"model '{name}': {c.sentence()} (--partial)" for name, c in coverage.items() if not c.complete]


def recorded_coverage(manifest: dict) -> dict[str, Coverage]:
    """The coverage a report's manifest recorded."""
    names = set(Coverage.__dataclass_fields__)
    return {model: Coverage(**{k: v for k, v in c.items() if k in names})
            for model, c in manifest.get("coverage", {}).items()}
