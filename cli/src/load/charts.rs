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
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::collections::BTreeMap;
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
/// seconds since the run's first workflow was created).
fn throughput(path: &Path, records: &[Record]) -> Drawn {
    let lines = per_second(records);
    let x_max = lines
        .iter()
        .flat_map(|(_, l)| l.keys())
        .max()
        .copied()
        .unwrap_or(0)
        + 1;
    let y_max = lines
        .iter()
        .flat_map(|(_, l)| l.values())
        .max()
        .copied()
        .unwrap_or(0);
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
    for (i, (name, line)) in lines.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(
                line.iter().map(|(s, n)| (*s, *n)),
                colour.stroke_width(2),
            ))?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    root.present()?;
    Ok(())
}

/// Per profile (in run order): workflows finished in each second since the run's first
/// workflow was created.
fn per_second(records: &[Record]) -> Vec<(String, BTreeMap<i64, u32>)> {
    let ended = || {
        records
            .iter()
            .filter_map(|r| r.ended.as_ref())
            .filter(|e| e.is_terminal())
    };
    let start = ended().map(|e| e.created_at).min();
    let mut lines: Vec<(String, BTreeMap<i64, u32>)> = Vec::new();
    for record in records {
        let (Some(start), Some(e)) = (start, record.ended.as_ref()) else {
            continue;
        };
        let Some(end) = e.finished_at.filter(|_| e.is_terminal()) else {
            continue;
        };
        if lines.last().is_none_or(|(name, _)| *name != record.profile) {
            lines.push((record.profile.clone(), BTreeMap::new()));
        }
        let second = (end - start).num_seconds();
        *lines
            .last_mut()
            .expect("pushed")
            .1
            .entry(second)
            .or_default() += 1;
    }
    lines
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
        .y_label_formatter(&|y| format!("{y:.0}"))
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
        .y_label_formatter(&|y| format!("{y:.0}"))
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
        .y_labels(y_max as usize)
        .y_label_formatter(&|y| format!("{y:.0}"))
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
