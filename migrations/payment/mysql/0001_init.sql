-- Payment service: payment methods, one payment row per transaction, and the TCC barrier.
-- A payment goes reserved (try) -> executed (confirm) or reserved -> cancelled (cancel).
-- Amounts are integer minor units.

-- Which user owns which payment method. Users live in the user service's database, so
-- user_id carries no foreign key.
CREATE TABLE payment_methods (
    id BIGINT NOT NULL AUTO_INCREMENT,
    user_id BIGINT NOT NULL,
    method_type VARCHAR(32) NOT NULL,
    method_details VARCHAR(255) NOT NULL DEFAULT '',
    created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (id),
    KEY ix_payment_methods_user (user_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- One row per transaction whose try succeeded: reserved | executed | cancelled.
CREATE TABLE payment_transactions (
    transaction_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    user_id BIGINT NOT NULL,
    payment_method_id BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    status VARCHAR(16) NOT NULL,
    created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (transaction_id),
    KEY ix_payment_transactions_status (status),
    CONSTRAINT fk_payment_transactions_method FOREIGN KEY (payment_method_id)
        REFERENCES payment_methods (id),
    CONSTRAINT ck_payment_transactions_amount CHECK (amount > 0),
    CONSTRAINT ck_payment_transactions_status CHECK (status IN ('reserved', 'executed', 'cancelled'))
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

-- Seed data (docs/scenario.md): payment methods 1..3 owned by users 1..3.
INSERT INTO payment_methods (id, user_id, method_type, method_details) VALUES
    (1, 1, 'credit_card', 'alice: card ending 1111'),
    (2, 2, 'credit_card', 'bob: card ending 2222'),
    (3, 3, 'bank_transfer', 'charlie: account ending 3333');
