"""Where the controller's state survives a restart: one small interface, three implementations.

A *record* is a JSON document stored under a *kind* (what it is: ``bce``, ``mag``, ``drf.loc`` ...)
and a *key* (whose it is: ``"elma1 mn1"``).  The composition root (``controller/core.py``) is the
only writer: after each event it asks the nodes which of their records the event changed and
writes exactly those, in one transaction, before the event's flow-mods leave for the switches
(docs/architecture.md, "Persistence and restart").  On start it reads everything back once.

* ``SqliteStore`` - the embedded default (standard library ``sqlite3``).  WAL journal, and
  ``synchronous=NORMAL`` unless the domain file asks for ``full``: in WAL mode a committed
  transaction is in the WAL file (the OS page cache) when ``commit`` returns, so a killed
  controller (SIGKILL, a crash) loses nothing it committed; only a power cut or kernel crash can
  lose the last transactions before the next checkpoint.  ``full`` fsyncs every commit (one disk
  flush per event that changed state: milliseconds on a disk) and survives those too.
* ``RedisStore`` - a ``redis-server`` several controllers (or tools) can share: one hash per kind,
  each batch one MULTI/EXEC.  Durable as the server is configured (appendonly / RDB); a controller
  that dies loses nothing the server acknowledged.
* ``NullStore`` - ``store: {kind: none}``: nothing is kept (the behaviour before persistence).

Every error is raised as ``StoreError``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

LOG = logging.getLogger("epmip.store")
STORE_KINDS = ("sqlite", "redis", "none")
SYNCHRONOUS = ("normal", "full")
DEFAULT_SQLITE_PATH = "var/state/epmip.db"
REDIS_PREFIX = "epmip"

Change = tuple[str, str, Any]  # (kind, key, value); value None deletes the record


class StoreError(RuntimeError):
    """The store could not be opened, read or written."""


@dataclass(frozen=True)
class StoreConfig:
    """The domain file's ``store`` field (validated by ``controller.config``)."""

    kind: str = "sqlite"
    path: str = DEFAULT_SQLITE_PATH  # sqlite: relative paths are relative to the working directory
    synchronous: str = "normal"  # sqlite
    url: str = ""  # redis: redis://host:port/db or unix:///path/to/socket?db=0
    prefix: str = REDIS_PREFIX  # redis: key prefix, so several domains can share one server


class Store(Protocol):
    """What the composition root needs of a store."""

    def load_all(self) -> dict[str, dict[str, Any]]:
        """Every record: kind -> key -> value."""
        ...

    def write(self, changes: Iterable[Change]) -> None:
        """Apply ``changes`` atomically (all or none); a value of None deletes the record."""
        ...

    def put(self, kind: str, key: str, value: Any) -> None: ...

    def delete(self, kind: str, key: str) -> None: ...

    def clear(self) -> None:
        """Forget everything (tests, ``epmip`` tooling)."""
        ...

    def close(self) -> None: ...


class NullStore:
    """Keeps nothing."""

    def load_all(self) -> dict[str, dict[str, Any]]:
        return {}

    def write(self, changes: Iterable[Change]) -> None:
        for _ in changes:
            pass

    def put(self, kind: str, key: str, value: Any) -> None:
        pass

    def delete(self, kind: str, key: str) -> None:
        pass

    def clear(self) -> None:
        pass

    def close(self) -> None:
        pass


def _encode(value: Any) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"record is not storable as JSON: {exc}") from None


def _decode(kind: str, key: str, text: str | bytes) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise StoreError(f"record {kind}/{key} is not JSON: {exc}") from None


class _OneRecordWrites:
    """``put`` and ``delete`` of one record, as a batch of one through the store's ``write``."""

    def write(self, changes: Iterable[Change]) -> None:
        raise NotImplementedError

    def put(self, kind: str, key: str, value: Any) -> None:
        self.write([(kind, key, value)])

    def delete(self, kind: str, key: str) -> None:
        self.write([(kind, key, None)])


