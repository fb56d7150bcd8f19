//! What a load run does, as data: the profiles (open loop at a fixed arrival rate, or closed
//! loop at a fixed concurrency, for a duration), the purchase cases and the mix that chooses
//! between them. Pure: no I/O, no clock.

use rand::Rng;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A `--mix` or profile flag that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("bad --mix entry `{0}`: expected case=weight, e.g. success=85")]
    MixEntry(String),
    #[error(
        "unknown case `{0}` in --mix (use success, insufficient, out_of_stock, invalid_payment)"
    )]
    UnknownCase(String),
    #[error("--mix gives every case weight 0")]
    EmptyMix,
    #[error("--rate and --concurrency exclude each other (open loop or closed loop)")]
    BothModes,
    #[error("--rate and --concurrency choose one profile's load: not with --profile all")]
    OverrideAll,
    #[error("--rate must be above 0 and --concurrency at least 1")]
    ZeroLoad,
}

/// How load is offered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// A fixed arrival rate, whatever the system does: shows latency under a given load.
    Open { rate_per_s: f64 },
    /// A fixed number of clients, each submitting the next purchase when its last one ended:
    /// finds the maximum throughput.
    Closed { concurrency: usize },
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mode::Open { rate_per_s } => write!(f, "open loop, {rate_per_s:.0}/s"),
            Mode::Closed { concurrency } => write!(f, "closed loop, {concurrency} clients"),
        }
    }
}

/// One stage of a load run.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: String,
    pub mode: Mode,
    pub duration: Duration,
}

/// `--profile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Choice {
    /// Open loop, 20 purchases/s for 20 s.
    Light,
    /// Open loop at half the heavy throughput (200/s alone; with `all`, half of what heavy
    /// measured) for 30 s.
    Medium,
    /// Closed loop, 64 clients for 30 s.
    Heavy,
    /// light, heavy, then medium at half of heavy's throughput, into one results directory.
    All,
}

/// Arrival rate of the light profile.
pub const LIGHT_RATE_PER_S: f64 = 20.0;
/// Arrival rate of the medium profile when run alone.
pub const MEDIUM_RATE_PER_S: f64 = 200.0;
/// Clients of the heavy profile.
pub const HEAVY_CONCURRENCY: usize = 64;

/// The built-in profile `name` (`light`, `medium` or `heavy`).
pub fn builtin(choice: Choice) -> Vec<Profile> {
    let light = Profile {
        name: "light".into(),
        mode: Mode::Open {
            rate_per_s: LIGHT_RATE_PER_S,
        },
        duration: Duration::from_secs(20),
    };
    let medium = Profile {
        name: "medium".into(),
        mode: Mode::Open {
            rate_per_s: MEDIUM_RATE_PER_S,
        },
        duration: Duration::from_secs(30),
    };
    let heavy = Profile {
        name: "heavy".into(),
        mode: Mode::Closed {
            concurrency: HEAVY_CONCURRENCY,
        },
        duration: Duration::from_secs(30),
    };
    match choice {
        Choice::Light => vec![light],
        Choice::Medium => vec![medium],
        Choice::Heavy => vec![heavy],
        Choice::All => vec![light, heavy, medium],
    }
}

/// The profiles a command line asks for: the chosen built-in ones with `duration`, `rate` or
/// `concurrency` overriding theirs (a rate or concurrency only for a single profile).
pub fn plan(
    choice: Choice,
    rate_per_s: Option<f64>,
    concurrency: Option<usize>,
    duration: Option<Duration>,
) -> Result<Vec<Profile>, Error> {
    let mut profiles = builtin(choice);
    let mode = match (rate_per_s, concurrency) {
        (Some(_), Some(_)) => return Err(Error::BothModes),
        (Some(rate_per_s), None) if rate_per_s > 0.0 => Some(Mode::Open { rate_per_s }),
        (None, Some(concurrency)) if concurrency > 0 => Some(Mode::Closed { concurrency }),
        (None, None) => None,
        _ => return Err(Error::ZeroLoad),
    };
    if mode.is_some() && choice == Choice::All {
        return Err(Error::OverrideAll);
    }
    for profile in &mut profiles {
        if let Some(mode) = mode {
            profile.mode = mode;
        }
        if let Some(duration) = duration {
            profile.duration = duration;
        }
    }
    Ok(profiles)
}

/// One kind of purchase the load test makes, and how it must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Case {
    /// A rich buyer, their own card, a stocked product: completes.
    Success,
    /// A buyer with no money: compensated at `reserve_balance`.
    InsufficientBalance,
    /// A product with no stock: compensated at `reserve_stock`.
    OutOfStock,
    /// Another buyer's card: compensated at `reserve_payment`.
    InvalidPayment,
}

