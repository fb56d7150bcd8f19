//! The run's PNG charts, drawn in Rust with plotters: throughput over time, latency
//! percentiles per profile, outcome ratios per profile, the retry timeline (attempts of
//! retried activities against time since their first attempt, where the 1 s / 2 s / 4 s
//! backoff shows as columns), and, when CPU was measured, the cost of a saga per profile next
//! to the no-engine baseline's purchase.
//!
//! Text needs a TrueType font from the system (Debian: fonts-dejavu-core); `SAGAFLOW_FONT`
//! names another file.

use super::resources::Usage;
use super::stats::{ProfileSummary, Record};
use super::Error;
use chrono::{DateTime, Utc};
use plotters::coord::ranged1d::{Ranged, SegmentValue};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

/// Width and height of every chart, in pixels.
const SIZE_PX: (u32, u32) = (960, 540);
/// The charts' files, in the order the HTML page shows them.
pub const FILES: [&str; 4] = [
    "throughput.png",
    "latency.png",
    "outcomes.png",
    "retries.png",
];
/// The cost chart's file: drawn only when the run measured CPU.
pub const COST_FILE: &str = "cost.png";

/// The no-engine baseline as the cost chart shows it: purchases per second and their cost.
pub struct BaselineCost<'a> {
    pub purchases_per_s: f64,
    pub usage: &'a Usage,
}
/// Where a TrueType font is looked for when `SAGAFLOW_FONT` is not set.
const FONT_PATHS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];
/// Labels on a value axis (plotters' default, named so the labels' decimals follow the ticks
/// plotters really draws).
const VALUE_LABELS: usize = 11;
/// One colour per profile or series.
const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Draws every chart of [`FILES`] into `dir`, and [`COST_FILE`] when a profile or the
/// baseline measured CPU; returns whether the cost chart was drawn.
pub fn draw_all(
    dir: &Path,
    summaries: &[ProfileSummary],
    records: &[Record],
    baseline: Option<BaselineCost<'_>>,
) -> Result<bool, Error> {
    register_font()?;
    throughput(&dir.join(FILES[0]), records).map_err(chart)?;
    latency(&dir.join(FILES[1]), summaries).map_err(chart)?;
    outcomes(&dir.join(FILES[2]), summaries).map_err(chart)?;
    retries(&dir.join(FILES[3]), records).map_err(chart)?;
    let mut costs: Vec<(String, f64, &Usage)> = summaries
        .iter()
        .filter_map(|s| Some((s.name.clone(), s.throughput_per_s, s.resources.as_ref()?)))
        .collect();
    costs.extend(baseline.map(|b| ("no-engine baseline".to_owned(), b.purchases_per_s, b.usage)));
    if costs.is_empty() {
        return Ok(false);
    }
    cost(&dir.join(COST_FILE), &costs).map_err(chart)?;
    Ok(true)
}

type Drawn = Result<(), Box<dyn std::error::Error>>;

fn chart(err: Box<dyn std::error::Error>) -> Error {
    Error::Chart(err.to_string())
}

/// Registers the system font as plotters' `sans-serif`, once per process.
fn register_font() -> Result<(), Error> {
    static FONT: OnceLock<Result<(), String>> = OnceLock::new();
    let result = FONT.get_or_init(|| {
        let chosen = std::env::var("SAGAFLOW_FONT").ok();
        let candidates = chosen.iter().map(String::as_str).chain(FONT_PATHS);
        let bytes = candidates
            .filter_map(|path| std::fs::read(path).ok())
            .next()
            .ok_or_else(|| format!("no TrueType font in {FONT_PATHS:?} (install fonts-dejavu-core or set SAGAFLOW_FONT)"))?;
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
            .map_err(|_| "the font file is not a TrueType font".to_owned())
    });
    result.clone().map_err(Error::Chart)
}

