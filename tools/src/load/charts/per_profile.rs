//! The charts that compare profiles as bars: latency percentiles, outcome ratios, and the
//! cost of a saga next to the no-engine baseline's purchase.

use super::{centred_text, legend, tick_label, Drawn, COLOURS, SIZE_PX, VALUE_LABELS};
use crate::load::resources::Usage;
use crate::load::stats::ProfileSummary;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use std::path::Path;

/// p50 / p90 / p99 submit-to-end latency per profile.
pub(super) fn latency(path: &Path, summaries: &[ProfileSummary]) -> Drawn {
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
pub(super) fn outcomes(path: &Path, summaries: &[ProfileSummary]) -> Drawn {
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
pub(super) fn cost(path: &Path, costs: &[(String, f64, &Usage)]) -> Drawn {
    let parts = |u: &Usage| {
        vec![
            u.load_cpu_ms_per_saga,
            u.server_cpu_ms_per_saga.unwrap_or(0.0),
            u.worker_cpu_ms_per_saga.unwrap_or(0.0),
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
                (
                    "load process (load generator, participants; in process: all)",
                    COLOURS[0],
                ),
                ("server process", COLOURS[3]),
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
pub(super) struct Stacked<'a> {
    caption: &'a str,
    y_desc: &'a str,
    y_max: f64,
    series: &'a [(&'a str, RGBColor)],
    /// Label, one value per series, and the note with its height.
    bars: Vec<(String, Vec<f64>, (String, f64))>,
}

pub(super) fn stacked_bars(path: &Path, chart_spec: &Stacked<'_>) -> Drawn {
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

/// `count` segments, one per bar (an integer range includes its end).
pub(super) fn segments(
    count: usize,
) -> plotters::coord::ranged1d::SegmentedCoord<plotters::coord::types::RangedCoordusize> {
    // A segmented integer range holds one slot per value, end included; a range of one value
    // has no width, so a lone bar gets a second, empty slot beside it.
    (0..count.max(2) - 1).into_segmented()
}

/// One bar of a segmented chart, from `low` to `high`, with a gap on both sides.
pub(super) fn bar(
    i: usize,
    low: f64,
    high: f64,
    colour: RGBColor,
) -> Rectangle<(SegmentValue<usize>, f64)> {
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

pub(super) fn segment_label(value: &SegmentValue<usize>, labels: &[String]) -> String {
    match value {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
            labels.get(*i).cloned().unwrap_or_default()
        }
        SegmentValue::Last => String::new(),
    }
}
