"""A section of a Markdown report that one command rewrites and the others keep (docs/nlu-evaluation.md).

``assistant evaluate FILE --report R`` rewrites R but keeps the multi-turn conversations section that
``assistant evaluate --conversations DIR --report R`` wrote between two marker lines, and the other way round.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["SECTION_END", "SECTION_START", "kept_section", "write_section"]

#: The report section in a Markdown file lives between these two lines; the rest of the file is kept.
SECTION_START = "<!-- conversations:start -->"
SECTION_END = "<!-- conversations:end -->"


def write_section(path: Path, section: str) -> None:
    """Put ``section`` between the markers in ``path``, keeping the rest; append it when absent."""
    block = f"{SECTION_START}\n{section.rstrip()}\n{SECTION_END}\n"
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    if SECTION_START in current and SECTION_END in current:
        head, rest = current.split(SECTION_START, 1)
        tail = rest.split(SECTION_END, 1)[1].lstrip("\n")
        updated = head + block + tail
    else:
        updated = current.rstrip("\n") + ("\n\n" if current.strip() else "") + block
    path.write_text(updated, encoding="utf-8")


def kept_section(path: Path) -> str:
    """The conversations section of ``path`` with its markers, or ``""`` (so a rewrite can keep it)."""
    if not path.exists():
        return ""
    current = path.read_text(encoding="utf-8")
    if SECTION_START not in current or SECTION_END not in current:
        return ""
    inner = current.split(SECTION_START, 1)[1].split(SECTION_END, 1)[0]
    return f"{SECTION_START}{inner}{SECTION_END}\n"