/// Finished workflows per second over the whole run, one line per profile (database time,
/// seconds since the run's first workflow was created). A second only partly inside its
/// profile's span (the profile started or ended within it) is a hollow marker, not a point
/// of the line: its count is not a full second's.
fn throughput(path: &Path, records: &[Record]) -> Drawn {
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
struct PerSecond {
    name: String,
    /// Every second wholly inside the profile's span (first creation to last finish), zero
    /// counts included.
    full: BTreeMap<i64, u32>,
    /// Seconds only partly inside it (its first and last), with finishes in them.
    partial: BTreeMap<i64, u32>,
}

/// Per profile (in run order): workflows finished in each second since the run's first
/// workflow was created, split into whole and partial seconds.
fn per_second(records: &[Record]) -> Vec<PerSecond> {
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
fn bucket(name: String, spans: &[(f64, f64)]) -> PerSecond {
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

/// Decimals that tell ticks `step` apart: 0 for whole steps, 1 for steps of 0.5 or 0.2, 2
/// for 0.25 or 0.05, and so on (at most 6).
fn decimals_for_step(step: f64) -> usize {
    if !(step.is_finite() && step > 0.0) {
        return 0;
    }
    (0..6)
        .find(|d| {
            let scaled = step * 10f64.powi(*d as i32);
            (scaled - scaled.round()).abs() < 1e-6 * scaled.max(1.0)
        })
        .unwrap_or(6)
}

/// The label of a tick on a value axis over `range` with `labels` labels: as many decimals as
/// the step between the ticks plotters draws there needs.
fn tick_label(range: Range<f64>, labels: usize) -> impl Fn(&f64) -> String {
    let ticks = RangedCoordf64::from(range).key_points(labels);
    let step = ticks
        .windows(2)
        .map(|w| w[1] - w[0])
        .fold(f64::INFINITY, f64::min);
    let decimals = decimals_for_step(step);
    // `+ 0.0` turns a -0 into 0, so no tick reads "-0.0".
    move |v: &f64| format!("{:.decimals$}", *v + 0.0)
}

/// p50 / p90 / p99 submit-to-end latency per profile.
fn latency(path: &Path, summaries: &[ProfileSummary]) -> Drawn {
    const METRICS: [&str; 3] = ["p50", "p90", "p99"];
    let value =
        |s: &ProfileSummary, m: usize| [s.latency_ms.p50, s.latency_ms.p90, s.latency_ms.p99][m];
    let bars: Vec<(String, usize, f64)> = summaries
        .iter()
        .flat_map(|s| (0..3).map(move |m| (format!("{} {}", s.name, METRICS[m]), m, value(s, m))))
        .collect();
    let y_max = bars.iter().map(|b| b.2).fold(1.0, f64::max) * 1.15;
    let root = BitMapBackend::new(path, SIZE_PX).into_drawing_area();
    root.fill(&WHITE)?;
    let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    let formatter = |v: &SegmentValue<usize>| segment_label(v, &labels);
    let y_label = tick_label(0.0..y_max, VALUE_LABELS);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Latency per profile: submit to end, database time",
            ("sans-serif", 24),
        )
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(segments(bars.len()), 0.0..y_max)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(bars.len())
        .x_label_formatter(&formatter)
        .y_desc("milliseconds")
        .y_labels(VALUE_LABELS)
        .y_label_formatter(&y_label)
        .label_style(("sans-serif", 13))
        .draw()?;
    chart.draw_series(
        bars.iter()
            .enumerate()
            .map(|(i, (_, m, v))| bar(i, 0.0, *v, COLOURS[*m])),
    )?;
    chart.draw_series(bars.iter().enumerate().map(|(i, (_, _, v))| {
        Text::new(
            format!("{v:.1}"),
            (SegmentValue::CenterOf(i), *v + y_max * 0.01),
            centred_text(),
        )
    }))?;
    root.present()?;
    Ok(())
}

/// Shares of completed / compensated / failed / unfinished (or refused) per profile.
fn outcomes(path: &Path, summaries: &[ProfileSummary]) -> Drawn {
    let parts = |s: &ProfileSummary| {
        let c = &s.counts;
        let total = c.submitted.max(1) as f64;
        [
            c.completed,
            c.compensated,
            c.failed,
            c.unfinished + c.submit_errors,
        ]
        .map(|n| n as f64 * 100.0 / total)
        .to_vec()
    };
    stacked_bars(
        path,
        &Stacked {
            caption: "Outcomes per profile",
            y_desc: "% of submitted workflows",
            y_max: 110.0,
            series: &[
                ("completed", COLOURS[2]),
                ("compensated", COLOURS[1]),
                ("failed", COLOURS[3]),
                ("unfinished or refused", COLOURS[5]),
            ],
            bars: summaries
                .iter()
                .map(|s| {
                    let values = parts(s);
                    let note = (format!("{:.1}% completed", values[0]), 101.0);
                    (s.name.clone(), values, note)
                })
                .collect(),
        },
    )
}

/// CPU milliseconds per saga (per purchase for the baseline), stacked by where they were
/// spent, with the throughput above each bar: what the engine adds to the same purchase.
fn cost(path: &Path, costs: &[(String, f64, &Usage)]) -> Drawn {
    let parts = |u: &Usage| {
        let worker = u.worker_cpu_ms_per_saga.unwrap_or(0.0);
        vec![
            u.cpu_ms_per_saga - worker,
            worker,
            u.mariadb_cpu_ms_per_saga.unwrap_or(0.0),
        ]
    };
    let total = |u: &Usage| parts(u).iter().sum::<f64>();
    let y_max = costs.iter().map(|c| total(c.2)).fold(1.0, f64::max) * 1.3;
    stacked_bars(
        path,
        &Stacked {
            caption: "CPU per saga, and per purchase without the engine",
            y_desc: "CPU milliseconds",
            y_max,
            series: &[
                ("load process (load generator, services, API)", COLOURS[0]),
                ("worker processes", COLOURS[1]),
                ("MariaDB", COLOURS[2]),
            ],
            bars: costs
                .iter()
                .map(|(name, rate, u)| {
                    let t = total(u);
                    let note = (format!("{t:.1} ms at {rate:.0}/s"), t + y_max * 0.01);
                    (name.clone(), parts(u), note)
                })
                .collect(),
        },
    )
}

/// A chart of stacked bars: one bar per entry, one segment per series, a note above each.
struct Stacked<'a> {
    caption: &'a str,
    y_desc: &'a str,
    y_max: f64,
    series: &'a [(&'a str, RGBColor)],
    /// Label, one value per series, and the note with its height.
    bars: Vec<(String, Vec<f64>, (String, f64))>,
}

