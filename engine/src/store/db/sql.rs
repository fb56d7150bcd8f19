//! The pure SQL builders of batch statements: placeholder lists, multi-row tuples, and
//! `IN` lists and `CASE` updates padded to a power of two rows (a few statement shapes for
//! the prepared-statement cache).

use super::Arg;

/// `?, ?, ?` with `n` placeholders.
pub fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// `(?, ?), (?, ?)`: `rows` groups of `width` placeholders, for multi-row statements.
pub fn tuples(rows: usize, width: usize) -> String {
    let one = format!("({})", placeholders(width));
    vec![one; rows].join(", ")
}

/// Size a list of `n` values is padded to: the next power of two, so statements whose size
/// follows the batch come in a few shapes and stay in the prepared-statement cache.
pub(super) fn padded_len(n: usize) -> usize {
    n.next_power_of_two()
}

/// `?, ?, …` and its values for an `IN (…)` list, padded by repeating the last value (which
/// changes nothing an `IN` list means).
pub fn padded_list(values: &[String]) -> (String, Vec<Arg>) {
    assert!(!values.is_empty(), "an IN list needs a value");
    let n = padded_len(values.len());
    let args = (0..n)
        .map(|i| Arg::Text(values[i.min(values.len() - 1)].clone()))
        .collect();
    (placeholders(n), args)
}

/// One column of a [`case_update`]: its value per row, and how the `CASE` is wrapped (`{}`
/// stands for it, e.g. `COALESCE({}, request)` keeps the old value where the new is NULL).
pub struct Column {
    pub name: &'static str,
    pub wrap: &'static str,
    pub values: Vec<Arg>,
}

