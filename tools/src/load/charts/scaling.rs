//! The scaling chart of `sagaflow bench scaling`: throughput (left axis, bars) and p99
//! latency (right axis, line) against sagas in flight (closed-loop clients), and against
//! worker processes, one panel each.

use super::per_profile::{bar, segment_label, segments};
use super::{centred_text, register_font, tick_label, Drawn, COLOURS, VALUE_LABELS};
use crate::load::Error;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use std::path::Path;

/// Width and height of the two-panel chart, in pixels.
const SIZE_PX: (u32, u32) = (960, 900);

/// One measured point: its x label, throughput (finished sagas/s) and p99 latency (ms).
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub label: String,
    pub throughput_per_s: f64,
    pub p99_ms: f64,
}

/// Draws `scaling.png`: the sweep over sagas in flight on top, the sweep over worker
/// processes below (a sweep with no point leaves its panel empty).
pub fn draw(path: &Path, clients: &[Point], workers: &[Point]) -> Result<(), Error> {
    register_font()?;
    draw_panels(path, clients, workers).map_err(super::chart)
}

fn draw_panels(path: &Path, clients: &[Point], workers: &[Point]) -> Drawn {
    let root = BitMapBackend::new(path, SIZE_PX).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((2, 1));
    panel(
        &panels[0],
        "Throughput and p99 against sagas in flight (closed-loop clients)",
        "clients",
        clients,
    )?;
    panel(
        &panels[1],
        "Throughput and p99 against worker processes",
        "worker processes",
        workers,
    )?;
    root.present()?;
    Ok(())
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    caption: &str,
    x_desc: &str,
    points: &[Point],
) -> Drawn
where
    DB::ErrorType: 'static,
{
    // Headroom above the tallest bar (and its label) for the legend in the upper left.
    let rate_max = points
        .iter()
        .map(|p| p.throughput_per_s)
        .fold(1.0, f64::max)
        * 1.8;
    let p99_max = points.iter().map(|p| p.p99_ms).fold(1.0, f64::max) * 1.3;
    let labels: Vec<String> = points.iter().map(|p| p.label.clone()).collect();
    let formatter = |v: &SegmentValue<usize>| segment_label(v, &labels);
    let rate_label = tick_label(0.0..rate_max, VALUE_LABELS);
    let p99_label = tick_label(0.0..p99_max, VALUE_LABELS);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .right_y_label_area_size(64)
        .build_cartesian_2d(segments(points.len()), 0.0..rate_max)?
        .set_secondary_coord(segments(points.len()), 0.0..p99_max);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(points.len().max(1))
        .x_label_formatter(&formatter)
        .x_desc(x_desc)
        .y_desc("finished sagas / s")
        .y_labels(VALUE_LABELS)
        .y_label_formatter(&rate_label)
        .label_style(("sans-serif", 14))
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_desc("p99 latency, ms")
        .y_labels(VALUE_LABELS)
        .y_label_formatter(&p99_label)
        .label_style(("sans-serif", 14))
        .draw()?;
    let (rate_colour, p99_colour) = (COLOURS[0], COLOURS[3]);
    chart
        .draw_series(
            points
                .iter()
                .enumerate()
                .map(|(i, p)| bar(i, 0.0, p.throughput_per_s, rate_colour)),
        )?
        .label("throughput (left)")
        .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], rate_colour.filled()));
    chart.draw_series(points.iter().enumerate().map(|(i, p)| {
        Text::new(
            format!("{:.0}/s", p.throughput_per_s),
            (
                SegmentValue::CenterOf(i),
                p.throughput_per_s + rate_max * 0.01,
            ),
            centred_text(),
        )
    }))?;
    let line = points
        .iter()
        .enumerate()
        .map(|(i, p)| (SegmentValue::CenterOf(i), p.p99_ms));
    chart
        .draw_secondary_series(LineSeries::new(line.clone(), p99_colour.stroke_width(3)))?
        .label("p99 latency (right)")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], p99_colour.stroke_width(3)));
    chart.draw_secondary_series(line.map(|(x, y)| Circle::new((x, y), 5, p99_colour.filled())))?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 14))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    Ok(())
}
