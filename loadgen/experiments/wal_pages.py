#!/usr/bin/env python3
"""Log pages a group commit writes per message, by index layout (§4t of
docs/benchmarks.md).

Not a benchmark of Switchboard: a model of its `messages` table in the
system's SQLite, to see which index costs how many write-ahead-log pages
when one group commit holds one message from each of many conversations.
Each layout gets 200 conversations with 50 messages of history, then
150 groups of G messages (G random conversations each); the log's growth
over the groups, in 4 KiB pages, is divided by the messages.

    python3 loadgen/experiments/wal_pages.py            # G = 200 and 20
"""

import hashlib
import os
import random
import sqlite3
import tempfile
import uuid

COLS = (
    "id INTEGER PRIMARY KEY, conversation_id INTEGER NOT NULL, seq INTEGER NOT NULL, "
    "client_msg_id TEXT, sender_kind TEXT NOT NULL, sender_id INTEGER, sender_name TEXT, "
    "text TEXT NOT NULL, attachments TEXT NOT NULL, created_at TEXT NOT NULL, key_hash INTEGER"
)
TABLE = f"CREATE TABLE messages({COLS})"
CLUSTERED = (
    f"CREATE TABLE messages({COLS.replace('id INTEGER PRIMARY KEY', 'id INTEGER NOT NULL')}, "
    "PRIMARY KEY(conversation_id, seq)) WITHOUT ROWID"
)
SEQ = "CREATE UNIQUE INDEX s ON messages(conversation_id, seq)"
# Migration 42's idempotence index, as landed.
IDEM = (
    "CREATE UNIQUE INDEX k ON messages"
    "(conversation_id, client_msg_id, sender_kind, COALESCE(sender_id, 0))"
)
LAYOUTS = [
    ("as landed: seq + idempotence", [TABLE, SEQ, IDEM]),
    ("seq index only (lower bound)", [TABLE, SEQ]),
    ("seq + (conversation, 64-bit hash)", [TABLE, SEQ, "CREATE INDEX h ON messages(conversation_id, key_hash)"]),
    ("one index (conversation, seq, hash)", [TABLE, "CREATE UNIQUE INDEX s ON messages(conversation_id, seq, key_hash)"]),
    ("clustered by (conversation, seq)", [CLUSTERED, "CREATE UNIQUE INDEX i ON messages(id)", IDEM]),
]


def pages_per_message(schema, ids, group, conversations=200, history=50, groups=150):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.db")
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA wal_autocheckpoint=0")
        for s in schema:
            db.execute(s)
        seq = {c: 0 for c in range(1, conversations + 1)}
        rng = random.Random(1)
        next_id = 0

        def insert(c):
            nonlocal next_id
            seq[c] += 1
            next_id += 1
            if ids == "uuid":  # the widget's keys
                key = "w-" + str(uuid.UUID(int=rng.getrandbits(128)))
            else:  # loadgen's keys
                key = f"c{c}-{seq[c]}"
            digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
            db.execute(
                "INSERT INTO messages VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (next_id, c, seq[c], key, "customer", c, "Ana",
                 f"hello there, this is message {seq[c]}", "[]",
                 "2026-12-08T00:00:00.000000000Z", int.from_bytes(digest, "big", signed=True)),
            )

        db.execute("BEGIN")
        for _ in range(history):
            for c in seq:
                insert(c)
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        before = os.path.getsize(path + "-wal")
        for _ in range(groups):
            db.execute("BEGIN")
            for c in rng.sample(list(seq), group):
                insert(c)
            db.execute("COMMIT")
        grown = os.path.getsize(path + "-wal") - before
        db.close()
        return grown / (4096 + 24) / (groups * group)


if __name__ == "__main__":
    print(f"SQLite {sqlite3.sqlite_version}; log pages per message")
    print(f"{'layout':38s} {'keys':5s} {'G=200':>6s} {'G=20':>6s}")
    for name, schema in LAYOUTS:
        for ids in ("uuid", "seq"):
            a = pages_per_message(schema, ids, 200)
            b = pages_per_message(schema, ids, 20)
            print(f"{name:38s} {ids:5s} {a:6.2f} {b:6.2f}")