/// One statement that gives each row its own values:
/// `UPDATE t SET c = CASE key WHEN ? THEN ? … END, …, fixed = ? WHERE key IN (…) AND extra`.
/// Rows are padded (the last repeated) like [`padded_list`]. The same SQL runs on MySQL and
/// SQLite; no column is read after it is set, so MySQL's left-to-right `SET` changes nothing.
pub fn case_update(
    table: &str,
    key: &str,
    keys: &[String],
    columns: &[Column],
    fixed: &[(&str, Arg)],
    extra_where: &str,
) -> (String, Vec<Arg>) {
    let n = padded_len(keys.len());
    let row = |i: usize| i.min(keys.len() - 1);
    let case = format!("CASE {key} {} END", vec!["WHEN ? THEN ?"; n].join(" "));
    let mut sets: Vec<String> = columns
        .iter()
        .map(|c| format!("{} = {}", c.name, c.wrap.replace("{}", &case)))
        .collect();
    sets.extend(fixed.iter().map(|(name, _)| format!("{name} = ?")));
    let (list, list_args) = padded_list(keys);
    let sql = format!(
        "UPDATE {table} SET {} WHERE {key} IN ({list}) AND {extra_where}",
        sets.join(", ")
    );
    let mut args = Vec::with_capacity(columns.len() * n * 2 + fixed.len() + n);
    for c in columns {
        assert_eq!(c.values.len(), keys.len(), "one value per row");
        for i in 0..n {
            args.push(Arg::Text(keys[row(i)].clone()));
            args.push(c.values[row(i)].clone());
        }
    }
    args.extend(fixed.iter().map(|(_, v)| v.clone()));
    args.extend(list_args);
    (sql, args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(args: &[Arg]) -> Vec<&str> {
        args.iter()
            .map(|a| match a {
                Arg::Text(t) => t.as_str(),
                other => panic!("not text: {other:?}"),
            })
            .collect()
    }

    fn keys(names: &[&str]) -> Vec<String> {
        names.iter().map(|&n| n.to_owned()).collect()
    }

    #[test]
    fn placeholders_are_comma_separated() {
        assert_eq!(placeholders(0), "");
        assert_eq!(placeholders(1), "?");
        assert_eq!(placeholders(3), "?, ?, ?");
    }

    #[test]
    fn tuples_group_placeholders_per_row() {
        assert_eq!(tuples(1, 1), "(?)");
        assert_eq!(tuples(1, 3), "(?, ?, ?)");
        assert_eq!(tuples(2, 3), "(?, ?, ?), (?, ?, ?)");
        assert_eq!(tuples(3, 2), "(?, ?), (?, ?), (?, ?)");
    }

    #[test]
    fn padded_len_is_the_next_power_of_two() {
        let lens: Vec<usize> = (1..=9).map(padded_len).collect();
        assert_eq!(lens, [1, 2, 4, 4, 8, 8, 8, 8, 16]);
        assert_eq!(padded_len(64), 64, "a power of two stays");
        assert_eq!(padded_len(65), 128);
    }

    #[test]
    fn a_padded_list_of_one_value_is_not_padded() {
        let (sql, args) = padded_list(&keys(&["a"]));
        assert_eq!(sql, "?");
        assert_eq!(texts(&args), ["a"]);
    }

    #[test]
    fn a_padded_list_of_a_power_of_two_is_not_padded() {
        let (sql, args) = padded_list(&keys(&["a", "b", "c", "d"]));
        assert_eq!(sql, "?, ?, ?, ?");
        assert_eq!(texts(&args), ["a", "b", "c", "d"]);
    }

    #[test]
    fn a_padded_list_repeats_its_last_value() {
        let (sql, args) = padded_list(&keys(&["a", "b", "c", "d", "e"]));
        assert_eq!(sql, placeholders(8));
        assert_eq!(texts(&args), ["a", "b", "c", "d", "e", "e", "e", "e"]);
    }

    #[test]
    #[should_panic(expected = "an IN list needs a value")]
    fn an_empty_padded_list_is_refused() {
        padded_list(&[]);
    }

    #[test]
    fn a_case_update_of_one_row_has_one_when() {
        let col = Column {
            name: "x",
            wrap: "{}",
            values: vec![Arg::Int(7)],
        };
        let (sql, args) = case_update("t", "id", &keys(&["a"]), &[col], &[], "y = 0");
        assert_eq!(
            sql,
            "UPDATE t SET x = CASE id WHEN ? THEN ? END WHERE id IN (?) AND y = 0"
        );
        assert_eq!(args.len(), 3);
        assert!(matches!(&args[0], Arg::Text(k) if k == "a"));
        assert!(matches!(&args[1], Arg::Int(7)));
        assert!(matches!(&args[2], Arg::Text(k) if k == "a"));
    }

    #[test]
    fn a_case_update_of_a_power_of_two_rows_is_not_padded() {
        let cols = [
            Column {
                name: "x",
                wrap: "{}",
                values: vec![Arg::Int(1), Arg::Int(2)],
            },
            Column {
                name: "z",
                wrap: "COALESCE({}, z)",
                values: vec![Arg::OptInt(None), Arg::OptInt(Some(5))],
            },
        ];
        let (sql, args) = case_update("t", "id", &keys(&["a", "b"]), &cols, &[], "1 = 1");
        let case = "CASE id WHEN ? THEN ? WHEN ? THEN ? END";
        assert_eq!(
            sql,
            format!(
                "UPDATE t SET x = {case}, z = COALESCE({case}, z) WHERE id IN (?, ?) AND 1 = 1"
            )
        );
        assert_eq!(args.len(), 2 * 4 + 2);
        assert!(matches!(&args[3], Arg::Int(2)));
        assert!(matches!(&args[5], Arg::OptInt(None)));
        assert!(matches!(&args[7], Arg::OptInt(Some(5))));
        assert_eq!(texts(&args[8..]), ["a", "b"]);
    }

    #[test]
    #[should_panic(expected = "one value per row")]
    fn a_case_update_needs_one_value_per_row() {
        let col = Column {
            name: "x",
            wrap: "{}",
            values: vec![Arg::Int(1)],
        };
        case_update("t", "id", &keys(&["a", "b"]), &[col], &[], "1 = 1");
    }

    #[test]
    fn case_update_pads_rows_to_a_power_of_two() {
        let keys = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        let col = Column {
            name: "x",
            wrap: "COALESCE({}, x)",
            values: vec![Arg::Int(1), Arg::Int(2), Arg::Int(3)],
        };
        let (sql, args) = case_update("t", "id", &keys, &[col], &[("u", Arg::Int(9))], "1 = 1");
        let case = "CASE id WHEN ? THEN ? WHEN ? THEN ? WHEN ? THEN ? WHEN ? THEN ? END";
        assert_eq!(
            sql,
            format!(
                "UPDATE t SET x = COALESCE({case}, x), u = ? WHERE id IN (?, ?, ?, ?) AND 1 = 1"
            )
        );
        assert_eq!(args.len(), 8 + 1 + 4);
        assert!(
            matches!(&args[6], Arg::Text(k) if k == "c"),
            "the last row repeats"
        );
        assert!(matches!(&args[7], Arg::Int(3)));
        assert!(matches!(&args[12], Arg::Text(k) if k == "c"));
    }
}
