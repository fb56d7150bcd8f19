//! The run's PNG charts, drawn in Rust with plotters: throughput over time, latency
//! percentiles per profile, outcome ratios per profile, the retry timeline (attempts of
//! retried activities against time since their first attempt, where the 1 s / 2 s / 4 s
//! backoff shows as columns), when CPU was measured, the cost of a saga per profile next
//! to the no-engine baseline's purchase, and, with a baseline, the engine's share per
//! profile ([`share`]: counters and CPU by process, profile minus baseline).
//!
//! Text needs a TrueType font from the system (Debian: fonts-dejavu-core); `SAGAFLOW_FONT`
//! names another file. The charts over time are in [`over_time`], those comparing profiles
//! in [`per_profile`]; here what they share.

use super::resources::Usage;
use super::stats::{ProfileSummary, Record};
use super::Error;
use plotters::coord::ranged1d::Ranged;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

mod breakers;
mod over_time;
mod per_profile;
pub mod scaling;
mod share;
use over_time::{retries, throughput};
use per_profile::{cost, latency, outcomes};

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
/// The engine's share chart's file: drawn only when the run measured a baseline.
pub const SHARE_FILE: &str = "share.png";
/// The breakers' state chart's file: drawn only when the run read the workers' breakers.
pub const BREAKERS_FILE: &str = "breakers.png";

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

/// Draws every chart of [`FILES`] into `dir`, [`COST_FILE`] when a profile or the baseline
/// measured CPU, [`SHARE_FILE`] when a profile has an engine share, and [`BREAKERS_FILE`]
/// when the workers' breakers were sampled; returns the files
/// drawn, in the order the HTML page shows them.
pub fn draw_all(
    dir: &Path,
    summaries: &[ProfileSummary],
    records: &[Record],
    baseline: Option<BaselineCost<'_>>,
    breaker_samples: &[crate::load::breakers::Sample],
) -> Result<Vec<&'static str>, Error> {
    register_font()?;
    throughput(&dir.join(FILES[0]), records).map_err(chart)?;
    latency(&dir.join(FILES[1]), summaries).map_err(chart)?;
    outcomes(&dir.join(FILES[2]), summaries).map_err(chart)?;
    retries(&dir.join(FILES[3]), records).map_err(chart)?;
    let mut drawn = FILES.to_vec();
    let mut costs: Vec<(String, f64, &Usage)> = summaries
        .iter()
        .filter_map(|s| Some((s.name.clone(), s.throughput_per_s, s.resources.as_ref()?)))
        .collect();
    costs.extend(baseline.map(|b| ("no-engine baseline".to_owned(), b.purchases_per_s, b.usage)));
    if !costs.is_empty() {
        cost(&dir.join(COST_FILE), &costs).map_err(chart)?;
        drawn.push(COST_FILE);
    }
    let shares: Vec<(String, super::share::Share)> = summaries
        .iter()
        .filter_map(|s| Some((s.name.clone(), s.engine_share?)))
        .collect();
    if !shares.is_empty() {
        share::share(&dir.join(SHARE_FILE), &shares).map_err(chart)?;
        drawn.push(SHARE_FILE);
    }
    if !breaker_samples.is_empty() {
        breakers::breakers(&dir.join(BREAKERS_FILE), breaker_samples).map_err(chart)?;
        drawn.push(BREAKERS_FILE);
    }
    Ok(drawn)
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
    use super::over_time::{per_second, PerSecond};
    use super::*;
    use chrono::{DateTime, Utc};
    use std::collections::BTreeMap;

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
