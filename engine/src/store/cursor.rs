//! Where a workflow stands, read back from its journal: the activity it is at (the cursor),
//! the outputs so far, and the attempts its current activity has made.
//!
//! Nothing of this is written per step. A journal row is written once, when its activity is
//! done, and names the activity that follows (`next_*`); the last row (actions run forward,
//! then compensations backward) therefore names the current one. A workflow with no row yet
//! is at its first step. Read only when a worker takes a workflow over, and by the reads.

use super::db::{padded_list, Row, Tx};
use super::{parse_name, Result};
use kernel::model::ActivityKind;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// The activity a workflow is at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Cursor {
    pub step: u32,
    pub kind: ActivityKind,
    pub name: String,
    /// Its budget as the journal wrote it (the policy's), unless an operator's retry raised it.
    pub max_attempts: u32,
}

/// A workflow's journal, summed up.
#[derive(Debug, Clone, Default)]
pub(super) struct Standing {
    /// `None` when the last row names nothing: the workflow ended.
    pub cursor: Option<Cursor>,
    /// Whether the journal has any row.
    pub started: bool,
    /// Every successful action's answer, by step name.
    pub outputs: BTreeMap<String, Value>,
    /// When the last row was written (DB time).
    pub last_finished_at: Option<i64>,
}

/// Sort key of a journal row in the order the activities ran.
pub(super) fn order(step: u32, kind: ActivityKind) -> (u8, i64) {
    match kind {
        ActivityKind::Action => (0, i64::from(step)),
        ActivityKind::Compensation => (1, -i64::from(step)),
    }
}

/// The first activity of a workflow with no journal row: what the workflow row holds.
pub(super) fn first(row: &Row) -> Result<Cursor> {
    Ok(Cursor {
        step: 0,
        kind: ActivityKind::Action,
        name: row.text("current_name")?,
        max_attempts: row.opt_int("budget_max")?.unwrap_or(1) as u32,
    })
}

/// The standing of each workflow in `ids` (by id as text); `first` gives a workflow with no
/// row its first activity.
pub(super) async fn standings(
    tx: &mut Tx<'_>,
    ids: &[String],
    first: &HashMap<String, Cursor>,
) -> Result<HashMap<String, Standing>> {
    let mut out: HashMap<String, Standing> = ids
        .iter()
        .map(|id| {
            let s = Standing {
                cursor: first.get(id).cloned(),
                ..Standing::default()
            };
            (id.clone(), s)
        })
        .collect();
    if ids.is_empty() {
        return Ok(out);
    }
    let (list, list_args) = padded_list(ids);
    let rows = tx
        .fetch_all(
            &format!(
                "SELECT workflow_id, step, kind, name, status, response, finished_at, next_step, next_kind, \
                 next_name, next_max_attempts FROM activities WHERE workflow_id IN ({list})"
            ),
            list_args,
        )
        .await?;
    let mut last: HashMap<String, ((u8, i64), &Row)> = HashMap::new();
    for row in &rows {
        let id = row.text("workflow_id")?;
        let step = row.int("step")? as u32;
        let kind = parse_name(&row.text("kind")?, ActivityKind::parse, "activity kind")?;
        let standing = out.entry(id.clone()).or_default();
        standing.started = true;
        if kind == ActivityKind::Action && row.text("status")? == "succeeded" {
            if let Some(text) = row.opt_text("response")? {
                standing.outputs.insert(
                    row.text("name")?,
                    super::parse_json(&text, "activity response")?,
                );
            }
        }
        let key = order(step, kind);
        if last.get(&id).is_none_or(|(k, _)| key > *k) {
            last.insert(id, (key, row));
        }
    }
    for (id, (_, row)) in last {
        let standing = out.entry(id).or_default();
        standing.last_finished_at = row.opt_int("finished_at")?;
        standing.cursor = match row.opt_int("next_step")? {
            Some(step) => Some(Cursor {
                step: step as u32,
                kind: parse_name(
                    &row.opt_text("next_kind")?.unwrap_or_default(),
                    ActivityKind::parse,
                    "activity kind",
                )?,
                name: row.opt_text("next_name")?.unwrap_or_default(),
                max_attempts: row.opt_int("next_max_attempts")?.unwrap_or(1) as u32,
            }),
            None => None,
        };
    }
    Ok(out)
}

/// The highest attempt number in each activity's history, by (workflow id, step, kind): the
/// attempts an activity that is not done yet has made.
pub(super) async fn attempts_made(
    tx: &mut Tx<'_>,
    ids: &[String],
) -> Result<HashMap<(String, u32, ActivityKind), u32>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let (list, list_args) = padded_list(ids);
    let rows = tx
        .fetch_all(
            &format!(
                "SELECT workflow_id, step, kind, MAX(attempt) AS made FROM attempts WHERE workflow_id IN ({list}) \
                 GROUP BY workflow_id, step, kind"
            ),
            list_args,
        )
        .await?;
    rows.iter()
        .map(|r| {
            let kind = parse_name(&r.text("kind")?, ActivityKind::parse, "activity kind")?;
            Ok((
                (r.text("workflow_id")?, r.int("step")? as u32, kind),
                r.int("made")? as u32,
            ))
        })
        .collect()
}

/// The budget of `cursor`: an operator's retry (on the workflow row, for that activity) or
/// the journal's.
pub(super) fn budget(row: &Row, cursor: &Cursor) -> Result<u32> {
    let raised = match (row.opt_int("budget_step")?, row.opt_text("budget_kind")?) {
        (Some(step), Some(kind)) => step as u32 == cursor.step && kind == cursor.kind.as_str(),
        _ => false,
    };
    Ok(match row.opt_int("budget_max")? {
        Some(max) if raised => max as u32,
        _ => cursor.max_attempts,
    })
}

/// The attempt a lease at `made` attempts runs (none left: the last one again) and whether
/// it is exhausted.
pub(super) fn next_attempt(made: u32, max_attempts: u32) -> (u32, bool) {
    if made >= max_attempts {
        (made, true)
    } else {
        (made + 1, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_order_runs_actions_forward_then_compensations_backward() {
        let mut keys = vec![
            order(2, ActivityKind::Compensation),
            order(3, ActivityKind::Action),
            order(0, ActivityKind::Action),
            order(0, ActivityKind::Compensation),
            order(1, ActivityKind::Action),
        ];
        keys.sort();
        assert_eq!(
            keys,
            vec![
                order(0, ActivityKind::Action),
                order(1, ActivityKind::Action),
                order(3, ActivityKind::Action),
                order(2, ActivityKind::Compensation),
                order(0, ActivityKind::Compensation),
            ]
        );
    }

    #[test]
    fn an_exhausted_budget_repeats_the_last_attempt() {
        assert_eq!(next_attempt(0, 3), (1, false));
        assert_eq!(next_attempt(2, 3), (3, false));
        assert_eq!(next_attempt(3, 3), (3, true));
        assert_eq!(next_attempt(4, 3), (4, true));
    }
}
