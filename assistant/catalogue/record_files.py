"""Reading procedure records from YAML: one file (:func:`load_record_file`), parsed data (:func:`parse_record`), or
a whole folder with the checks across its records (:func:`load_directory`).

Every error names the file and the field path, so that whoever edits the YAML can fix it at once::

    procedures/ho-chieu.yml: fees.0.valid_to: invalid date '2026-02-30': day is out of range for month

The YAML loader refuses a key written twice in one mapping (PyYAML would keep the last silently) and leaves dates
as text, so that an impossible day is reported with its field path.

Example:
    >>> record = load_record_file(Path("procedures/ho-chieu.yml"))
    >>> [d.name for d in record.documents_for({"situation": "lost"}).needed]
    ['Tờ khai đề nghị cấp hộ chiếu (mẫu TK01, TT 31/2023/TT-BCA)', ...]
"""

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from assistant.catalogue.checks import check_records
from assistant.catalogue.fields import PROCEDURE_KEYS
from assistant.catalogue.schema import Procedure
from assistant.errors import RecordInvalid

__all__ = ["load_directory", "load_record_file", "parse_record"]

logger = logging.getLogger(__name__)


def _format_errors(source: str, error: ValidationError) -> list[str]:
    """Turn a pydantic error into lines ``<source>: <field.path>: <message>``.

    Problems found by :meth:`Procedure._consistent` come as one ``__root__`` error whose message has one
    ``<field.path>: <message>`` line per problem; those paths are joined to the error's location.
    """
    lines = []
    for item in error.errors():
        loc = [str(part) for part in item["loc"]]
        message = item["msg"]
        if item["type"] == "type_error.str":
            message += " (quote the value in the YAML)"
        elif item["type"] == "value_error.extra":
            message = "unknown field (see docs/procedure-record.md)"
        elif item["type"] == "value_error.missing":
            message = "field required"
        if loc and loc[-1] == "__root__":
            parents = loc[:-1]
            for line in message.splitlines():
                path, _, text = line.partition(": ")
                lines.append(f"{source}: {'.'.join([*parents, path])}: {text}")
        else:
            lines.append(f"{source}: {'.'.join(loc)}: {message}")
    return lines


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML safe loader for records.

    It refuses a mapping with the same key twice (PyYAML would keep the last one silently), and it
    leaves dates as text so that :class:`RecordDate` reports an impossible day with its field path.
    """


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


def _construct_timestamp(loader: _UniqueKeyLoader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


def _display(path: Path) -> str:
    """Name a file as ``procedures/ho-chieu.yml`` (its folder and name), short enough for messages."""
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


def parse_record(data: Any, *, source: str = "<record>") -> Procedure:
    """Validate already-parsed data (a mapping) as a procedure record.

    Args:
        data: the record, e.g. the YAML document or ``ProcedureRow.data``.
        source: how to name the record in error messages.

    Returns:
        The validated record.

    Raises:
        RecordInvalid: listing every problem as ``<source>: <field path>: <message>``.
    """
    if not isinstance(data, Mapping):
        raise RecordInvalid(f"{source}: the record must be a YAML mapping (key: value), not {type(data).__name__}")
    try:
        return Procedure.parse_obj(data)
    except ValidationError as e:
        raise RecordInvalid("\n".join(_format_errors(source, e))) from e


def load_record_file(path: Path) -> Procedure:
    """Read and validate one record file; its name must be ``<key>.yml``.

    Args:
        path: the YAML file.

    Returns:
        The validated record.

    Raises:
        RecordInvalid: naming the file and the field path of every problem, e.g.
            ``procedures/ho-chieu.yml: fees.0.valid_to: invalid date '2026-02-30': ...``.
    """
    source = _display(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise RecordInvalid(f"{source}: cannot read the file: {e}") from e
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as e:
        raise RecordInvalid(f"{source}: invalid YAML: {' '.join(str(e).split())}") from e
    record = parse_record(data, source=source)
    if record.key != path.stem:
        raise RecordInvalid(f"{source}: key: {record.key!r} does not match the file name (expected {path.stem!r})")
    return record


def load_directory(path: Path) -> list[Procedure]:
    """Read and validate every ``*.yml`` record of a folder, then the checks across records.

    Args:
        path: the folder, usually ``procedures/``.

    Returns:
        The records, in the order of :data:`PROCEDURE_KEYS`.

    Raises:
        RecordInvalid: listing the problems of all files at once, one per line.
    """
    if not path.is_dir():
        raise RecordInvalid(f"{path}: not a folder")
    errors: list[str] = []
    records: list[Procedure] = []
    for stray in sorted(path.glob("*.yaml")):
        errors.append(f"{_display(stray)}: record files end in .yml")
    files = sorted(path.glob("*.yml"))
    for file in files:
        try:
            records.append(load_record_file(file))
        except RecordInvalid as e:
            errors.extend(str(e).splitlines())
    errors.extend(check_records(records, folder=path.name, present=(f.stem for f in files)))
    if errors:
        raise RecordInvalid("\n".join(errors))
    logger.debug("validated %s procedure records in %s", len(records), path)
    return sorted(records, key=lambda r: PROCEDURE_KEYS.index(r.key))
