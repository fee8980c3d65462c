"""The SQL database (SQLite or PostgreSQL) behind appointments, apartment reservations and call
records.

One :class:`Database` per process wraps an async SQLAlchemy engine. The same tables work on
both back-ends: datetimes are stored as UTC (SQLite has no time zones, so they are stored naive
and given back aware), JSON columns become JSONB on PostgreSQL, and the "one booking per slot"
rule is a partial unique index that both support.

SQLite allows one writer at a time. To make check-then-insert sequences safe there, every
transaction starts with ``BEGIN IMMEDIATE`` (it takes the write lock up front, so two processes
cannot both pass the check) and, within one process, transactions queue on an asyncio lock
instead of spinning on "database is locked".
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Connection,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    event,
    inspect,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Serializes concurrent CREATE TABLE from several workers starting at once on PostgreSQL.
_SCHEMA_LOCK_KEY = 0x766F78_0001


def utc_now() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every back-end; naive values are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware datetime")
        value = value.astimezone(UTC)
        # SQLite stores text; keeping one fixed format (naive UTC) keeps comparisons correct.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    pass


class AppointmentRow(Base):
    """One appointment. Cancelled rows stay, for the record; only booked ones hold a slot."""

    __tablename__ = "appointments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(String(128), default="")
    owner_name: Mapped[str] = mapped_column(String(200), default="")
    owner_phone: Mapped[str] = mapped_column(String(64), default="", index=True)
    pet_name: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(500))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default="booked")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)

    __table_args__ = (
        CheckConstraint("status IN ('booked', 'cancelled')", name="ck_appointments_status"),
        CheckConstraint("ends_at > starts_at", name="ck_appointments_span"),
        # The last line of defence against double booking, even if two writers race.
        Index(
            "uq_appointments_booked_start",
            "starts_at",
            unique=True,
            sqlite_where=text("status = 'booked'"),
            postgresql_where=text("status = 'booked'"),
        ),
    )


class ApartmentRow(Base):
    """A tourist apartment the concierge rents out (seeded from her persona on first use)."""

    __tablename__ = "apartments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    neighbourhood: Mapped[str] = mapped_column(String(200), default="")
    bedrooms: Mapped[int] = mapped_column(Integer, default=1)
    max_guests: Mapped[int] = mapped_column(Integer)
    price_per_night: Mapped[int] = mapped_column(Integer)
    """Whole euros (the currency of the persona's business)."""
    description_en: Mapped[str] = mapped_column(Text, default="")
    description_es: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)

    __table_args__ = (
        CheckConstraint("max_guests >= 1", name="ck_apartments_guests"),
        CheckConstraint("price_per_night >= 0", name="ck_apartments_price"),
    )


class ReservationRow(Base):
    """A stay in an apartment, nights from ``check_in`` up to (not including) ``check_out``.

    Cancelled rows stay, for the record; only booked ones hold the nights. Overlaps are
    refused by :mod:`voxagent.state.apartments`, which books under a lock on the apartment.
    """

    __tablename__ = "reservations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    apartment_id: Mapped[int] = mapped_column(ForeignKey("apartments.id"))
    guest_name: Mapped[str] = mapped_column(String(200))
    guest_phone: Mapped[str] = mapped_column(String(128), default="", index=True)
    """The caller's number, or the browser user's id."""
    check_in: Mapped[date] = mapped_column(Date)
    check_out: Mapped[date] = mapped_column(Date)
    guests: Mapped[int] = mapped_column(Integer)
    total_price: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="booked")
    call_id: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)

    __table_args__ = (
        CheckConstraint("status IN ('booked', 'cancelled')", name="ck_reservations_status"),
        CheckConstraint("check_out > check_in", name="ck_reservations_span"),
        CheckConstraint("guests >= 1", name="ck_reservations_guests"),
        Index("ix_reservations_apartment_dates", "apartment_id", "check_in", "check_out"),
    )


class CallRow(Base):
    """One phone or browser call: who, when, how it ended, and what was said."""

    __tablename__ = "calls"

    call_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    direction: Mapped[str] = mapped_column(String(16), default="inbound")
    from_number: Mapped[str] = mapped_column(String(64), default="")
    to_number: Mapped[str] = mapped_column(String(64), default="")
    persona: Mapped[str] = mapped_column(String(64), default="")
    mode: Mapped[str] = mapped_column(String(32), default="")
    language: Mapped[str] = mapped_column(String(8), default="en")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(64), nullable=True)
    hangup_cause: Mapped[str | None] = mapped_column(Text, nullable=True)
    transcript: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    turns: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    counters: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    """Barge-ins, requests to repeat, no-input prompts… (added later: nullable)."""
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


