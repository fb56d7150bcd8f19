//! The worker's participant protection flags: a circuit breaker and a bulkhead per service
//! (`worker::protect`), with defaults for every service and `--breaker-service` overrides
//! for one.

use crate::duration::{self, HumanDuration};
use std::collections::HashMap;
use std::fmt;
use worker::breaker::BreakerConfig;
use worker::{defaults, Protection};

/// A share between 0 and 1 (a flag value; never NaN, so it is `Eq`).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Ratio(pub f64);

impl Eq for Ratio {}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

fn ratio(text: &str) -> Result<Ratio, String> {
    match text.trim().parse::<f64>() {
        Ok(r) if r > 0.0 && r <= 1.0 => Ok(Ratio(r)),
        _ => Err("a share above 0 and at most 1, such as 0.5".into()),
    }
}

/// Circuit breakers and bulkheads, per participant service, per worker process.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct ProtectionFlags {
    /// Transient failures in a row (timeouts, connection errors, 5xx) that open a service's
    /// circuit breaker (business errors count as successes).
    #[arg(long, env = "SAGAFLOW_BREAKER_FAILURES", default_value_t = defaults::BREAKER.failures)]
    pub breaker_failures: u32,
    /// Failure share over --breaker-window that opens the breaker (with --breaker-min-calls).
    #[arg(
        long,
        env = "SAGAFLOW_BREAKER_RATIO",
        value_parser = ratio,
        default_value_t = Ratio(defaults::BREAKER.ratio)
    )]
    pub breaker_ratio: Ratio,
    /// How far back the failure ratio looks.
    #[arg(
        long,
        env = "SAGAFLOW_BREAKER_WINDOW",
        value_name = "DURATION",
        value_parser = duration::millis,
        default_value_t = HumanDuration::from(defaults::BREAKER.window)
    )]
    pub breaker_window: HumanDuration,
    /// Fewest calls in the window before the ratio counts.
    #[arg(long, env = "SAGAFLOW_BREAKER_MIN_CALLS", default_value_t = defaults::BREAKER.min_calls)]
    pub breaker_min_calls: u32,
    /// How long an opened breaker stays open before it lets probes through.
    #[arg(
        long,
        env = "SAGAFLOW_BREAKER_OPEN",
        value_name = "DURATION",
        value_parser = duration::millis,
        default_value_t = HumanDuration::from(defaults::BREAKER.open)
    )]
    pub breaker_open: HumanDuration,
    /// Longest open interval: each failed probe doubles it up to this.
    #[arg(
        long,
        env = "SAGAFLOW_BREAKER_OPEN_MAX",
        value_name = "DURATION",
        value_parser = duration::millis,
        default_value_t = HumanDuration::from(defaults::BREAKER.open_max)
    )]
    pub breaker_open_max: HumanDuration,
    /// Probe calls let through at once while half-open.
    #[arg(long, env = "SAGAFLOW_BREAKER_PROBES", default_value_t = defaults::BREAKER.probes)]
    pub breaker_probes: u32,
    /// Most calls in flight at once to one service from this worker.
    #[arg(long, env = "SAGAFLOW_BULKHEAD", default_value_t = defaults::BULKHEAD)]
    pub bulkhead: usize,
    /// One service's own settings: NAME:KEY=VALUE,… with keys failures, ratio, window,
    /// min-calls, open, open-max, probes, bulkhead (e.g. payment:failures=3,open=2s). Repeat
    /// the flag per service; in the environment, separate services with `;`.
    #[arg(
        long = "breaker-service",
        env = "SAGAFLOW_BREAKER_SERVICE",
        value_name = "NAME:KEY=VALUE,…",
        value_parser = ServiceOverride::parse,
        value_delimiter = ';'
    )]
    pub overrides: Vec<ServiceOverride>,
}

