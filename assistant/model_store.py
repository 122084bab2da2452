"""Where trained models live and how one is loaded for parsing: shared by the CLI, bench and evaluation.

A model is named by the hash of everything it was trained from (:func:`data_hash`), so ``assistant train
--if-stale`` knows when the data changed, and ``make test`` trains once per data change.

Example:
    >>> model_path_for(Path("models"), "0123abcd").name
    'model-0123abcd.tar.gz'
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from assistant.settings import ROOT, get_settings

__all__ = ["MODEL_INPUTS", "data_hash", "load_nlu_agent", "model_path_for"]

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


def load_nlu_agent(model: str | None = None) -> Any:
    """Load the newest model (or ``model``) for parsing only: no tracker store, no actions.

    Raises:
        SystemExit: no trained model (run ``assistant train``).
    """
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import skops.io  # noqa: F401 - before Rasa and TensorFlow: see assistant/main.py
    from rasa.core.agent import Agent

    from assistant.engine import latest_model

    path = Path(model) if model else latest_model(get_settings().models_dir)
    if path is None or not path.exists():
        raise SystemExit("no trained model: run `assistant train` first")
    return Agent.load(str(path))