fn stacked_bars(path: &Path, chart_spec: &Stacked<'_>) -> Drawn {
    let bars = &chart_spec.bars;
    let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    let formatter = |v: &SegmentValue<usize>| segment_label(v, &labels);
    let y_label = tick_label(0.0..chart_spec.y_max, VALUE_LABELS);
    let root = BitMapBackend::new(path, SIZE_PX).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(chart_spec.caption, ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(segments(bars.len()), 0.0..chart_spec.y_max)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(bars.len())
        .x_label_formatter(&formatter)
        .y_desc(chart_spec.y_desc)
        .y_labels(VALUE_LABELS)
        .y_label_formatter(&y_label)
        .label_style(("sans-serif", 14))
        .draw()?;
    for (k, (name, colour)) in chart_spec.series.iter().enumerate() {
        let colour = *colour;
        let stacked = bars.iter().enumerate().map(|(i, (_, values, _))| {
            let low: f64 = values[..k].iter().sum();
            bar(i, low, low + values[k], colour)
        });
        chart
            .draw_series(stacked)?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], colour.filled()));
    }
    chart.draw_series(bars.iter().enumerate().map(|(i, (_, _, (text, y)))| {
        Text::new(
            text.clone(),
            (SegmentValue::CenterOf(i), *y),
            centred_text(),
        )
    }))?;
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    root.present()?;
    Ok(())
}

/// Every attempt of every retried activity: attempt number against seconds since the
/// activity's first attempt. With the purchase's policy the retries line up at 1 s, 3 s and
/// 7 s (waits of 1 s, 2 s, 4 s).
fn retries(path: &Path, records: &[Record]) -> Drawn {
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

/// `count` segments, one per bar (an integer range includes its end).
fn segments(
    count: usize,
) -> plotters::coord::ranged1d::SegmentedCoord<plotters::coord::types::RangedCoordusize> {
    // A segmented integer range holds one slot per value, end included; a range of one value
    // has no width, so a lone bar gets a second, empty slot beside it.
    (0..count.max(2) - 1).into_segmented()
}

/// (seconds since the activity's first attempt, attempt number, succeeded) of every attempt
/// of every retried activity.
fn retry_points(records: &[Record]) -> Vec<(f64, f64, bool)> {
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

/// One bar of a segmented chart, from `low` to `high`, with a gap on both sides.
fn bar(i: usize, low: f64, high: f64, colour: RGBColor) -> Rectangle<(SegmentValue<usize>, f64)> {
    let mut rect = Rectangle::new(
        [
            (SegmentValue::Exact(i), low),
            (SegmentValue::Exact(i + 1), high),
        ],
        colour.filled(),
    );
    rect.set_margin(0, 0, 8, 8);
    rect
}

fn segment_label(value: &SegmentValue<usize>, labels: &[String]) -> String {
    match value {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
            labels.get(*i).cloned().unwrap_or_default()
        }
        SegmentValue::Last => String::new(),
    }
}

/// Value labels: centred above the point they label.
fn centred_text() -> TextStyle<'static> {
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    TextStyle::from(("sans-serif", 14).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom))
}

