"""Records a plan or a run holds one of per node (100k of them), kept lean: pydantic models
whose instances share their fields set and keep their fields in a key-sharing ``__dict__``,
and the builder that makes them from values checked elsewhere, without pydantic's cost."""

from __future__ import annotations

from collections.abc import Set
from typing import Any, TypeVar

from pydantic import BaseModel

_FIELD_SETS: dict[frozenset[str], set[str]] = {}


def shared_fields_set(names: Set[str]) -> set[str]:
    """One set object per distinct set of field names, shared by every record that has it."""
    key = frozenset(names)
    found = _FIELD_SETS.get(key)
    if found is None:
        found = _FIELD_SETS.setdefault(key, set(key))
    return found


class LeanRecord(BaseModel):
    """A pydantic model of which a plan or a run holds one per node (100k of them): instances
    with the same explicitly set fields share one ``model_fields_set`` object instead of a set
    each (a set of 5+ names is 728 bytes, more than the rest of a result). Behaviour is
    pydantic's: assigning a field not set yet moves the instance to the set with it added,
    before pydantic adds the name (which is then already there), so no shared set changes.

    Their fields are kept in a key-sharing ``__dict__`` (see :func:`_key_sharing`), also
    when pydantic built them (its constructor and ``model_validate*`` fill a dict of their
    own: 128 bytes a plan node more)."""

    def model_post_init(self, context: Any, /) -> None:
        _SET(self, "__pydantic_fields_set__", shared_fields_set(self.__pydantic_fields_set__))
        _SET(self, "__dict__", _key_sharing(type(self), self.__dict__))

    def __setattr__(self, name: str, value: Any) -> None:
        fields_set = self.__pydantic_fields_set__
        if name not in fields_set and name in type(self).__pydantic_fields__:
            object.__setattr__(
                self, "__pydantic_fields_set__", shared_fields_set(fields_set | {name})
            )
        super().__setattr__(name, value)


LeanT = TypeVar("LeanT", bound=LeanRecord)


def lean_build(cls: type[LeanT], values: dict[str, Any], fields_set: set[str]) -> LeanT:
    """An instance of ``cls`` holding ``values`` (every field, in declaration order, already
    of the field's type: nothing is validated) with the shared ``fields_set``: what pydantic's
    constructor leaves behind, in a fraction of its time, for code that builds many records
    from values it checked itself. Callers compare one built record with one pydantic made
    before relying on it (see ``runs.stored``, ``results.pending_results``).

    The fields go into the instance's own ``__dict__`` as pairs, in the same order every
    time, so it stays a key-sharing dict (CPython's split table: the names kept once, in
    the class): ~100 bytes less a record than a dict of its own, 10 MB for 100k results.
    ``values`` is not kept."""
    record = object.__new__(cls)
    vars(record).update(values.items())  # pairs: a dict would be copied as a table of its own
    _SET(record, "__pydantic_fields_set__", fields_set)
    _SET(record, "__pydantic_extra__", None)
    _SET(record, "__pydantic_private__", None)
    return record


_SET = object.__setattr__


def _key_sharing(cls: type[BaseModel], values: dict[str, Any]) -> dict[str, Any]:
    """``values`` in a key-sharing dict of ``cls`` (CPython's split table, which keeps only
    the values: the names are the class's, kept once): the dict a fresh instance makes
    itself when asked for one, filled in the same field order every time."""
    shared = vars(object.__new__(cls))  # made by the instance: sharing the class's keys
    shared.update(values.items())
    return shared


def lean_copy(record: LeanT, update: dict[str, Any]) -> LeanT:
    """``record.model_copy(update=update)``, sharing its fields set as constructed ones do."""
    copied = record.model_copy(update=update)
    object.__setattr__(
        copied, "__pydantic_fields_set__", shared_fields_set(copied.model_fields_set)
    )
    return copied
