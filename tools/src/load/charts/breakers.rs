//! The breakers' states over the run: one strip per worker and participant service, green
//! while closed, amber while half-open, red while open (each sample's state held until the
//! next sample of its strip).

use super::per_profile::{segment_label, segments};
use super::{legend, tick_label, Drawn, SIZE_PX, VALUE_LABELS};
use crate::load::breakers::{self, Sample, State, SAMPLE_EVERY};
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use std::path::Path;

const CLOSED: RGBColor = RGBColor(44, 160, 44);
const HALF_OPEN: RGBColor = RGBColor(255, 165, 0);
const OPEN: RGBColor = RGBColor(214, 39, 40);

fn colour(state: State) -> RGBColor {
    match state {
        State::Closed => CLOSED,
        State::HalfOpen => HALF_OPEN,
        State::Open => OPEN,
    }
}

pub(super) fn breakers(path: &Path, samples: &[Sample]) -> Drawn {
    let strips = breakers::series(samples);
    let labels: Vec<String> = strips
        .keys()
        .map(|(worker, service)| format!("{worker}: {service}"))
        .collect();
    let last_ms = samples.iter().map(|s| s.t_ms).max().unwrap_or(0);
    let x_max = (last_ms + SAMPLE_EVERY.as_millis() as u64) as f64 / 1000.0;
    let root = BitMapBackend::new(path, SIZE_PX).into_drawing_area();
    root.fill(&WHITE)?;
    let formatter = |v: &SegmentValue<usize>| segment_label(v, &labels);
    let x_label = tick_label(0.0..x_max, VALUE_LABELS);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Circuit breakers: state per worker and service",
            ("sans-serif", 24),
        )
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(160)
        .build_cartesian_2d(0.0..x_max, segments(labels.len()))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc("seconds since the load started (this machine's clock)")
        .x_labels(VALUE_LABELS)
        .x_label_formatter(&x_label)
        .y_labels(labels.len().max(1))
        .y_label_formatter(&formatter)
        .label_style(("sans-serif", 14))
        .draw()?;
    let every = SAMPLE_EVERY.as_millis() as u64;
    for (row, points) in strips.values().enumerate() {
        chart.draw_series(points.iter().enumerate().map(|(i, (t, state))| {
            let end = points.get(i + 1).map_or(t + every, |(next, _)| *next);
            let mut rect = Rectangle::new(
                [
                    (*t as f64 / 1000.0, SegmentValue::Exact(row)),
                    (end as f64 / 1000.0, SegmentValue::Exact(row + 1)),
                ],
                colour(*state).filled(),
            );
            rect.set_margin(6, 6, 0, 0);
            rect
        }))?;
    }
    for (name, state) in [
        ("closed", State::Closed),
        ("half-open", State::HalfOpen),
        ("open", State::Open),
    ] {
        let c = colour(state);
        chart
            .draw_series(std::iter::empty::<Rectangle<(f64, SegmentValue<usize>)>>())?
            .label(name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], c.filled()));
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    root.present()?;
    Ok(())
}