fn legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> Drawn
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 14))
        .position(position)
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::collect::Ended;
    use super::super::profile::Case;
    use super::*;

    #[test]
    fn decimals_follow_the_tick_step() {
        for (step, decimals) in [
            (10.0, 0),
            (5.0, 0),
            (1.0, 0),
            (2.5, 1),
            (0.5, 1),
            (0.2, 1),
            (0.25, 2),
            (0.05, 2),
            (0.001, 3),
            (f64::INFINITY, 0),
            (0.0, 0),
        ] {
            assert_eq!(decimals_for_step(step), decimals, "step {step}");
        }
    }

    /// The labels of the ticks plotters draws on an axis.
    fn labels(range: Range<f64>, count: usize) -> Vec<String> {
        let label = tick_label(range.clone(), count);
        let ticks = RangedCoordf64::from(range).key_points(count);
        ticks.iter().map(label).collect()
    }

    #[test]
    fn half_steps_are_labelled_with_a_decimal_and_whole_steps_without() {
        // The cost chart of a cheap run: 0..5 ms, ticks every 0.5.
        let small = labels(0.0..5.0, VALUE_LABELS);
        assert_eq!(&small[..4], ["0.0", "0.5", "1.0", "1.5"]);
        let mut distinct = small.clone();
        distinct.dedup();
        assert_eq!(distinct, small, "no two ticks read the same");
        assert_eq!(&labels(0.0..43.0, VALUE_LABELS)[..3], ["0", "5", "10"]);
        assert_eq!(&labels(0.0..2.0, VALUE_LABELS)[..3], ["0.0", "0.2", "0.4"]);
        assert_eq!(&labels(0.0..6.0, VALUE_LABELS)[..3], ["0", "1", "2"]);
    }

    fn record(profile: &str, created_s: f64, finished_s: f64) -> Record {
        let t0 = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("a valid time");
        let at = |s: f64| t0 + chrono::Duration::microseconds((s * 1e6) as i64);
        Record {
            profile: profile.to_owned(),
            case: Case::Success,
            sent_ms: 0.0,
            submit: Ok("id".to_owned()),
            ended: Some(Ended {
                status: "completed".to_owned(),
                created_at: at(created_s),
                finished_at: Some(at(finished_s)),
                failed_step: None,
                attempts: 1,
                activities: 1,
                retried: Vec::new(),
            }),
        }
    }

    #[test]
    fn partial_first_and_last_seconds_are_kept_apart_and_quiet_seconds_count_zero() {
        let mut records = vec![
            record("a", 0.0, 0.5),
            record("a", 0.1, 1.2),
            record("a", 0.2, 1.7),
            record("a", 0.3, 3.4),
            record("b", 3.6, 4.1),
            record("b", 3.7, 5.5),
            record("b", 3.8, 5.9),
        ];
        let mut unfinished = record("b", 3.9, 4.0);
        if let Some(e) = unfinished.ended.as_mut() {
            e.status = "running".to_owned();
        }
        records.push(unfinished);
        let lines = per_second(&records);
        let map = |pairs: &[(i64, u32)]| pairs.iter().copied().collect::<BTreeMap<_, _>>();
        assert_eq!(
            lines,
            [
                PerSecond {
                    name: "a".to_owned(),
                    full: map(&[(0, 1), (1, 2), (2, 0)]),
                    partial: map(&[(3, 1)]),
                },
                PerSecond {
                    name: "b".to_owned(),
                    full: map(&[(4, 1)]),
                    partial: map(&[(5, 2)]),
                },
            ]
        );
        assert!(per_second(&[]).is_empty());
    }
}