impl Default for ProtectionFlags {
    fn default() -> ProtectionFlags {
        let b = defaults::BREAKER;
        ProtectionFlags {
            breaker_failures: b.failures,
            breaker_ratio: Ratio(b.ratio),
            breaker_window: b.window.into(),
            breaker_min_calls: b.min_calls,
            breaker_open: b.open.into(),
            breaker_open_max: b.open_max.into(),
            breaker_probes: b.probes,
            bulkhead: defaults::BULKHEAD,
            overrides: Vec::new(),
        }
    }
}

/// One setting of a `--breaker-service` override.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    Failures(u32),
    Ratio(Ratio),
    Window(HumanDuration),
    MinCalls(u32),
    Open(HumanDuration),
    OpenMax(HumanDuration),
    Probes(u32),
    Bulkhead(usize),
}

/// `--breaker-service NAME:KEY=VALUE,…`: one service's settings that differ from the flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceOverride {
    pub service: String,
    pub settings: Vec<Setting>,
}

impl ServiceOverride {
    pub fn parse(text: &str) -> Result<ServiceOverride, String> {
        let (service, rest) = text
            .trim()
            .split_once(':')
            .ok_or("expected NAME:KEY=VALUE,… such as payment:failures=3,open=2s")?;
        if service.is_empty() {
            return Err("empty service name".into());
        }
        let mut settings = Vec::new();
        for pair in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("`{pair}`: expected KEY=VALUE"))?;
            let number = |v: &str| {
                v.parse::<u32>()
                    .map_err(|_| format!("`{key}`: `{v}` is not a whole number"))
            };
            let when = |v: &str| duration::millis(v).map_err(|e| format!("`{key}`: {e}"));
            settings.push(match key {
                "failures" => Setting::Failures(number(value)?),
                "ratio" => Setting::Ratio(ratio(value).map_err(|e| format!("`ratio`: {e}"))?),
                "window" => Setting::Window(when(value)?),
                "min-calls" => Setting::MinCalls(number(value)?),
                "open" => Setting::Open(when(value)?),
                "open-max" => Setting::OpenMax(when(value)?),
                "probes" => Setting::Probes(number(value)?),
                "bulkhead" => Setting::Bulkhead(number(value)? as usize),
                other => {
                    return Err(format!(
                        "unknown key `{other}` (failures, ratio, window, min-calls, open, \
                         open-max, probes, bulkhead)"
                    ))
                }
            });
        }
        if settings.is_empty() {
            return Err(format!("`{service}`: no KEY=VALUE setting"));
        }
        Ok(ServiceOverride {
            service: service.to_owned(),
            settings,
        })
    }

    fn apply(&self, p: &mut Protection) {
        for s in &self.settings {
            match *s {
                Setting::Failures(n) => p.breaker.failures = n,
                Setting::Ratio(r) => p.breaker.ratio = r.0,
                Setting::Window(d) => p.breaker.window = d.get(),
                Setting::MinCalls(n) => p.breaker.min_calls = n,
                Setting::Open(d) => p.breaker.open = d.get(),
                Setting::OpenMax(d) => p.breaker.open_max = d.get(),
                Setting::Probes(n) => p.breaker.probes = n,
                Setting::Bulkhead(n) => p.bulkhead = n,
            }
        }
    }
}

impl fmt::Display for ServiceOverride {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pairs: Vec<String> = self
            .settings
            .iter()
            .map(|s| match s {
                Setting::Failures(n) => format!("failures={n}"),
                Setting::Ratio(r) => format!("ratio={r}"),
                Setting::Window(d) => format!("window={d}"),
                Setting::MinCalls(n) => format!("min-calls={n}"),
                Setting::Open(d) => format!("open={d}"),
                Setting::OpenMax(d) => format!("open-max={d}"),
                Setting::Probes(n) => format!("probes={n}"),
                Setting::Bulkhead(n) => format!("bulkhead={n}"),
            })
            .collect();
        write!(f, "{}:{}", self.service, pairs.join(","))
    }
}

