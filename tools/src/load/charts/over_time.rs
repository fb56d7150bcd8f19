//! The charts over time: finished workflows per second per profile, and the retry timeline
//! (attempts of retried activities against time since their first attempt).

use super::{legend, tick_label, Drawn, COLOURS, SIZE_PX, VALUE_LABELS};
use crate::load::stats::Record;
use chrono::{DateTime, Utc};
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

/// Finished workflows per second over the whole run, one line per profile (database time,
/// seconds since the run's first workflow was created). A second only partly inside its
/// profile's span (the profile started or ended within it) is a hollow marker, not a point
/// of the line: its count is not a full second's.
pub(super) fn throughput(path: &Path, records: &[Record]) -> Drawn {
    let lines = per_second(records);
    let seconds = || lines.iter().flat_map(|l| l.full.iter().chain(&l.partial));
    let x_max = seconds().map(|(s, _)| *s).max().unwrap_or(0) + 1;
    let y_max = seconds().map(|(_, n)| *n).max().unwrap_or(0);
    let root = BitMapBackend::new(path, SIZE_PX).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Throughput: workflows finished per second",
            ("sans-serif", 24),
        )
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(0..x_max, 0..(y_max + y_max / 10 + 1))?;
    chart
        .configure_mesh()
        .x_desc("seconds since the run started (database time)")
        .y_desc("finished workflows / s")
        .label_style(("sans-serif", 14))
        .draw()?;
    for (i, line) in lines.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(
                line.full.iter().map(|(s, n)| (*s, *n)),
                colour.stroke_width(2),
            ))?
            .label(line.name.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
        chart.draw_series(
            line.partial
                .iter()
                .map(|(s, n)| Circle::new((*s, *n), 5, colour.stroke_width(2))),
        )?;
    }
    if lines.iter().any(|l| !l.partial.is_empty()) {
        let grey = BLACK.mix(0.6);
        chart
            .draw_series(std::iter::empty::<Circle<(i64, u32), i32>>())?
            .label("partial second (profile started or ended in it)")
            .legend(move |(x, y)| Circle::new((x + 10, y), 5, grey.stroke_width(2)));
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    root.present()?;
    Ok(())
}

/// One profile's finished workflows per second since the run started.
#[derive(Debug, PartialEq)]
pub(super) struct PerSecond {
    pub(super) name: String,
    /// Every second wholly inside the profile's span (first creation to last finish), zero
    /// counts included.
    pub(super) full: BTreeMap<i64, u32>,
    /// Seconds only partly inside it (its first and last), with finishes in them.
    pub(super) partial: BTreeMap<i64, u32>,
}

/// Per profile (in run order): workflows finished in each second since the run's first
/// workflow was created, split into whole and partial seconds.
pub(super) fn per_second(records: &[Record]) -> Vec<PerSecond> {
    let span = |r: &Record| {
        let e = r.ended.as_ref().filter(|e| e.is_terminal())?;
        Some((e.created_at, e.finished_at?))
    };
    let Some(start) = records.iter().filter_map(span).map(|(c, _)| c).min() else {
        return Vec::new();
    };
    let since = |t: DateTime<Utc>| {
        (t - start)
            .num_microseconds()
            .map_or(f64::MAX, |us| us as f64 / 1e6)
    };
    let mut groups: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for record in records {
        let Some((created, end)) = span(record) else {
            continue;
        };
        if groups
            .last()
            .is_none_or(|(name, _)| *name != record.profile)
        {
            groups.push((record.profile.clone(), Vec::new()));
        }
        if let Some((_, spans)) = groups.last_mut() {
            spans.push((since(created), since(end)));
        }
    }
    groups
        .into_iter()
        .map(|(name, spans)| bucket(name, &spans))
        .collect()
}

/// Buckets one profile's `(created, finished)` seconds by the second of the finish.
pub(super) fn bucket(name: String, spans: &[(f64, f64)]) -> PerSecond {
    let from = spans.iter().map(|s| s.0).fold(f64::INFINITY, f64::min);
    let to = spans.iter().map(|s| s.1).fold(f64::NEG_INFINITY, f64::max);
    let whole = (from.ceil() as i64)..(to.floor() as i64);
    let mut full: BTreeMap<i64, u32> = whole.clone().map(|s| (s, 0)).collect();
    let mut partial = BTreeMap::new();
    for (_, end) in spans {
        let second = end.floor() as i64;
        let counts = match whole.contains(&second) {
            true => &mut full,
            false => &mut partial,
        };
        *counts.entry(second).or_default() += 1;
    }
    PerSecond {
        name,
        full,
        partial,
    }
}

/// Every attempt of every retried activity: attempt number against seconds since the
/// activity's first attempt. With the purchase's policy the retries line up at 1 s, 3 s and
/// 7 s (waits of 1 s, 2 s, 4 s).
pub(super) fn retries(path: &Path, records: &[Record]) -> Drawn {
    let points = retry_points(records);
    let x_max = points.iter().map(|p| p.0).fold(8.0, f64::max) * 1.05;
    let y_max = points.iter().map(|p| p.1).fold(4.0, f64::max) + 0.5;
    let x_label = tick_label(0.0..x_max, VALUE_LABELS);
    let y_label = tick_label(0.5..y_max, y_max as usize);
    let root = BitMapBackend::new(path, SIZE_PX).into_drawing_area();
    root.fill(&WHITE)?;
    let caption = format!(
        "Retry timeline: {} attempts of retried activities",
        points.len()
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..x_max, 0.5..y_max)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the activity's first attempt (database time)")
        .y_desc("attempt")
        .x_labels(VALUE_LABELS)
        .x_label_formatter(&x_label)
        .y_labels(y_max as usize)
        .y_label_formatter(&y_label)
        .label_style(("sans-serif", 14))
        .draw()?;
    let guide = RGBColor(31, 119, 180).mix(0.6);
    chart
        .draw_series(
            [1.0, 3.0, 7.0]
                .map(|x| PathElement::new([(x, 0.5), (x, y_max)], guide.stroke_width(2))),
        )?
        .label("backoff 1 s, 2 s, 4 s (cumulative 1, 3, 7 s)")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], guide.stroke_width(2)));
    // Failed attempts a little below their row, succeeded ones a little above, so neither
    // hides the other.
    for (ok, name, colour, shift) in [
        (false, "failed attempt", COLOURS[3], -0.12),
        (true, "succeeded attempt", COLOURS[2], 0.12),
    ] {
        let style = colour.mix(0.35).filled();
        chart
            .draw_series(
                points
                    .iter()
                    .filter(|p| p.2 == ok)
                    .map(|p| Circle::new((p.0, p.1 + shift), 4, style)),
            )?
            .label(name)
            .legend(move |(x, y)| Circle::new((x + 10, y), 4, colour.filled()));
    }
    if points.is_empty() {
        chart.draw_series([Text::new(
            "no retried activities in this run (inject faults with --faults 0.2)",
            (x_max * 0.2, y_max / 2.0),
            ("sans-serif", 18),
        )])?;
    }
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    root.present()?;
    Ok(())
}

/// (seconds since the activity's first attempt, attempt number, succeeded) of every attempt
/// of every retried activity.
pub(super) fn retry_points(records: &[Record]) -> Vec<(f64, f64, bool)> {
    records
        .iter()
        .filter_map(|r| r.ended.as_ref())
        .flat_map(|e| &e.retried)
        .map(|a| {
            (
                a.offset_ms / 1e3,
                f64::from(a.attempt),
                a.outcome == "succeeded",
            )
        })
        .collect()
}
