"""The equation catalog: one SQLite file (WAL) of validated models, their metrics, lineage and status.

An entry is a plain JSON-able dict (see ``ENTRY_FIELDS``); programs are stored as arrays of operator
names, argument indices and values, never as text to evaluate. An entry's id is the hash of its content
(``content_id``), so registering the same run twice (after a crash, say) changes nothing, and an entry whose
content was altered cannot keep its id.
"""
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from symdistill.catalogs.keys import content_hash

CATALOG_ENV = "SYMDISTILL_CATALOG"
DEFAULT_CATALOG = "symdistill-catalog.sqlite"  # in the working directory
# failed_validation: the run's equation is less accurate than its network in distribution; never a candidate
STATUSES = ("candidate", "accepted", "rejected", "failed_validation")
ENTRY_FIELDS = ("id", "run_key", "experiment", "function", "kind", "program", "expression", "latex", "units",
                "metrics", "lineage", "config", "versions", "created", "status")
JSON_FIELDS = ("program", "units", "metrics", "lineage", "config", "versions")
# What an id addresses: the programs, their units, metrics, config and versions, and the lineage's stage keys.
# Status and tags change as people review an entry; expression and LaTeX are rendered from the programs.
CONTENT_FIELDS = ("run_key", "experiment", "function", "kind", "program", "units", "metrics", "config", "versions")
SCHEMA_VERSION = 2  # 2: content ids (PRAGMA user_version)
BUSY_TIMEOUT_MS = 60_000  # another run may hold the write lock while it registers its entries

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id TEXT PRIMARY KEY, run_key TEXT NOT NULL, experiment TEXT NOT NULL, function TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('composed', 'function')),
    program TEXT NOT NULL, expression TEXT NOT NULL, latex TEXT NOT NULL, units TEXT NOT NULL,
    metrics TEXT NOT NULL, lineage TEXT NOT NULL, config TEXT NOT NULL, versions TEXT NOT NULL,
    created TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'candidate'
        CHECK (status IN ('candidate', 'accepted', 'rejected', 'failed_validation')));
CREATE TABLE IF NOT EXISTS tags (
    entry_id TEXT NOT NULL REFERENCES entries(id) ON DELETE CASCADE, tag TEXT NOT NULL,
    PRIMARY KEY (entry_id, tag));