class SqliteStore(_OneRecordWrites):
    """One table ``state(kind, key, value)``, written in one transaction per batch.

    WAL checkpoints (copying the WAL back into the database, with an fsync of each) are what can
    take tens of milliseconds; SQLite's automatic ones would run inside the commit of whichever
    event crosses the WAL size limit - on the controller's single event loop.  So they are off for
    the writing connection and a background OS thread with its own connection checkpoints every
    ``checkpoint_interval`` seconds (PASSIVE: it never blocks the writer)."""

    def __init__(self, path: str, synchronous: str = "normal", checkpoint_interval: float = 1.0) -> None:
        if synchronous not in SYNCHRONOUS:
            raise StoreError(f"synchronous must be one of {list(SYNCHRONOUS)}, not {synchronous!r}")
        self.path = path
        try:
            parent = os.path.dirname(os.path.abspath(path))
            os.makedirs(parent, exist_ok=True)
            # autocommit off by hand (isolation_level=None): BEGIN/COMMIT are ours
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"{path}: SQLite refused WAL mode (got {mode})")
            self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            if checkpoint_interval > 0:
                self._db.execute("PRAGMA wal_autocheckpoint=0")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS state (kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, "
                "PRIMARY KEY (kind, key)) WITHOUT ROWID"
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite store {path}: {exc}") from None
        self._stop = threading.Event()
        self._checkpointer: threading.Thread | None = None
        if checkpoint_interval > 0:
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop, args=(checkpoint_interval,), name="epmip-sqlite-checkpoint", daemon=True
            )
            self._checkpointer.start()

    def _checkpoint_loop(self, interval: float) -> None:
        """Runs in its own OS thread (``apps/launcher.py`` leaves threads unpatched): the C
        library does the I/O with the GIL released, so the event loop never waits for an fsync."""
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            LOG.exception("SQLite store %s: checkpoint thread cannot open the database", self.path)
            return
        try:
            while not self._stop.wait(interval):
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error as exc:
                    LOG.warning("SQLite store %s: checkpoint failed: %s", self.path, exc)
        finally:
            db.close()

    def checkpoint(self) -> None:
        """Copy the WAL back into the database now (tests; the thread does it on its own)."""
        try:
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot checkpoint SQLite store {self.path}: {exc}") from None

    def load_all(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        try:
            for kind, key, text in self._db.execute("SELECT kind, key, value FROM state"):
                out.setdefault(kind, {})[key] = _decode(kind, key, text)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read SQLite store {self.path}: {exc}") from None
        return out

    def write(self, changes: Iterable[Change]) -> None:
        puts: list[tuple[str, str, str]] = []
        deletes: list[tuple[str, str]] = []
        for (kind, key), value in merged(changes).items():
            if value is None:
                deletes.append((kind, key))
            else:
                puts.append((kind, key, _encode(value)))
        if not puts and not deletes:
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if deletes:
                    self._db.executemany("DELETE FROM state WHERE kind = ? AND key = ?", deletes)
                if puts:
                    self._db.executemany("INSERT OR REPLACE INTO state (kind, key, value) VALUES (?, ?, ?)", puts)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write SQLite store {self.path}: {exc}") from None

    def clear(self) -> None:
        try:
            self._db.execute("DELETE FROM state")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot clear SQLite store {self.path}: {exc}") from None

    def close(self) -> None:
        self._stop.set()
        if self._checkpointer is not None:
            self._checkpointer.join(5)
        self._db.close()


class RedisStore(_OneRecordWrites):
    """A hash ``<prefix>:state:<kind>`` per kind (field = key, value = JSON) and a set
    ``<prefix>:kinds`` naming them; each batch is one MULTI/EXEC transaction."""

    def __init__(self, url: str, prefix: str = REDIS_PREFIX, timeout: float = 5.0) -> None:
        try:
            import redis
        except ImportError:
            raise StoreError("store kind redis needs the Python package redis (scripts/setup.sh)") from None
        self.url = url
        self.prefix = prefix
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError,)
        try:
            self._r = redis.Redis.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout, decode_responses=True
            )
            self._r.ping()
        except (redis.RedisError, ValueError) as exc:
            raise StoreError(f"cannot reach Redis store {url}: {exc}") from None

    def _hash(self, kind: str) -> str:
        return f"{self.prefix}:state:{kind}"

    def load_all(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        try:
            kinds = sorted(str(k) for k in self._r.smembers(f"{self.prefix}:kinds"))
            for kind in kinds:
                for key, text in self._r.hgetall(self._hash(kind)).items():
                    out.setdefault(kind, {})[str(key)] = _decode(kind, str(key), text)
        except self._errors as exc:
            raise StoreError(f"cannot read Redis store {self.url}: {exc}") from None
        return out

    def write(self, changes: Iterable[Change]) -> None:
        puts: dict[str, dict[Any, Any]] = {}
        deletes: dict[str, list[str]] = {}
        for (kind, key), value in merged(changes).items():
            if value is None:
                deletes.setdefault(kind, []).append(key)
            else:
                puts.setdefault(kind, {})[key] = _encode(value)
        if not any(puts.values()) and not any(deletes.values()):
            return
        try:
            pipe = self._r.pipeline(transaction=True)
            for kind, keys in deletes.items():
                if keys:
                    pipe.hdel(self._hash(kind), *keys)
            for kind, fields in puts.items():
                if fields:
                    pipe.sadd(f"{self.prefix}:kinds", kind)
                    pipe.hset(self._hash(kind), mapping=fields)
            pipe.execute()
        except self._errors as exc:
            raise StoreError(f"cannot write Redis store {self.url}: {exc}") from None

    def clear(self) -> None:
        try:
            kinds = [str(k) for k in self._r.smembers(f"{self.prefix}:kinds")]
            self._r.delete(*[self._hash(k) for k in kinds], f"{self.prefix}:kinds")
        except self._errors as exc:
            raise StoreError(f"cannot clear Redis store {self.url}: {exc}") from None

    def close(self) -> None:
        self._r.close()


def for_instance(config: StoreConfig, instance: str | None) -> StoreConfig:
    """The store of one controller instance (``--epmip-instance``): each instance keeps the state of
    the nodes it serves apart from the others' - its own SQLite file beside the configured one, or
    its own key prefix on the shared Redis server."""
    if not instance:
        return config
    stem, dot, ext = config.path.rpartition(".")
    path = f"{stem}.{instance}.{ext}" if dot and "/" not in ext else f"{config.path}.{instance}"
    return dataclasses.replace(config, path=path, prefix=f"{config.prefix}{instance}:")


def open_store(config: StoreConfig) -> Store:
    """The store the domain file's ``store`` field names (raises StoreError)."""
    if config.kind == "sqlite":
        return SqliteStore(config.path, config.synchronous)
    if config.kind == "redis":
        return RedisStore(config.url, config.prefix)
    if config.kind == "none":
        return NullStore()
    raise StoreError(f"store kind must be one of {list(STORE_KINDS)}, not {config.kind!r}")


def merged(changes: Iterable[Change]) -> Mapping[tuple[str, str], Any]:
    """The last value per (kind, key) of a sequence of changes (within a batch the last wins)."""
    out: dict[tuple[str, str], Any] = {}
    for kind, key, value in changes:
        out[(kind, key)] = value
    return out
