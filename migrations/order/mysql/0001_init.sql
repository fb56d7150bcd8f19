-- Order service: products with their stock ledger, stock reservations, orders, and the TCC
-- barrier. Per product, available + reserved + sold only changes through admin stocking:
-- try moves available -> reserved, confirm reserved -> sold (and creates the order),
-- cancel reserved -> available. Prices and amounts are integer minor units.

CREATE TABLE products (
    id BIGINT NOT NULL AUTO_INCREMENT,
    name VARCHAR(128) NOT NULL,
    price BIGINT NOT NULL,
    available BIGINT NOT NULL,
    reserved BIGINT NOT NULL DEFAULT 0,
    sold BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (id),
    CONSTRAINT ck_products_ledger CHECK (price >= 0 AND available >= 0 AND reserved >= 0 AND sold >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- One row per transaction whose try succeeded: reserved | confirmed | cancelled. amount is the
-- price of the reserved quantity when the try ran.
CREATE TABLE stock_reservations (
    transaction_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    user_id BIGINT NOT NULL,
    product_id BIGINT NOT NULL,
    quantity BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    status VARCHAR(16) NOT NULL,
    created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (transaction_id),
    KEY ix_stock_reservations_status (status),
    CONSTRAINT fk_stock_reservations_product FOREIGN KEY (product_id) REFERENCES products (id),
    CONSTRAINT ck_stock_reservations_quantity CHECK (quantity > 0 AND amount >= 0),
    CONSTRAINT ck_stock_reservations_status CHECK (status IN ('reserved', 'confirmed', 'cancelled'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- One order per confirmed transaction.
CREATE TABLE orders (
    id BIGINT NOT NULL AUTO_INCREMENT,
    transaction_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    user_id BIGINT NOT NULL,
    product_id BIGINT NOT NULL,
    quantity BIGINT NOT NULL,
    total_amount BIGINT NOT NULL,
    status VARCHAR(16) NOT NULL DEFAULT 'confirmed',
    created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (id),
    UNIQUE KEY uq_orders_transaction (transaction_id),
    CONSTRAINT fk_orders_product FOREIGN KEY (product_id) REFERENCES products (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- One row per (transaction, phase) that took effect. outcome 'blocked' marks a try row written
-- by a cancel that arrived first, so that a late try is refused.
CREATE TABLE tcc_barrier (
    transaction_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    phase VARCHAR(8) NOT NULL,
    outcome VARCHAR(8) NOT NULL,
    created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (transaction_id, phase),
    CONSTRAINT ck_tcc_barrier_phase CHECK (phase IN ('try', 'confirm', 'cancel')),
    CONSTRAINT ck_tcc_barrier_outcome CHECK (outcome IN ('applied', 'blocked'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Seed data (docs/scenario.md).
INSERT INTO products (id, name, price, available) VALUES (1, 'Bitcoin', 100, 10);