impl Case {
    pub const ALL: [Case; 4] = [
        Case::Success,
        Case::InsufficientBalance,
        Case::OutOfStock,
        Case::InvalidPayment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Case::Success => "success",
            Case::InsufficientBalance => "insufficient",
            Case::OutOfStock => "out_of_stock",
            Case::InvalidPayment => "invalid_payment",
        }
    }

    /// The workflow status this case must end in.
    pub fn expected_status(self) -> &'static str {
        match self {
            Case::Success => "completed",
            _ => "compensated",
        }
    }
}

impl FromStr for Case {
    type Err = Error;

    fn from_str(text: &str) -> Result<Case, Error> {
        Case::ALL
            .into_iter()
            .find(|c| c.as_str() == text)
            .ok_or_else(|| Error::UnknownCase(text.to_owned()))
    }
}

/// Relative weights of the cases (percentages by convention).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    weights: [u32; 4],
}

impl Mix {
    /// Every purchase succeeds.
    pub fn success_only() -> Mix {
        Mix {
            weights: [100, 0, 0, 0],
        }
    }

    /// The weight of one case.
    pub fn weight(&self, case: Case) -> u32 {
        self.weights[index(case)]
    }

    /// Draws a case with the mix's weights.
    pub fn pick(&self, rng: &mut impl Rng) -> Case {
        let total: u32 = self.weights.iter().sum();
        let mut roll = rng.gen_range(0..total);
        for case in Case::ALL {
            let weight = self.weight(case);
            if roll < weight {
                return case;
            }
            roll -= weight;
        }
        unreachable!("the roll is below the total weight")
    }
}

fn index(case: Case) -> usize {
    Case::ALL
        .iter()
        .position(|c| *c == case)
        .expect("every case is in ALL")
}

impl FromStr for Mix {
    type Err = Error;

    /// `success=85,insufficient=5,out_of_stock=5,invalid_payment=5`; cases not named weigh 0.
    fn from_str(text: &str) -> Result<Mix, Error> {
        let mut weights = [0; 4];
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad = || Error::MixEntry(entry.to_owned());
            let (name, weight) = entry.split_once('=').ok_or_else(bad)?;
            let case: Case = name.trim().parse()?;
            weights[index(case)] = weight.trim().parse().map_err(|_| bad())?;
        }
        if weights.iter().all(|w| *w == 0) {
            return Err(Error::EmptyMix);
        }
        Ok(Mix { weights })
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = Case::ALL
            .iter()
            .map(|c| format!("{}={}", c.as_str(), self.weight(*c)))
            .collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn mix_parses_and_round_trips() {
        let mix: Mix = "success=85,insufficient=5,out_of_stock=5,invalid_payment=5"
            .parse()
            .unwrap();
        assert_eq!(mix.weight(Case::Success), 85);
        assert_eq!(mix.weight(Case::InvalidPayment), 5);
        assert_eq!(mix.to_string().parse::<Mix>().unwrap(), mix);
        assert_eq!("success=100".parse::<Mix>().unwrap(), Mix::success_only());
    }

    #[test]
    fn bad_mixes_are_refused() {
        let cases = [
            ("success", Error::MixEntry("success".into())),
            ("success=x", Error::MixEntry("success=x".into())),
            ("refund=5", Error::UnknownCase("refund".into())),
            ("success=0", Error::EmptyMix),
            ("", Error::EmptyMix),
        ];
        for (text, expected) in cases {
            assert_eq!(text.parse::<Mix>().unwrap_err(), expected, "{text}");
        }
    }

    #[test]
    fn picks_follow_the_weights_and_the_seed() {
        let mix: Mix = "success=50,out_of_stock=50".parse().unwrap();
        let draw = |seed| {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            (0..1000).map(|_| mix.pick(&mut rng)).collect::<Vec<_>>()
        };
        let picks = draw(7);
        assert_eq!(picks, draw(7), "same seed, same cases");
        let successes = picks.iter().filter(|c| **c == Case::Success).count();
        assert!((400..600).contains(&successes), "{successes}");
        assert!(picks
            .iter()
            .all(|c| matches!(c, Case::Success | Case::OutOfStock)));
    }

    #[test]
    fn plans_apply_overrides() {
        let secs = Duration::from_secs;
        let all = plan(Choice::All, None, None, Some(secs(5))).unwrap();
        let names: Vec<_> = all.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["light", "heavy", "medium"]);
        assert!(all.iter().all(|p| p.duration == secs(5)));
        let light = plan(Choice::Light, None, Some(8), None).unwrap();
        assert_eq!(light[0].mode, Mode::Closed { concurrency: 8 });
        assert_eq!(light[0].duration, secs(20));
        let table = [
            (
                plan(Choice::Light, Some(1.0), Some(1), None),
                Error::BothModes,
            ),
            (
                plan(Choice::All, Some(10.0), None, None),
                Error::OverrideAll,
            ),
            (plan(Choice::Heavy, None, Some(0), None), Error::ZeroLoad),
            (plan(Choice::Heavy, Some(0.0), None, None), Error::ZeroLoad),
        ];
        for (result, expected) in table {
            assert_eq!(result.unwrap_err(), expected);
        }
    }
}
