-- User service: the balance ledger and the TCC barrier.
-- Per user, balance + reserved + captured only changes through admin funding:
-- try moves balance -> reserved, confirm reserved -> captured, cancel reserved -> balance.
-- Amounts are integer minor units.

CREATE TABLE users (
    id BIGINT NOT NULL AUTO_INCREMENT,
    username VARCHAR(64) NOT NULL,
    balance BIGINT NOT NULL,
    reserved BIGINT NOT NULL DEFAULT 0,
    captured BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (id),
    UNIQUE KEY uq_users_username (username),
    CONSTRAINT ck_users_ledger CHECK (balance >= 0 AND reserved >= 0 AND captured >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- One row per transaction whose try succeeded: reserved | confirmed | cancelled.
CREATE TABLE balance_reservations (
    transaction_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    user_id BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    status VARCHAR(16) NOT NULL,
    created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (transaction_id),
    KEY ix_balance_reservations_user (user_id),
    KEY ix_balance_reservations_status (status),
    CONSTRAINT fk_balance_reservations_user FOREIGN KEY (user_id) REFERENCES users (id),
    CONSTRAINT ck_balance_reservations_amount CHECK (amount > 0),
    CONSTRAINT ck_balance_reservations_status CHECK (status IN ('reserved', 'confirmed', 'cancelled'))
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
INSERT INTO users (id, username, balance) VALUES
    (1, 'alice', 1000),
    (2, 'bob', 500),
    (3, 'charlie', 2000);
