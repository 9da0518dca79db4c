"""Every SQL statement the queue runs, with `:name` parameters (valid for sqlite3 and apsw)."""

BEGIN_WRITE = "BEGIN IMMEDIATE"  # take the write lock first: seq and chain head read under it
BEGIN_READ = "BEGIN"
COMMIT = "COMMIT"
ROLLBACK = "ROLLBACK"

CHAIN_HEAD = "SELECT last_seq, last_hash, hlc FROM chain_head WHERE id = 1"
SET_CHAIN_HEAD = "UPDATE chain_head SET last_seq = :seq, last_hash = :hash, hlc = :hlc WHERE id = 1"
SET_HLC = "UPDATE chain_head SET hlc = :hlc WHERE id = 1"

RECORD_BY_SALE_ID = "SELECT seq, record FROM sales WHERE sale_id = :sale_id"
INSERT_SALE = (
    "INSERT INTO sales (seq, sale_id, record, hash, amount_minor, currency, customer_id, offline,"
    " created_at) VALUES (:seq, :sale_id, :record, :hash, :amount_minor, :currency,"
    " :customer_id, :offline, :created_at)"
)
INSERT_OUTBOX = "INSERT INTO outbox (seq, state, updated_at) VALUES (:seq, 'pending', :created_at)"

# Rejected sales are settled as far as the kiosk's risk goes: the ledger kept their chain link
# and moved no money for them (the operator sees them), so they no longer count.
OFFLINE_EXPOSURE = (
    "SELECT s.customer_id, count(*), sum(s.amount_minor), min(s.created_at)"
    " FROM outbox o JOIN sales s ON s.seq = o.seq WHERE o.state = 'pending' AND s.offline = 1"
    " GROUP BY s.customer_id"
)
DATA_VERSION = "PRAGMA data_version"  # changes when another connection commits

UNSYNCED_FROM = (
    "SELECT o.seq, o.state, s.record FROM outbox o JOIN sales s ON s.seq = o.seq"
    " WHERE o.state = 'pending' ORDER BY o.seq LIMIT :limit"
)
USED_NONCE = "SELECT sale_id FROM used_token_nonces WHERE nonce_sha256 = :nonce"
INSERT_USED_NONCE = (
    "INSERT INTO used_token_nonces (nonce_sha256, sale_id, expires_at, used_at)"
    " VALUES (:nonce, :sale_id, :expires_at, :now)"
)
OUTBOX_BY_SEQ = (
    "SELECT o.state, s.sale_id FROM outbox o JOIN sales s ON s.seq = o.seq WHERE o.seq = :seq"
)
MARK_RESULT = (
    "UPDATE outbox SET state = :state, ledger_status = :ledger_status, reason = :reason,"
    " settle_later = :settle_later, updated_at = :now WHERE seq = :seq"
)
REQUEUE_REJECTED = "UPDATE outbox SET state = 'pending', updated_at = :now WHERE state = 'rejected'"

BACKLOG = (
    "SELECT count(*), coalesce(sum(s.amount_minor), 0), min(s.created_at),"
    " coalesce(sum(o.state = 'rejected'), 0)"
    " FROM outbox o JOIN sales s ON s.seq = o.seq WHERE o.state != 'synced'"
)
ROWS_FROM = (
    "SELECT s.seq, s.sale_id, s.record, s.hash, s.amount_minor, s.customer_id, s.offline,"
    " o.state, o.ledger_status, o.reason, o.settle_later"
    " FROM sales s LEFT JOIN outbox o ON o.seq = s.seq"
    " WHERE s.seq > :after ORDER BY s.seq LIMIT :limit"
)

GET_STATE = "SELECT value FROM kv WHERE key = :key"
PUT_STATE = (
    "INSERT INTO kv (key, value) VALUES (:key, :value)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
INTEGRITY_CHECK = "PRAGMA integrity_check"
