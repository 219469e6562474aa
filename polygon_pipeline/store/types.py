"""Column types that keep 256-bit chain integers exact on every backend."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from sqlalchemy import DateTime, Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

_UINT256_DIGITS = 78  # len(str(2**256 - 1))
_UINT256_END = 2**256


@runtime_checkable
class EncodesColumns(Protocol):
    """A type that encodes a whole column of a bulk write at once (store/bulk_upsert.py),
    to the same values its bind processor gives one by one, at a fraction of the calls."""

    def encode_column(self, values: Sequence[object], dialect: Dialect) -> list[object]: ...


class Uint256(TypeDecorator):
    """An unsigned 256-bit integer: NUMERIC(78, 0) on PostgreSQL, a zero-padded decimal
    string elsewhere (SQLite's numbers are 64-bit or float, which would lose token ids and
    amounts). Padding keeps text order equal to numeric order, so range queries still work."""

    impl = String(_UINT256_DIGITS)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(_UINT256_DIGITS, 0))
        return dialect.type_descriptor(String(_UINT256_DIGITS))

    def process_bind_param(self, value: int | None, dialect: Dialect) -> object:
        if value is None:
            return None
        if not 0 <= value < _UINT256_END:
            raise ValueError(f"{value} is not a uint256")
        if dialect.name == "postgresql":
            return Decimal(value)
        return str(value).zfill(_UINT256_DIGITS)

    def encode_column(self, values: Sequence[int | None], dialect: Dialect) -> list[object]:
        """One range check by min and max, the text in one comprehension; on PostgreSQL the
        ints themselves (COPY writes them as exact decimal text)."""
        present = [v for v in values if v is not None]
        if present and not (min(present) >= 0 and max(present) < _UINT256_END):
            bad = next(v for v in present if not 0 <= v < _UINT256_END)
            raise ValueError(f"{bad} is not a uint256")
        if dialect.name == "postgresql":
            return list(values)
        return [None if v is None else str(v).zfill(_UINT256_DIGITS) for v in values]

    def process_result_value(self, value: object, dialect: Dialect) -> int | None:
        return None if value is None else int(value)


class UtcDateTime(TypeDecorator):
    """A timestamp that always comes back timezone-aware in UTC (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store times with a zone")
        return value.astimezone(UTC)

    def encode_column(self, values: Sequence[datetime | None], dialect: Dialect) -> list[object]:
        """Each distinct time encoded once: a batch's fills share a few block times and one
        first-seen time."""
        encode = self.dialect_impl(dialect).bind_processor(dialect)
        encoded = {value: encode(value) for value in set(values)}
        return [encoded[value] for value in values]

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
