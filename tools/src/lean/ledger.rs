//! The lean participant's ledger (`GET /admin/ledger`) and its checks. Per step: what the
//! resources' rows hold (`available`, `taken`) and the try rows by state. Pure checks: a step
//! agrees with itself when what its rows have taken is exactly what its open and confirmed
//! tries hold; a whole run agrees with its workflows when, once every workflow has ended,
//! nothing is left reserved and every completed purchase confirmed each step once.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Count and amount of try rows in one state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub count: i64,
    pub amount: i64,
}

/// One step's books.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepLedger {
    /// Balance or stock left over all rows (0 for cards, which hold no limit).
    pub available: i64,
    /// What tries have taken from the rows and no cancel gave back.
    pub taken: i64,
    pub reserved: Totals,
    pub confirmed: Totals,
    pub cancelled: Totals,
    /// Try rows written by a cancel that came first.
    pub blocked: i64,
}

impl StepLedger {
    /// Why the step disagrees with itself, if it does.
    pub fn problem(&self) -> Option<String> {
        let held = self.reserved.amount + self.confirmed.amount;
        (self.taken != held).then(|| {
            format!(
                "taken {} but reserved + confirmed tries hold {held}",
                self.taken
            )
        })
    }
}

/// The three steps' books, keyed `balance`, `payment`, `stock`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    #[serde(flatten)]
    pub steps: BTreeMap<String, StepLedger>,
}

impl Ledger {
    /// Every disagreement: each step with itself and, with `completed`, with the purchases
    /// that completed (each confirmed every step exactly once, and nothing stays reserved).
    /// Empty when the books are right.
    pub fn problems(&self, completed: Option<i64>) -> Vec<String> {
        let mut problems = Vec::new();
        for step in ["balance", "payment", "stock"] {
            let Some(s) = self.steps.get(step) else {
                problems.push(format!("{step}: missing"));
                continue;
            };
            problems.extend(s.problem().map(|p| format!("{step}: {p}")));
            let Some(completed) = completed else {
                continue;
            };
            if s.confirmed.count != completed {
                problems.push(format!(
                    "{step}: {} confirmed tries for {completed} completed purchases",
                    s.confirmed.count
                ));
            }
            if s.reserved.count != 0 {
                problems.push(format!(
                    "{step}: {} tries still reserved after every purchase ended",
                    s.reserved.count
                ));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(taken: i64, reserved: (i64, i64), confirmed: (i64, i64)) -> StepLedger {
        StepLedger {
            available: 1000,
            taken,
            reserved: Totals {
                count: reserved.0,
                amount: reserved.1,
            },
            confirmed: Totals {
                count: confirmed.0,
                amount: confirmed.1,
            },
            cancelled: Totals {
                count: 2,
                amount: 20,
            },
            blocked: 1,
        }
    }

    fn ledger(balance: StepLedger) -> Ledger {
        let mut steps = BTreeMap::new();
        steps.insert("balance".to_owned(), balance);
        steps.insert("payment".to_owned(), step(50, (0, 0), (5, 50)));
        steps.insert("stock".to_owned(), step(5, (0, 0), (5, 5)));
        Ledger { steps }
    }

    #[test]
    fn books_that_add_up_have_no_problem() {
        let l = ledger(step(50, (0, 0), (5, 50)));
        assert!(l.problems(Some(5)).is_empty(), "{:?}", l.problems(Some(5)));
        assert!(l.problems(None).is_empty());
    }

    #[test]
    fn taken_that_no_try_holds_is_a_problem() {
        let l = ledger(step(60, (0, 0), (5, 50)));
        assert_eq!(
            l.problems(None),
            ["balance: taken 60 but reserved + confirmed tries hold 50"]
        );
    }

    #[test]
    fn open_reservations_and_missing_confirms_after_the_run_are_problems() {
        let l = ledger(step(60, (1, 10), (5, 50)));
        assert!(l.problems(None).is_empty(), "consistent while running");
        let found = l.problems(Some(6));
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(found[0].starts_with("balance: 5 confirmed tries for 6"));
        assert!(found[1].starts_with("balance: 1 tries still reserved"));
        assert!(found[2].starts_with("payment: 5 confirmed tries for 6"));
    }

    #[test]
    fn the_wire_shape_is_one_object_per_step() {
        let l = ledger(step(50, (0, 0), (5, 50)));
        let json = serde_json::to_value(&l).unwrap();
        assert_eq!(json["balance"]["confirmed"]["amount"], 50);
        assert_eq!(json["stock"]["blocked"], 1);
        let back: Ledger = serde_json::from_value(json).unwrap();
        assert_eq!(back, l);
    }
}
