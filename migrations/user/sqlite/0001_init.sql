-- User service: the balance ledger and the TCC barrier.
-- Per user, balance + reserved + captured only changes through admin funding:
-- try moves balance -> reserved, confirm reserved -> captured, cancel reserved -> balance.
-- Amounts are integer minor units.

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    balance INTEGER NOT NULL,
    reserved INTEGER NOT NULL DEFAULT 0,
    captured INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    CHECK (balance >= 0 AND reserved >= 0 AND captured >= 0)
) STRICT;

-- One row per transaction whose try succeeded: reserved | confirmed | cancelled.
CREATE TABLE balance_reservations (
    transaction_id TEXT NOT NULL PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    amount INTEGER NOT NULL CHECK (amount > 0),
    status TEXT NOT NULL CHECK (status IN ('reserved', 'confirmed', 'cancelled')),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT, WITHOUT ROWID;

CREATE INDEX ix_balance_reservations_user ON balance_reservations (user_id);
CREATE INDEX ix_balance_reservations_status ON balance_reservations (status);

-- One row per (transaction, phase) that took effect. outcome 'blocked' marks a try row written
-- by a cancel that arrived first, so that a late try is refused.
CREATE TABLE tcc_barrier (
    transaction_id TEXT NOT NULL,
    phase TEXT NOT NULL CHECK (phase IN ('try', 'confirm', 'cancel')),
    outcome TEXT NOT NULL CHECK (outcome IN ('applied', 'blocked')),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (transaction_id, phase)
) STRICT, WITHOUT ROWID;

-- Seed data (docs/scenario.md).
INSERT INTO users (id, username, balance) VALUES
    (1, 'alice', 1000),
    (2, 'bob', 500),
    (3, 'charlie', 2000);
