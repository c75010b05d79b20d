"""The carried dedup state of ``IncrementalDedup``, bounded in client memory and persisted on disk.

Same rules as ``filters/dedup.py`` (which stays the plain reference implementation): exact dedup
keyed by the first 16 bytes of the sha256 (the text itself when it is not hex), then near dedup of
the samples still pending by 64-bit phash within ``max_distance`` (multi-index hashing: the same
bands and radius-1 probes); the earliest kept sample in plan order is the one reported.

Why not dicts: a dict entry and its id string cost ~0.4 KB per kept input (10M inputs: several GB on
the client). Here the state held in memory is flat numpy arrays indexed by the kept ordinal (kept
samples numbered in plan order, so the earliest match is the smallest ordinal):

  exact  hi, lo (the 16-byte key, 16 B) + one chain link (4 B)             = 20 B per kept input
  near   the phash (8 B) + one chain link per band (4 B each, 3 bands at d=4) = 20 B per kept input

plus fixed bucket heads (2^22 buckets for exact, 2^min(width, 22) per near band: 48 MB at d=4) and
up to 2x slack while an array grows (capacity doubles; unwritten capacity is not resident). Ordinals
are uint32 (up to ~4e9 kept inputs). A bucket's entries are a linked list through
the ``nxt`` array (newest first), so a probe costs the bucket's length, never a scan of the kept set,
and a shard is probed with a handful of vectorised numpy operations. The ids (needed only to report
``duplicate_of``) live on disk, in SQLite next to the decisions files.

Persistence: ``_stage/dedup/index.sqlite`` (WAL) holds, per applied shard, one row with the kept keys
and phashes as blobs, and the kept ids, written in ONE transaction per shard, after that shard's
decisions file. So on resume the arrays are re-read from the blobs (not replayed from the JSON
decisions), and only shards whose decisions file exists but whose index transaction never committed
are replayed. An index that is unreadable, written for other filters, or ahead of the decisions files
(a decisions file missing or with another number of hashes) is truncated or rebuilt: the decisions
files stay authoritative.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

INDEX_FILE = "index.sqlite"
SCHEMA = 1
BUCKET_BITS = 22  # at most 2^22 buckets (16 MB of uint32 heads) per table
_MULT = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing of band keys wider than BUCKET_BITS
_SQL_CHUNK = 900  # bound parameters per statement (SQLite < 3.32 allows 999)
_LINK_CHUNK = 1 << 18  # ordinals linked per batch: bounds the temporaries of a resumed job (~12 MB)


def exact_key(sha256: str) -> bytes:
    """The exact-dedup key, as ``ExactDuplicateFilter`` computes it."""
    try:
        return bytes.fromhex(sha256[:32])
    except ValueError:  # not a hex digest (hand-made test input): the text itself
        return sha256.encode()


def near_bands(max_distance: int, bits: int = 64) -> tuple[list[tuple[int, int]], int]:
    """(start, width) of each band and the probe radius, as ``NearDuplicateFilter`` computes them."""
    n_bands = min(bits, max(1, (max_distance + 2) // 2))
    edges = [round(i * bits / n_bands) for i in range(n_bands + 1)]
    return [(edges[i], edges[i + 1] - edges[i]) for i in range(n_bands)], max_distance // n_bands


def _reserve(arr: np.ndarray, n: int) -> np.ndarray:
    """``arr`` with capacity for at least ``n`` items (doubling; untouched capacity is not resident)."""
    if len(arr) >= n:
        return arr
    new = np.empty(max(n, 2 * len(arr), 1024), arr.dtype)
    new[: len(arr)] = arr
    return new


class _Chains:
    """Buckets of ordinals: ``heads[b]`` = newest ordinal + 1 in bucket b (0: empty), ``nxt[k]`` = the
    previous ordinal + 1 in k's bucket. Links only point to older ordinals."""

    def __init__(self, bits: int) -> None:
        self.heads = np.zeros(1 << bits, np.uint32)  # calloc: pages become resident only when written
        self.nxt = np.zeros(0, np.uint32)

    def link(self, buckets: np.ndarray, first: int) -> tuple[np.ndarray, np.ndarray]:
        """Add ordinals first, first+1, ... (bucket ``buckets[i]`` for ordinal first+i). Returns the
        touched buckets and their previous heads, for ``unlink``."""
        n = len(buckets)
        self.nxt = _reserve(self.nxt, first + n)
        order = np.argsort(buckets, kind="stable")
        bs = buckets[order]
        ks = order.astype(np.uint32) + np.uint32(first)
        new = np.ones(n, bool)
        new[1:] = bs[1:] != bs[:-1]
        starts = bs[new]
        saved = self.heads[starts]
        prev = np.empty(n, np.uint32)
        prev[1:] = ks[:-1] + np.uint32(1)
        prev[new] = saved
        self.nxt[ks] = prev
        last = np.ones(n, bool)
        last[:-1] = new[1:]
        self.heads[bs[last]] = ks[last] + np.uint32(1)
        return starts, saved

    def unlink(self, starts: np.ndarray, saved: np.ndarray) -> None:
        """Undo the latest ``link`` (its ordinals' ``nxt`` entries are simply overwritten later)."""
        self.heads[starts] = saved

    def walk(self, buckets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every (query position, ordinal) pair of the queried buckets."""
        cur = self.heads[buckets]
        q = np.flatnonzero(cur)
        cur = cur[q]
        qs, ks = [], []
        while cur.size:
            k = cur - np.uint32(1)
            qs.append(q)
            ks.append(k)
            cur = self.nxt[k]
            live = cur != 0
            q, cur = q[live], cur[live]
        if not qs:
            return np.zeros(0, np.intp), np.zeros(0, np.int64)
        return np.concatenate(qs), np.concatenate(ks).astype(np.int64)


class ExactState:
    """Kept 16-byte exact keys, by ordinal; at most one entry per key."""

    def __init__(self) -> None:
        self.n = 0
        self.hi = np.zeros(0, np.uint64)
        self.lo = np.zeros(0, np.uint64)
        self.chains = _Chains(BUCKET_BITS)

    @staticmethod
    def split(keys: bytes) -> tuple[np.ndarray, np.ndarray]:
        """Concatenated 16-byte keys -> (hi, lo) native uint64 arrays."""
        a = np.frombuffer(keys, dtype=">u8").reshape(-1, 2).astype(np.uint64)
        return a[:, 0].copy(), a[:, 1].copy()

    @staticmethod
    def _buckets(hi: np.ndarray) -> np.ndarray:
        return (hi >> np.uint64(64 - BUCKET_BITS)).astype(np.intp)

    def find(self, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
        """The ordinal holding each key, or -1."""
        out = np.full(len(hi), -1, np.int64)
        if self.n and len(hi):
            q, k = self.chains.walk(self._buckets(hi))
            same = (self.hi[k] == hi[q]) & (self.lo[k] == lo[q])
            out[q[same]] = k[same]
        return out

    def append(self, hi: np.ndarray, lo: np.ndarray) -> None:
        n = len(hi)
        if not n:
            return
        self.hi = _reserve(self.hi, self.n + n)
        self.lo = _reserve(self.lo, self.n + n)
        self.hi[self.n: self.n + n] = hi
        self.lo[self.n: self.n + n] = lo
        self.chains.link(self._buckets(hi), self.n)
        self.n += n

    def adopt(self, hi: np.ndarray, lo: np.ndarray, n: int) -> None:
        """Take (no copy) arrays whose first ``n`` items are the whole state (a resumed job)."""
        assert self.n == 0
        self.hi, self.lo = hi, lo
        for i in range(0, n, _LINK_CHUNK):
            self.chains.link(self._buckets(hi[i: min(n, i + _LINK_CHUNK)]), i)
        self.n = n


class NearState:
    """Kept phashes, by ordinal, indexed per band (multi-index hashing, see filters/dedup.py)."""

    def __init__(self, max_distance: int) -> None:
        self.max_distance = max_distance
        self.bands, radius = near_bands(max_distance)
        self.n = 0
        self.values = np.zeros(0, np.uint64)
        self.chains = [_Chains(min(width, BUCKET_BITS)) for _, width in self.bands]
        # probe keys of a band key: itself, and (radius >= 1) every single-bit flip of it
        self.flips = [np.array([0, *((1 << b) for b in range(width))] if radius else [0], np.uint64)
                      for _, width in self.bands]

    def _band(self, b: int, vals: np.ndarray) -> np.ndarray:
        start, width = self.bands[b]
        return (vals >> np.uint64(start)) & np.uint64((1 << width) - 1)

    def _buckets(self, b: int, keys: np.ndarray) -> np.ndarray:
        if self.bands[b][1] <= BUCKET_BITS:
            return keys.astype(np.intp)
        return ((keys * _MULT) >> np.uint64(64 - BUCKET_BITS)).astype(np.intp)

    def _link(self, vals: np.ndarray, first: int) -> list[tuple[np.ndarray, np.ndarray]]:
        self.values = _reserve(self.values, first + len(vals))
        self.values[first: first + len(vals)] = vals
        return [ch.link(self._buckets(b, self._band(b, vals)), first) for b, ch in enumerate(self.chains)]

    def search(self, vals: np.ndarray) -> tuple[np.ndarray, dict[int, list[int]]]:
        """For queries ``vals`` (one shard's pending phashes, in plan order): the smallest kept ordinal
        within ``max_distance`` of each (-1: none), and, for each query i, the earlier queries j < i
        within ``max_distance`` (ascending), for the caller's in-shard pass. The queries are linked
        tentatively after the kept ordinals so one probe finds both; the links are undone before
        returning (only the kept ones are appended, by ``append``)."""
        n, base = len(vals), self.n
        saved = self._link(vals, base)
        try:
            qs, ks = [], []
            for b, ch in enumerate(self.chains):
                flips = self.flips[b]
                probes = (self._band(b, vals)[:, None] ^ flips[None, :]).ravel()
                q, k = ch.walk(self._buckets(b, probes))
                qs.append(q // len(flips))
                ks.append(k)
        finally:
            for ch, (starts, old) in zip(self.chains, saved, strict=True):
                ch.unlink(starts, old)
        q, k = np.concatenate(qs), np.concatenate(ks)
        near = np.bitwise_count(self.values[k] ^ vals[q]) <= self.max_distance
        q, k = q[near], k[near]
        best = np.full(n, -1, np.int64)
        old = k < base
        if old.any():
            low = np.full(n, np.iinfo(np.int64).max, np.int64)
            np.minimum.at(low, q[old], k[old])
            best = np.where(low < np.iinfo(np.int64).max, low, -1)
        lq, lj = q[~old], k[~old] - base
        earlier = lj < lq
        lq, lj = lq[earlier], lj[earlier]
        local: dict[int, list[int]] = {}
        if lq.size:
            order = np.lexsort((lj, lq))
            for i, j in zip(lq[order].tolist(), lj[order].tolist(), strict=True):
                got = local.setdefault(i, [])
                if not got or got[-1] != j:
                    got.append(j)
        return best, local

    def append(self, vals: np.ndarray) -> None:
        if len(vals):
            self._link(vals, self.n)
            self.n += len(vals)

    def adopt(self, values: np.ndarray, n: int) -> None:
        """Take (no copy) an array whose first ``n`` items are the whole state (a resumed job)."""
        assert self.n == 0
        self.values = values
        for i in range(0, n, _LINK_CHUNK):  # bounded temporaries
            self._link(values[i: min(n, i + _LINK_CHUNK)], i)
        self.n = n


class Update:
    """What one shard adds to the state (kept entries, in plan order)."""

    def __init__(self, n_hashes: int) -> None:
        self.n_hashes = n_hashes
        self.exact_keys: list[bytes] = []  # 16-byte keys
        self.exact_ids: list[str] = []
        self.other: list[tuple[bytes, str]] = []  # exact keys of another length (not a hex sha256)
        self.near_values = np.zeros(0, np.uint64)
        self.near_ids: list[str] = []


class DedupIndex:
    """Exact + near dedup state (``exact``: exact filter on; ``near``: its max distance or None),
    persisted in ``folder/index.sqlite``. ``applied`` shards (0..applied-1) are in it."""

    def __init__(self, folder: Path, exact: bool, near: int | None) -> None:
        self.path = Path(folder) / INDEX_FILE
        self.exact, self.near_distance = exact, near
        self.config = json.dumps({"schema": SCHEMA, "exact": exact, "near": near})
        self.con: sqlite3.Connection | None = None
        self._open()

    # --- storage -------------------------------------------------------------------------------
    def _open(self) -> None:
        """Open (or create) the index and load its arrays; start afresh if it cannot be trusted."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._connect()
            self._load()
        except (sqlite3.DatabaseError, ValueError) as e:  # corrupt, another schema or other filters
            if isinstance(e, sqlite3.OperationalError) and "locked" in str(e):
                raise  # another connection is writing it: never delete an index in use
            logging.getLogger(__name__).warning("Rebuilding the dedup index %s (%s): replaying the decisions",
                                                self.path, e)
            self.close()
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            self._connect()
            self._load()

    def _connect(self) -> None:
        con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.con = con
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")  # a power loss may drop the last shards: then replayed
        con.execute("PRAGMA cache_size=-8192")  # 8 MB page cache, whatever the index size
        with self._tx():
            con.execute("CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT NOT NULL)")
            con.execute("CREATE TABLE IF NOT EXISTS shards(idx INTEGER PRIMARY KEY, n_hashes INTEGER NOT NULL, "
                        "exact BLOB NOT NULL, near BLOB NOT NULL)")
            con.execute("CREATE TABLE IF NOT EXISTS exact_ids(ord INTEGER PRIMARY KEY, id TEXT NOT NULL)")
            con.execute("CREATE TABLE IF NOT EXISTS near_ids(ord INTEGER PRIMARY KEY, id TEXT NOT NULL)")
            con.execute("CREATE TABLE IF NOT EXISTS exact_other(key BLOB PRIMARY KEY, id TEXT NOT NULL, "
                        "shard INTEGER NOT NULL) WITHOUT ROWID")
            got = con.execute("SELECT v FROM meta WHERE k = 'config'").fetchone()
            if got is None:
                con.execute("INSERT INTO meta VALUES ('config', ?)", (self.config,))
            elif got[0] != self.config:
                raise ValueError(f"index written for {got[0]}")

    def close(self) -> None:
        if self.con is not None:
            self.con.close()
            self.con = None

    @contextlib.contextmanager
    def _tx(self) -> Iterator[None]:
        assert self.con is not None
        self.con.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    def _load(self) -> None:
        """The arrays from the shard rows (checked: contiguous shards, ids matching the counts)."""
        assert self.con is not None
        rows = self.con.execute("SELECT idx, n_hashes, length(exact), length(near) FROM shards ORDER BY idx").fetchall()
        if [r[0] for r in rows] != list(range(len(rows))) or any(r[2] % 16 or r[3] % 8 for r in rows):
            raise ValueError("shard rows are not contiguous")
        self.n_hashes = [r[1] for r in rows]
        n_exact, n_near = sum(r[2] for r in rows) // 16, sum(r[3] for r in rows) // 8
        for table, n in (("exact_ids", n_exact), ("near_ids", n_near)):
            got = self.con.execute(f"SELECT count(*), coalesce(max(ord), -1) FROM {table}").fetchone()  # noqa: S608
            if got != (n, n - 1):
                raise ValueError(f"{table} holds {got[0]} ids for {n} kept inputs")
        self.ex = ExactState()
        self.nr = NearState(self.near_distance) if self.near_distance is not None else None
        # room for the shards to come, so the next ones do not copy the whole state at once
        hi, lo = np.empty(n_exact + n_exact // 4 + 1024, np.uint64), np.empty(n_exact + n_exact // 4 + 1024, np.uint64)
        values = np.empty(n_near + n_near // 4 + 1024 if self.nr is not None else 0, np.uint64)
        e = v = 0
        for ex, nr in self.con.execute("SELECT exact, near FROM shards ORDER BY idx"):
            a = np.frombuffer(ex, ">u8").reshape(-1, 2)
            hi[e: e + len(a)], lo[e: e + len(a)] = a[:, 0], a[:, 1]
            e += len(a)
            if self.nr is not None:
                values[v: v + len(nr) // 8] = np.frombuffer(nr, "<u8")
                v += len(nr) // 8
        self.ex.adopt(hi, lo, n_exact)
        if self.nr is not None:
            self.nr.adopt(values, n_near)
        self.applied = len(rows)

    def truncate(self, n_shards: int) -> None:
        """Forget shards >= n_shards (the index is ahead of the decisions files) and reload."""
        assert self.con is not None
        n_exact, n_near = (self.con.execute("SELECT coalesce(sum(length(exact)), 0) / 16, coalesce(sum(length(near)), "
                                            "0) / 8 FROM shards WHERE idx < ?", (n_shards,)).fetchone())
        with self._tx():
            self.con.execute("DELETE FROM shards WHERE idx >= ?", (n_shards,))
            self.con.execute("DELETE FROM exact_ids WHERE ord >= ?", (n_exact,))
            self.con.execute("DELETE FROM near_ids WHERE ord >= ?", (n_near,))
            self.con.execute("DELETE FROM exact_other WHERE shard >= ?", (n_shards,))
        self._load()

    def _ids(self, table: str, key: str, values: list[Any]) -> dict[Any, str]:
        """``{key: id}`` for ``values`` of ``table``'s ``key`` column, in chunks of at most ``_SQL_CHUNK``
        parameters (SQLite before 3.32 allows 999 per statement)."""
        assert self.con is not None
        out: dict[Any, str] = {}
        for i in range(0, len(values), _SQL_CHUNK):
            part = values[i: i + _SQL_CHUNK]
            out.update(self.con.execute(f"SELECT {key}, id FROM {table} WHERE {key} IN ({','.join('?' * len(part))})",  # noqa: S608
                                        part).fetchall())
        return out

    # --- decisions -----------------------------------------------------------------------------
    def decide(self, hashes: list[list[str]]) -> tuple[dict[str, dict[str, Any]], Update]:
        """One shard's rejections ({id: {reason, detail, duplicate_of}}, in plan order) given the state
        of the shards before it, and the update that ``commit`` applies. The state is not changed."""
        n = len(hashes)
        ids = [h[0] for h in hashes]
        verdict: list[tuple[str, str] | None] = [None] * n
        upd = Update(n)
        pending = list(range(n))
        if self.exact:
            keys = [exact_key(h[1]) for h in hashes]
            first: dict[int, str] = {}  # position -> id of its earlier kept copy (shards before this one)
            wide = [i for i, k in enumerate(keys) if len(k) == 16]
            if wide and self.ex.n:
                hit = self.ex.find(*ExactState.split(b"".join(keys[i] for i in wide)))
                found = [(i, int(o)) for i, o in zip(wide, hit.tolist(), strict=True) if o >= 0]
                names = self._ids("exact_ids", "ord", sorted({o for _, o in found}))
                first.update((i, names[o]) for i, o in found)
            other = [i for i, k in enumerate(keys) if len(k) != 16]
            if other:
                names_b = self._ids("exact_other", "key", sorted({keys[i] for i in other}))
                first.update((i, names_b[keys[i]]) for i in other if keys[i] in names_b)
            local: dict[bytes, str] = {}
            pending = []
            for i in range(n):
                dup = first.get(i)
                if dup is None:
                    dup = local.get(keys[i])
                if dup is not None:
                    verdict[i] = ("duplicate_exact", dup)
                    continue
                local[keys[i]] = ids[i]
                pending.append(i)
                if len(keys[i]) == 16:
                    upd.exact_keys.append(keys[i])
                    upd.exact_ids.append(ids[i])
                else:
                    upd.other.append((keys[i], ids[i]))
        if self.nr is not None and pending:
            vals = np.array([int(hashes[i][2], 16) for i in pending], dtype=np.uint64)
            best, earlier = self.nr.search(vals)
            best_l = best.tolist()
            names = self._ids("near_ids", "ord", sorted({o for o in best_l if o >= 0}))
            kept = [False] * len(pending)
            for q, i in enumerate(pending):
                if best_l[q] >= 0:
                    verdict[i] = ("duplicate_near", names[best_l[q]])
                    continue
                j = next((j for j in earlier.get(q, ()) if kept[j]), None)
                if j is not None:
                    verdict[i] = ("duplicate_near", ids[pending[j]])
                    continue
                kept[q] = True
            upd.near_values = vals[np.array(kept, bool)]
            upd.near_ids = [ids[i] for q, i in enumerate(pending) if kept[q]]
        rejected = {}
        for i in range(n):
            if verdict[i] is not None:
                reason, dup = verdict[i]
                detail = (f"same bytes as {dup}" if reason == "duplicate_exact"
                          else f"phash within {self.near_distance} of {dup}")
                rejected[ids[i]] = {"reason": reason, "detail": detail, "duplicate_of": dup}
        return rejected, upd

    def commit(self, shard: int, upd: Update) -> None:
        """Apply shard ``shard``'s update: one SQLite transaction, then the arrays."""
        assert self.con is not None
        if shard != self.applied:
            raise ValueError(f"dedup index: shard {shard} applied after {self.applied - 1}")
        near = upd.near_values.astype("<u8").tobytes()
        with self._tx():
            self.con.executemany("INSERT INTO exact_ids VALUES (?, ?)", enumerate(upd.exact_ids, self.ex.n))
            if upd.near_ids:
                n0 = self.nr.n if self.nr is not None else 0
                self.con.executemany("INSERT INTO near_ids VALUES (?, ?)", enumerate(upd.near_ids, n0))
            self.con.executemany("INSERT INTO exact_other VALUES (?, ?, ?)", ((k, i, shard) for k, i in upd.other))
            self.con.execute("INSERT INTO shards VALUES (?, ?, ?, ?)",
                             (shard, upd.n_hashes, b"".join(upd.exact_keys), near))
        if upd.exact_keys:
            self.ex.append(*ExactState.split(b"".join(upd.exact_keys)))
        if self.nr is not None:
            self.nr.append(upd.near_values)
        self.n_hashes.append(upd.n_hashes)
        self.applied += 1

    def memory_bytes(self) -> int:
        """Bytes of the in-memory arrays (capacity included; bucket heads counted whole)."""
        arrs = [self.ex.hi, self.ex.lo, self.ex.chains.heads, self.ex.chains.nxt]
        if self.nr is not None:
            arrs += [self.nr.values, *(a for ch in self.nr.chains for a in (ch.heads, ch.nxt))]
        return sum(a.nbytes for a in arrs)
