-- Payment service: payment methods, one payment row per transaction, and the TCC barrier.
-- A payment goes reserved (try) -> executed (confirm) or reserved -> cancelled (cancel).
-- Amounts are integer minor units.

-- Which user owns which payment method. Users live in the user service's database, so
-- user_id carries no foreign key.
CREATE TABLE payment_methods (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL,
    method_type TEXT NOT NULL,
    method_details TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE INDEX ix_payment_methods_user ON payment_methods (user_id);

-- One row per transaction whose try succeeded: reserved | executed | cancelled.
CREATE TABLE payment_transactions (
    transaction_id TEXT NOT NULL PRIMARY KEY,
    user_id INTEGER NOT NULL,
    payment_method_id INTEGER NOT NULL REFERENCES payment_methods (id),
    amount INTEGER NOT NULL CHECK (amount > 0),
    status TEXT NOT NULL CHECK (status IN ('reserved', 'executed', 'cancelled')),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT, WITHOUT ROWID;

CREATE INDEX ix_payment_transactions_status ON payment_transactions (status);

-- One row per (transaction, phase) that took effect. outcome 'blocked' marks a try row written
-- by a cancel that arrived first, so that a late try is refused.
CREATE TABLE tcc_barrier (
    transaction_id TEXT NOT NULL,
    phase TEXT NOT NULL CHECK (phase IN ('try', 'confirm', 'cancel')),
    outcome TEXT NOT NULL CHECK (outcome IN ('applied', 'blocked')),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (transaction_id, phase)
) STRICT, WITHOUT ROWID;

-- Seed data (docs/scenario.md): payment methods 1..3 owned by users 1..3.
INSERT INTO payment_methods (id, user_id, method_type, method_details) VALUES
    (1, 1, 'credit_card', 'alice: card ending 1111'),
    (2, 2, 'credit_card', 'bob: card ending 2222'),
    (3, 3, 'bank_transfer', 'charlie: account ending 3333');