CREATE INDEX IF NOT EXISTS entries_by_experiment ON entries (experiment, created);
"""


class CatalogError(ValueError):
    """A catalog request that cannot be served: unknown id, bad status or tag, a conflicting import."""


def catalog_path(explicit: str | Path | None = None) -> Path:
    """``--catalog PATH``, else ``$SYMDISTILL_CATALOG``, else ./symdistill-catalog.sqlite."""
    if explicit is not None:
        return Path(explicit)
    return Path(os.environ.get(CATALOG_ENV) or DEFAULT_CATALOG)


def content_id(entry: dict) -> str:
    """The id of an entry: the hash of its canonical content (floats encoded exactly)."""
    content = {name: entry[name] for name in CONTENT_FIELDS}
    content["lineage"] = [[step.get("stage"), step.get("key")] for step in entry["lineage"]]
    return content_hash(content)


class EquationCatalog:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_file():
            raise CatalogError(f"catalog {self.path} is not a file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(_SCHEMA)
        self._migrate()
        self._migrate_ids()

    def _migrate_ids(self) -> None:
        """Catalogs from before content ids: give every entry (and its tags) the id of its content."""
        with self._connect() as db:
            if db.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
                return
            db.execute("PRAGMA foreign_keys=OFF")  # ids of entries and tags change together below
            db.execute("BEGIN IMMEDIATE")
            try:
                for row in db.execute("SELECT * FROM entries").fetchall():
                    new = content_id(_from_row(row))
                    if new != row["id"]:
                        db.execute("UPDATE entries SET id = ? WHERE id = ?", (new, row["id"]))
                        db.execute("UPDATE tags SET entry_id = ? WHERE entry_id = ?", (new, row["id"]))
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def _migrate(self) -> None:
        """Catalogs written before the failed_validation status: rebuild the table with the new CHECK."""
        with self._connect() as db:
            sql = db.execute("SELECT sql FROM sqlite_master WHERE name = 'entries'").fetchone()["sql"]
        if "failed_validation" in sql:
            return
        # SQLite's recipe for changing a CHECK: a new table, copy, drop, rename; foreign keys off
        # (outside the transaction) so dropping the old table does not cascade to the tags
        with self._connect() as db:
            db.execute("PRAGMA foreign_keys=OFF")
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(_SCHEMA.split(";")[0].replace("IF NOT EXISTS entries", "entries_migrated"))
                db.execute(f"INSERT INTO entries_migrated SELECT {', '.join(ENTRY_FIELDS)} FROM entries")
                db.execute("DROP TABLE entries")
                db.execute("ALTER TABLE entries_migrated RENAME TO entries")
                db.execute("CREATE INDEX IF NOT EXISTS entries_by_experiment ON entries (experiment, created)")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
        except sqlite3.DatabaseError as err:
            raise CatalogError(f"catalog {self.path} is not a readable SQLite catalog: {err}") from None
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA foreign_keys=ON")
        db.row_factory = sqlite3.Row
        try:
            yield db
        finally:
            db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (BEGIN IMMEDIATE) so concurrent writers queue, not fail."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def add(self, entries: list[dict], tags: dict[str, list[str]] | None = None) -> list[str]:
        """Insert entries in one transaction; ids already present are kept as they are. Returns new ids."""
        added = []
        with self._transaction() as db:
            for entry in entries:
                row = _to_row(entry)
                cursor = db.execute(f"INSERT OR IGNORE INTO entries ({', '.join(ENTRY_FIELDS)}) "
                                    f"VALUES ({', '.join('?' * len(ENTRY_FIELDS))})", row)
                if cursor.rowcount:
                    added.append(entry["id"])
                    for tag in (tags or {}).get(entry["id"], []):
                        db.execute("INSERT OR IGNORE INTO tags VALUES (?, ?)", (entry["id"], _valid_tag(tag)))
        return added

    def insert_new(self, entry: dict, tags: list[str]) -> None:
        """Insert one entry that must not exist yet (imports): a clash is an error, not a silent merge."""
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM entries WHERE id = ?", (entry["id"],)).fetchone():
                raise CatalogError(f"entry {entry['id']} is already in {self.path}; nothing imported")
            db.execute(f"INSERT INTO entries ({', '.join(ENTRY_FIELDS)}) VALUES ({', '.join('?' * len(ENTRY_FIELDS))})",
                       _to_row(entry))
            for tag in tags:
                db.execute("INSERT INTO tags VALUES (?, ?)", (entry["id"], _valid_tag(tag)))

    def get(self, identifier: str) -> dict:
        """One entry with its tags; a unique prefix of an id is enough."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM entries WHERE id LIKE ? ESCAPE '\\'",
                              (_escape_like(identifier) + "%",)).fetchall()
            if not rows:
                raise CatalogError(f"no catalog entry {identifier!r} in {self.path}")
            if len(rows) > 1:
                raise CatalogError(f"{identifier!r} matches {len(rows)} entries; give more of the id")
            entry = _from_row(rows[0])
            entry["tags"] = [r["tag"] for r in db.execute("SELECT tag FROM tags WHERE entry_id = ? ORDER BY tag",
                                                          (entry["id"],))]
        return entry

    def entries(self, experiment: str | None = None, status: str | None = None) -> list[dict]:
        query, params = "SELECT * FROM entries", []
        conditions = []
        if experiment is not None:
            conditions.append("experiment = ?"), params.append(experiment)
        if status is not None:
            conditions.append("status = ?"), params.append(_valid_status(status))
        if conditions:
            query += " WHERE " + " AND ".join(conditions)
        query += " ORDER BY created, experiment, kind, function"
        with self._connect() as db:
            entries = [_from_row(row) for row in db.execute(query, params)]
            tags: dict[str, list[str]] = {}
            for row in db.execute("SELECT entry_id, tag FROM tags ORDER BY tag"):
                tags.setdefault(row["entry_id"], []).append(row["tag"])
        for entry in entries:
            entry["tags"] = tags.get(entry["id"], [])
        return entries

    def run_entry_ids(self, run_key: str, lineage_keys: list[tuple[str, str]]) -> list[str]:
        """Ids of a run's entries whose lineage has exactly these (stage, key) steps, the composed model first.
        (Early cutoff lets runs with different upstream keys share a final key.)"""
        with self._connect() as db:
            rows = db.execute("SELECT id, lineage FROM entries WHERE run_key = ? ORDER BY kind, function",
                              (run_key,)).fetchall()
        wanted = [list(step) for step in lineage_keys]
        return [row["id"] for row in rows
                if [[step.get("stage"), step.get("key")] for step in json.loads(row["lineage"])] == wanted]

    def tag(self, identifier: str, tag: str) -> str:
        entry_id_ = self.get(identifier)["id"]
        with self._transaction() as db:
            db.execute("INSERT OR IGNORE INTO tags VALUES (?, ?)", (entry_id_, _valid_tag(tag)))
        return entry_id_

    def set_status(self, identifier: str, status: str) -> str:
        entry_id_ = self.get(identifier)["id"]
        with self._transaction() as db:
            db.execute("UPDATE entries SET status = ? WHERE id = ?", (_valid_status(status), entry_id_))
        return entry_id_


def diff_entries(a: dict, b: dict) -> list[tuple[str, object, object]]:
    """(dotted field, value in a, value in b) for every leaf that differs; ids and times excluded."""
    out: list[tuple[str, object, object]] = []

    def walk(path: str, x, y):
        if isinstance(x, dict) and isinstance(y, dict):
            for key in sorted(set(x) | set(y), key=str):
                walk(f"{path}.{key}" if path else str(key), x.get(key), y.get(key))
        elif x != y:
            out.append((path, x, y))

    skip = {"id", "created"}
    walk("", {k: v for k, v in a.items() if k not in skip}, {k: v for k, v in b.items() if k not in skip})
    return out


def _to_row(entry: dict) -> tuple:
    missing = [name for name in ENTRY_FIELDS if name not in entry]
    if missing:
        raise CatalogError(f"catalog entry lacks field(s) {missing}")
    _valid_status(entry["status"])
    if entry["id"] != content_id(entry):
        raise CatalogError(f"entry {entry['id']}: the id is not the hash of the entry's content "
                           f"({content_id(entry)}); an altered entry cannot keep its id")
    return tuple(json.dumps(entry[name], sort_keys=True, allow_nan=True) if name in JSON_FIELDS else entry[name]
                 for name in ENTRY_FIELDS)


def _from_row(row: sqlite3.Row) -> dict:
    return {name: json.loads(row[name]) if name in JSON_FIELDS else row[name] for name in ENTRY_FIELDS}


def _valid_status(status: str) -> str:
    if status not in STATUSES:
        raise CatalogError(f"status {status!r} is not one of {', '.join(STATUSES)}")
    return status


def _valid_tag(tag) -> str:
    if not isinstance(tag, str) or not tag.strip() or len(tag) > 64 or any(c in tag for c in "\n\r\t"):
        raise CatalogError(f"tag {tag!r}: a tag is 1-64 characters on one line")
    return tag.strip()


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
