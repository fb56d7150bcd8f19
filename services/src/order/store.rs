//! SQL of the order service: the try phase, what confirm and cancel do to the `products` stock
//! ledger (as a [`tcc::Resource`]; confirm also writes the order), quotes, product creation
//! and ledger totals. Every stock change is one conditional `UPDATE` whose row count is
//! checked, never a read-modify-write.

use sqlx::AnyConnection;

use super::{
    CreatedProduct, Error, Ledger, NewProduct, Product, Quote, QuoteRequest, TryRequest,
    PRODUCTS_PER_REQUEST_MAX,
};
use crate::{
    db::{self, Db},
    tcc::{self, Reply, Totals, RESERVED},
};

/// Longest product name (the column width).
const PRODUCT_NAME_CHARS_MAX: usize = 128;

/// The products' stock, as confirm and cancel see it.
pub(crate) struct Stock;

impl tcc::Resource for Stock {
    const SERVICE: &'static str = "order";
    const RESERVATIONS: &'static str = "stock_reservations";
    const CONFIRMED: &'static str = "confirmed";

    /// `reserved -> sold`, and the order.
    async fn capture(conn: &mut AnyConnection, transaction_id: &str) -> Result<(), tcc::Error> {
        let reservation = shift(conn, transaction_id, "sold = sold + ?").await?;
        sqlx::query(
            "INSERT INTO orders (transaction_id, user_id, product_id, quantity, total_amount) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(transaction_id)
        .bind(reservation.user_id)
        .bind(reservation.product_id)
        .bind(reservation.quantity)
        .bind(reservation.amount)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// `reserved -> available`.
    async fn release(conn: &mut AnyConnection, transaction_id: &str) -> Result<(), tcc::Error> {
        shift(conn, transaction_id, "available = available + ?")
            .await
            .map(drop)
    }
}

#[derive(sqlx::FromRow)]
struct Reservation {
    user_id: i64,
    product_id: i64,
    quantity: i64,
    amount: i64,
}

/// Moves a reservation's quantity out of `reserved` into the column that `add` increments.
async fn shift(
    conn: &mut AnyConnection,
    transaction_id: &str,
    add: &str,
) -> Result<Reservation, tcc::Error> {
    let reservation: Reservation = sqlx::query_as(
        "SELECT user_id, product_id, quantity, amount FROM stock_reservations \
         WHERE transaction_id = ?",
    )
    .bind(transaction_id)
    .fetch_one(&mut *conn)
    .await?;
    let sql = format!(
        "UPDATE products SET reserved = reserved - ?, {add} WHERE id = ? AND reserved >= ?"
    );
    let moved = sqlx::query(&sql)
        .bind(reservation.quantity)
        .bind(reservation.quantity)
        .bind(reservation.product_id)
        .bind(reservation.quantity)
        .execute(conn)
        .await?
        .rows_affected();
    if moved != 1 {
        return Err(tcc::Error::Invariant(
            "a product's reserved stock is below a reservation",
        ));
    }
    Ok(reservation)
}

/// Try: `available -> reserved` if the stock covers it, and a priced reservation row, once.
pub(crate) async fn reserve(db: &Db, request: &TryRequest) -> Result<Reply, Error> {
    if request.quantity < 1 {
        return Err(Error::InvalidQuantity);
    }
    db::retrying(db, || reserve_once(db, request)).await
}

async fn reserve_once(db: &Db, request: &TryRequest) -> Result<Reply, Error> {
    let id = &request.transaction_id;
    let Some(mut tx) = tcc::open_try(db, id).await? else {
        return Ok(Reply::replayed(id, RESERVED));
    };
    let (product_id, quantity) = (request.product_id, request.quantity);
    // Prices never change, so reading one is not a read-modify-write.
    let amount = priced(unit_price(&mut tx, product_id).await?, quantity)?;
    // Update before inserting the reservation: its foreign key takes a shared lock on the
    // product row, and holding that before asking for the exclusive one lets two tries deadlock.
    let moved = sqlx::query(
        "UPDATE products SET available = available - ?, reserved = reserved + ? \
         WHERE id = ? AND available >= ?",
    )
    .bind(quantity)
    .bind(quantity)
    .bind(product_id)
    .bind(quantity)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if moved == 0 {
        return Err(Error::OutOfStock {
            product_id,
            quantity,
        });
    }
    sqlx::query(
        "INSERT INTO stock_reservations \
         (transaction_id, user_id, product_id, quantity, amount, status) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(id.as_str())
    .bind(request.user_id)
    .bind(product_id)
    .bind(quantity)
    .bind(amount)
    .bind(RESERVED)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Reply::new(id, RESERVED))
}

async fn unit_price(conn: &mut AnyConnection, product_id: i64) -> Result<i64, Error> {
    sqlx::query_scalar("SELECT price FROM products WHERE id = ?")
        .bind(product_id)
        .fetch_optional(conn)
        .await?
        .ok_or(Error::UnknownProduct(product_id))
}

/// `unit_price * quantity`, refused when it overflows.
fn priced(unit_price: i64, quantity: i64) -> Result<i64, Error> {
    unit_price
        .checked_mul(quantity)
        .ok_or(Error::InvalidQuantity)
}

/// Prices a purchase without reserving anything.
pub(crate) async fn quote(db: &Db, request: &QuoteRequest) -> Result<Quote, Error> {
    if request.quantity < 1 {
        return Err(Error::InvalidQuantity);
    }
    let mut conn = db.pool().acquire().await?;
    let unit_price = unit_price(&mut conn, request.product_id).await?;
    let amount = priced(unit_price, request.quantity)?;
    Ok(Quote {
        unit_price,
        quantity: request.quantity,
        amount,
    })
}

/// Creates products in one transaction: all of them or none.
pub(crate) async fn create_products(
    db: &Db,
    products: &[NewProduct],
) -> Result<Vec<CreatedProduct>, Error> {
    if products.is_empty() || products.len() > PRODUCTS_PER_REQUEST_MAX {
        return Err(Error::BatchSize);
    }
    let valid = |product: &NewProduct| {
        let name_chars = product.name.chars().count();
        (1..=PRODUCT_NAME_CHARS_MAX).contains(&name_chars)
            && product.price >= 0
            && product.stock >= 0
    };
    if !products.iter().all(valid) {
        return Err(Error::InvalidProduct);
    }
    db::retrying(db, || create_products_once(db, products)).await
}

async fn create_products_once(
    db: &Db,
    products: &[NewProduct],
) -> Result<Vec<CreatedProduct>, Error> {
    let mut tx = db.begin().await?;
    let mut created = Vec::with_capacity(products.len());
    for product in products {
        let insert = sqlx::query("INSERT INTO products (name, price, available) VALUES (?, ?, ?)")
            .bind(product.name.as_str())
            .bind(product.price)
            .bind(product.stock);
        let id = db::insert_returning_id(&mut tx, insert).await?;
        created.push(CreatedProduct {
            id,
            name: product.name.clone(),
        });
    }
    tx.commit().await?;
    Ok(created)
}

/// Ledger totals from one snapshot.
pub(crate) async fn ledger(db: &Db) -> Result<Ledger, Error> {
    let mut conn = db.pool().acquire().await?;
    let mut tx = db.begin_snapshot(&mut conn).await?;
    let (products, available, reserved, sold): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), CAST(COALESCE(SUM(available), 0) AS SIGNED), \
         CAST(COALESCE(SUM(reserved), 0) AS SIGNED), CAST(COALESCE(SUM(sold), 0) AS SIGNED) \
         FROM products",
    )
    .fetch_one(&mut *tx)
    .await?;
    let statuses = [RESERVED, "confirmed", tcc::CANCELLED];
    let reservations = tcc::totals_by_status(&mut tx, "stock_reservations", statuses).await?;
    let (count, amount): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), CAST(COALESCE(SUM(total_amount), 0) AS SIGNED) FROM orders",
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Ledger {
        products,
        available,
        reserved,
        sold,
        reservations,
        orders: Totals { count, amount },
    })
}

/// One product's stock ledger row.
pub(crate) async fn product(db: &Db, id: i64) -> Result<Product, Error> {
    let row: Option<(String, i64, i64, i64, i64)> =
        sqlx::query_as("SELECT name, price, available, reserved, sold FROM products WHERE id = ?")
            .bind(id)
            .fetch_optional(db.pool())
            .await?;
    let (name, price, available, reserved, sold) = row.ok_or(Error::UnknownProduct(id))?;
    Ok(Product {
        id,
        name,
        price,
        available,
        reserved,
        sold,
    })
}
