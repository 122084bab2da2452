"""Where trained models live: shared by the CLI, bench, evaluation and the engine (which loads them).

A model is named by the hash of everything it was trained from (:func:`data_hash`), so ``assistant train
--if-stale`` knows when the data changed, and ``make test`` trains once per data change.

Example:
    >>> model_path_for(Path("models"), "0123abcd").name
    'model-0123abcd.tar.gz'
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from assistant.settings import ROOT

__all__ = ["MODEL_INPUTS", "data_hash", "latest_model", "model_path_for"]

#: What a trained model depends on: data, records (aliases) and the code of our NLU components.
MODEL_INPUTS = ("nlu_data", "procedures", "assistant/nlu", "assistant/text")


def data_hash(root: Path = ROOT) -> str:
    """Hash of everything a trained model depends on (file paths and contents)."""
    digest = hashlib.sha256()
    for folder in MODEL_INPUTS:
        for path in sorted((root / folder).rglob("*")):
            if path.is_file() and path.suffix in {".yml", ".yaml", ".py"}:
                digest.update(str(path.relative_to(root)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def model_path_for(models_dir: Path, digest: str) -> Path:
    """Where the model trained from data with hash ``digest`` is kept."""
    return models_dir / f"model-{digest}.tar.gz"


def latest_model(models_dir: Path) -> Path | None:
    """Return the newest ``*.tar.gz`` model in ``models_dir``, or None."""
    models = sorted(models_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return models[-1] if models else None