impl ProtectionFlags {
    /// Every service's settings: the flags', and each override's on top of them.
    pub fn protection(&self) -> (Protection, HashMap<String, Protection>) {
        let default = Protection {
            breaker: BreakerConfig {
                failures: self.breaker_failures,
                ratio: self.breaker_ratio.0,
                window: self.breaker_window.get(),
                min_calls: self.breaker_min_calls,
                open: self.breaker_open.get(),
                open_max: self.breaker_open_max.get(),
                probes: self.breaker_probes,
            },
            bulkhead: self.bulkhead,
        };
        let mut per_service = HashMap::new();
        for o in &self.overrides {
            let p = per_service.entry(o.service.clone()).or_insert(default);
            o.apply(p);
        }
        (default, per_service)
    }

    /// `executor` with each of `services` behind its breaker and bulkhead, as these flags set
    /// them: how every worker (process, `dev`'s, the load tool's) calls the participants.
    pub fn protect<E>(&self, executor: E, services: &worker::Services) -> worker::Protected<E> {
        let (default, per_service) = self.protection();
        worker::Protected::new(executor, services.names(), default, &per_service)
    }

    /// Why these settings cannot work, naming the flag (or the override's service); `has`
    /// says whether a service has a URL (an override for none is a typo).
    pub fn problem(&self, has: &dyn Fn(&str) -> bool) -> Option<String> {
        if let Some(o) = self.overrides.iter().find(|o| !has(&o.service)) {
            return Some(format!(
                "--breaker-service names `{}`, which has no URL in --services",
                o.service
            ));
        }
        let (default, per_service) = self.protection();
        let mut all: Vec<(String, Protection)> = vec![(String::new(), default)];
        let mut named: Vec<_> = per_service.into_iter().collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        all.extend(named);
        for (service, p) in all {
            let flag = |name: &str| match service.is_empty() {
                true => format!("--breaker-{name}"),
                false => format!("--breaker-service {service}:{name}"),
            };
            let b = p.breaker;
            let problem = if b.failures == 0 {
                Some(format!("{} must be at least 1", flag("failures")))
            } else if b.window.is_zero() {
                Some(format!("{} must be above 0", flag("window")))
            } else if b.min_calls == 0 {
                Some(format!("{} must be at least 1", flag("min-calls")))
            } else if b.open.is_zero() {
                Some(format!(
                    "{} must be above 0 (an open breaker would let every call through)",
                    flag("open")
                ))
            } else if b.open_max < b.open {
                Some(format!(
                    "{} must not be below {}",
                    flag("open-max"),
                    flag("open")
                ))
            } else if b.probes == 0 {
                Some(format!(
                    "{} must be at least 1 (a half-open breaker would never close)",
                    flag("probes")
                ))
            } else if p.bulkhead == 0 {
                Some(match service.is_empty() {
                    true => "--bulkhead must be at least 1 (no call would go out)".into(),
                    false => format!("--breaker-service {service}:bulkhead must be at least 1"),
                })
            } else {
                None
            };
            if problem.is_some() {
                return problem;
            }
        }
        None
    }

    /// These settings as `sagaflow worker` flags.
    pub fn to_flags(&self) -> Vec<String> {
        let mut flags = vec![
            format!("--breaker-failures={}", self.breaker_failures),
            format!("--breaker-ratio={}", self.breaker_ratio),
            format!("--breaker-window={}", self.breaker_window),
            format!("--breaker-min-calls={}", self.breaker_min_calls),
            format!("--breaker-open={}", self.breaker_open),
            format!("--breaker-open-max={}", self.breaker_open_max),
            format!("--breaker-probes={}", self.breaker_probes),
            format!("--bulkhead={}", self.bulkhead),
        ];
        flags.extend(
            self.overrides
                .iter()
                .map(|o| format!("--breaker-service={o}")),
        );
        flags
    }
}
