"""The SQL statements of :class:`~.base.SqlStore`, in the ``?`` placeholder style, with the
dialect's ``{now}`` clock expression to be filled in by :func:`~.migrations.render`. Every
value is a bound parameter; the only text spliced in is the dialect's."""

from __future__ import annotations

FENCE = (
    "UPDATE vibe_leases SET heartbeat = {now}, expires_at = {now} + ? "
    "WHERE plan_id = ? AND token = ? AND expires_at > {now}"
)
FENCE_TOP = FENCE + " RETURNING (SELECT MAX(seq) FROM vibe_entries WHERE plan_id = ?)"
HOLDER = "SELECT owner, token, expires_at, {now} FROM vibe_leases WHERE plan_id = ?"
ACQUIRE = (
    "INSERT INTO vibe_leases (plan_id, owner, token, expires_at, heartbeat) "
    "VALUES (?, ?, 1, {now} + ?, {now}) "
    "ON CONFLICT (plan_id) DO UPDATE SET owner = excluded.owner, "
    "token = vibe_leases.token + 1, expires_at = excluded.expires_at, "
    "heartbeat = excluded.heartbeat WHERE vibe_leases.expires_at <= {now} RETURNING token"
)
RELEASE = "UPDATE vibe_leases SET expires_at = 0 WHERE plan_id = ? AND token = ?"
PUT_SNAPSHOT = (
    "INSERT INTO vibe_snapshots (plan_id, checkpoint_id, data, written_at) "
    "VALUES (?, ?, ?, {now}) ON CONFLICT (plan_id, checkpoint_id) "
    "DO UPDATE SET data = excluded.data, written_at = excluded.written_at"
)
GET_SNAPSHOT = "SELECT plan_id, data FROM vibe_snapshots WHERE checkpoint_id = ?"
SNAPSHOT_IDS = "SELECT checkpoint_id FROM vibe_snapshots WHERE plan_id = ?"
DELETE_SNAPSHOT = "DELETE FROM vibe_snapshots WHERE plan_id = ? AND checkpoint_id = ?"
PUT_ENTRY = "INSERT INTO vibe_entries (plan_id, seq, line) VALUES (?, ?, ?)"
GET_ENTRIES = "SELECT seq, line FROM vibe_entries WHERE plan_id = ? AND seq > ? ORDER BY seq"
SAME_ENTRIES = (
    "SELECT seq, line FROM vibe_entries WHERE plan_id = ? AND seq >= ? AND seq <= ? ORDER BY seq"
)
TRIM = (
    "DELETE FROM vibe_entries WHERE plan_id = ? AND seq <= ? "
    "AND seq < (SELECT MAX(seq) FROM vibe_entries WHERE plan_id = ?)"
)
TAIL = "SELECT seq FROM vibe_entries WHERE plan_id = ? AND seq > ? ORDER BY seq"
SET_ASIDE = (
    "INSERT INTO vibe_discarded_entries (plan_id, seq, line, discarded_at) "
    "SELECT plan_id, seq, line, {now} FROM vibe_entries WHERE plan_id = ? AND seq > ?"
)
DROP_TAIL = "DELETE FROM vibe_entries WHERE plan_id = ? AND seq > ?"
PLANS = (
    "SELECT plan_id FROM vibe_snapshots UNION SELECT plan_id FROM vibe_entries "
    "UNION SELECT plan_id FROM vibe_discarded_entries UNION SELECT plan_id FROM vibe_blobs"
)
PLAN_TABLES = ("vibe_snapshots", "vibe_entries", "vibe_discarded_entries", "vibe_blobs")

# PostgreSQL: one journal entry in one statement (run in autocommit: one round trip). The
# fence renews the lease or finds nothing; the insert happens only when the fence held and the
# seq is above the highest stored; the answer says which (renewed, highest seq, inserted).
APPEND_ONE = (
    "WITH fence AS (UPDATE vibe_leases SET heartbeat = {now}, expires_at = {now} + ? "
    "WHERE plan_id = ? AND token = ? AND expires_at > {now} RETURNING 1 AS ok), "
    "top AS (SELECT MAX(seq) AS seq FROM vibe_entries WHERE plan_id = ?), "
    "ins AS (INSERT INTO vibe_entries (plan_id, seq, line) "
    "SELECT ?::text, ?::bigint, ?::bytea FROM fence, top "
    "WHERE top.seq IS NULL OR top.seq < ?::bigint RETURNING 1 AS ok) "
    "SELECT (SELECT COUNT(*) FROM fence), (SELECT seq FROM top), (SELECT COUNT(*) FROM ins)"
)