class RecordingRow(Base):
    """Where a call's audio is stored (a table of its own: adding it needs no migration)."""

    __tablename__ = "recordings"

    call_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    storage_key: Mapped[str] = mapped_column(String(600))
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)


def normalize_database_url(url: str) -> str:
    """Give a plain database URL its async driver.

    ``sqlite:///x.db`` → ``sqlite+aiosqlite:///x.db``; ``postgres://`` and ``postgresql://``
    (as hosting providers hand them out) → ``postgresql+asyncpg://``, with ``sslmode`` renamed
    to the ``ssl`` asyncpg understands. URLs that already name a driver are left alone.
    """
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"not a database URL: {url!r}")
    lowered = scheme.lower()
    if lowered in ("sqlite", "sqlite+pysqlite"):
        return f"sqlite+aiosqlite://{rest}"
    if lowered in ("postgres", "postgresql", "postgresql+psycopg2", "postgres+asyncpg"):
        rest = rest.replace("sslmode=", "ssl=")
        return f"postgresql+asyncpg://{rest}"
    return url


class Database:
    """An async engine, its session factory, and the tables it guarantees exist."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalize_database_url(url)
        self._echo = echo
        self._engine: AsyncEngine | None = None
        self._sessionmaker: async_sessionmaker[AsyncSession] | None = None
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        self._sqlite_path = parsed.database if self.dialect == "sqlite" else None
        self._write_lock = asyncio.Lock() if self.dialect == "sqlite" else None

    @property
    def safe_url(self) -> str:
        """The URL with any password masked, for logs."""
        return make_url(self.url).render_as_string(hide_password=True)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise RuntimeError("Database.connect() has not been called")
        return self._engine

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        if self._sessionmaker is None:
            raise RuntimeError("Database.connect() has not been called")
        return self._sessionmaker

    async def connect(self) -> None:
        """Open the engine and create missing tables. Safe to call once per process."""
        if self._engine is not None:
            return
        options: dict[str, Any] = {"echo": self._echo}
        if self.is_sqlite:
            path = self._sqlite_path
            if path and path != ":memory:" and not path.startswith("file:"):
                await asyncio.to_thread(Path(path).parent.mkdir, parents=True, exist_ok=True)
            options["connect_args"] = {"timeout": 30}
        else:
            options["pool_pre_ping"] = True
        engine = create_async_engine(self.url, **options)
        if self.is_sqlite:
            _use_immediate_transactions(engine, in_memory=not self._sqlite_path
                                        or self._sqlite_path == ":memory:")  # fmt: skip
        self._engine = engine
        self._sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        try:
            async with self._locked(), engine.begin() as conn:
                if self.is_postgres:
                    await conn.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY}
                    )
                await conn.run_sync(Base.metadata.create_all)
                await conn.run_sync(_add_missing_columns)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._engine is not None:
            engine, self._engine, self._sessionmaker = self._engine, None, None
            await engine.dispose()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction, committed on success and rolled back on error.

        On SQLite it also holds the process-wide write lock (see the module docstring).
        """
        async with self._locked(), self.sessionmaker() as session, session.begin():
            yield session

    @asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if self._write_lock is not None:
                await stack.enter_async_context(self._write_lock)
            yield

    async def __aenter__(self) -> Database:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _add_missing_columns(conn: Connection) -> None:
    """Bring tables made by an older version up to date: a nullable column added to a model
    is added to its table (``create_all`` creates missing tables, never missing columns)."""
    inspector = inspect(conn)
    for table in Base.metadata.sorted_tables:
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if not column.nullable:
                raise RuntimeError(
                    f"table {table.name} lacks the required column {column.name}: migrate it"
                )
            kind = column.type.compile(dialect=conn.dialect)
            conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))


def _use_immediate_transactions(engine: AsyncEngine, *, in_memory: bool) -> None:
    """Make SQLite take its write lock when a transaction starts, not at its first write.

    This is SQLAlchemy's documented recipe for pysqlite/aiosqlite: turn off the driver's own
    implicit BEGIN and emit ours. WAL lets readers in other processes proceed meanwhile.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                # Durable across a process crash (what call records need); skips an fsync per
                # commit that only a power cut would make necessary.
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
