-- Order service: products with their stock ledger, stock reservations, orders, and the TCC
-- barrier. Per product, available + reserved + sold only changes through admin stocking:
-- try moves available -> reserved, confirm reserved -> sold (and creates the order),
-- cancel reserved -> available. Prices and amounts are integer minor units.

CREATE TABLE products (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    price INTEGER NOT NULL,
    available INTEGER NOT NULL,
    reserved INTEGER NOT NULL DEFAULT 0,
    sold INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    CHECK (price >= 0 AND available >= 0 AND reserved >= 0 AND sold >= 0)
) STRICT;

-- One row per transaction whose try succeeded: reserved | confirmed | cancelled. amount is the
-- price of the reserved quantity when the try ran.
CREATE TABLE stock_reservations (
    transaction_id TEXT NOT NULL PRIMARY KEY,
    user_id INTEGER NOT NULL,
    product_id INTEGER NOT NULL REFERENCES products (id),
    quantity INTEGER NOT NULL,
    amount INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('reserved', 'confirmed', 'cancelled')),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    CHECK (quantity > 0 AND amount >= 0)
) STRICT, WITHOUT ROWID;

CREATE INDEX ix_stock_reservations_status ON stock_reservations (status);

-- One order per confirmed transaction.
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    transaction_id TEXT NOT NULL UNIQUE,
    user_id INTEGER NOT NULL,
    product_id INTEGER NOT NULL REFERENCES products (id),
    quantity INTEGER NOT NULL,
    total_amount INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'confirmed',
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

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
INSERT INTO products (id, name, price, available) VALUES (1, 'Bitcoin', 100, 10);
