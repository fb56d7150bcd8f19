//! The engine's share per profile: what a saga cost minus what the no-engine baseline's
//! purchase cost, in two panels — MariaDB's counters (rows written, index reads, statements,
//! commits) and CPU milliseconds by process (load process, server, workers, MariaDB). Bars
//! start at zero and may go below it (the engine run spent less of something than the
//! baseline).

use super::per_profile::{bar, segment_label, segments};
use super::{centred_text, legend, tick_label, Drawn, COLOURS, VALUE_LABELS};
use crate::load::share::Share;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use std::path::Path;

/// Width and height of the two-panel chart, in pixels.
const SIZE_PX: (u32, u32) = (960, 900);

/// One panel: a caption, the unit, and per series its name and value per profile.
struct Panel<'a> {
    caption: &'a str,
    y_desc: &'a str,
    series: Vec<(&'a str, Vec<Option<f64>>)>,
}

/// The counters and the CPU of the engine's share, one group of bars per profile.
pub(super) fn share(path: &Path, shares: &[(String, Share)]) -> Drawn {
    let names: Vec<String> = shares.iter().map(|(n, _)| n.clone()).collect();
    let column = |f: fn(&Share) -> Option<f64>| shares.iter().map(|(_, s)| f(s)).collect();
    let counters = Panel {
        caption: "Engine's share per saga: MariaDB counters (profile minus baseline)",
        y_desc: "per saga",
        series: vec![
            ("rows written", column(|s| s.rows_written_per_saga)),
            ("index reads", column(|s| s.index_reads_per_saga)),
            ("statements", column(|s| s.statements_per_saga)),
            ("commits", column(|s| s.commits_per_saga)),
        ],
    };
    let cpu = Panel {
        caption: "Engine's share per saga: CPU by process (profile minus baseline)",
        y_desc: "CPU milliseconds",
        series: vec![
            ("load process", column(|s| Some(s.load_cpu_ms_per_saga))),
            ("server", column(|s| s.server_cpu_ms_per_saga)),
            ("workers", column(|s| s.worker_cpu_ms_per_saga)),
            ("MariaDB", column(|s| s.mariadb_cpu_ms_per_saga)),
        ],
    };
    let root = BitMapBackend::new(path, SIZE_PX).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((2, 1));
    panel(&panels[0], &names, &counters)?;
    panel(&panels[1], &names, &cpu)?;
    root.present()?;
    Ok(())
}

/// One panel's grouped bars: per profile one bar per series that was measured.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    profiles: &[String],
    spec: &Panel<'_>,
) -> Drawn
where
    DB::ErrorType: 'static,
{
    // (label, series index, value), grouped by profile; unmeasured figures have no bar.
    let mut bars: Vec<(String, usize, f64)> = Vec::new();
    for (p, profile) in profiles.iter().enumerate() {
        let mut first = true;
        for (k, (_, values)) in spec.series.iter().enumerate() {
            if let Some(v) = values[p] {
                let label = if first {
                    profile.clone()
                } else {
                    String::new()
                };
                bars.push((label, k, v));
                first = false;
            }
        }
    }
    let high = bars.iter().map(|b| b.2).fold(1.0, f64::max) * 1.2;
    let low = bars.iter().map(|b| b.2).fold(0.0, f64::min) * 1.2;
    let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    let formatter = |v: &SegmentValue<usize>| segment_label(v, &labels);
    let y_label = tick_label(low..high, VALUE_LABELS);
    let mut chart = ChartBuilder::on(area)
        .caption(spec.caption, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(segments(bars.len()), low..high)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(bars.len().max(1))
        .x_label_formatter(&formatter)
        .y_desc(spec.y_desc)
        .y_labels(VALUE_LABELS)
        .y_label_formatter(&y_label)
        .label_style(("sans-serif", 14))
        .draw()?;
    for (k, (name, _)) in spec.series.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let mine = bars.iter().enumerate().filter(|(_, b)| b.1 == k);
        chart
            .draw_series(mine.map(|(i, (_, _, v))| bar(i, v.min(0.0), v.max(0.0), colour)))?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], colour.filled()));
    }
    chart.draw_series(bars.iter().enumerate().map(|(i, (_, _, v))| {
        Text::new(
            format!("{v:.1}"),
            (SegmentValue::CenterOf(i), v.max(0.0) + high * 0.01),
            centred_text(),
        )
    }))?;
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    Ok(())
}
