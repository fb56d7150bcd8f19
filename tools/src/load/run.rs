//! One run of the load tool against a target: seed it, set its faults, offer each profile's
//! load in turn while the workers' breakers are sampled, then read how every workflow ended.

use super::drive::{self, Driver};
use super::profile::{Mode, Profile};
use super::resources::Probe;
use super::stats::{self, ProfileSummary, Record};
use super::system::Target;
use super::{breakers, collect, output, seed, LoadArgs};
use anyhow::Context;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a run produced: every workflow's record, each profile's summary, the breakers'
/// samples.
pub(super) type Ran = (Vec<Record>, Vec<ProfileSummary>, Vec<breakers::Sample>);

/// Seeds, sets faults, runs every profile in order and reads how its workflows ended.
pub(super) async fn run_profiles(
    args: &LoadArgs,
    target: &Target,
    profiles: Vec<Profile>,
) -> anyhow::Result<Ran> {
    let client = args
        .client
        .builder(&target.api)?
        .timeout(Duration::from_secs(60))
        .build()
        .context("building the HTTP client")?;
    let tag = format!(
        "{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    );
    let fixtures = seed::seed(&client, &target.services, args.buyers, args.products, &tag).await?;
    if args.faults > 0.0 {
        seed::set_payment_faults(&client, &target.services, args.faults).await?;
    }
    let probe = Probe::start(target.pids.clone(), args.mysql_url.clone())
        .own_databases(vec![format!("{}_", args.database_prefix)]);
    let sampler = breakers::Sampler::start(target.worker_metrics.clone());
    let (mut records, mut summaries) = (Vec::new(), Vec::<ProfileSummary>::new());
    for (i, mut profile) in profiles.into_iter().enumerate() {
        if profile.name == "medium" && args.choice_adapts_medium() {
            if let Some(heavy) = summaries.iter().find(|s| s.name == "heavy") {
                let rate_per_s = (heavy.throughput_per_s / 2.0).round().max(1.0);
                profile.mode = Mode::Open { rate_per_s };
            }
        }
        let driver = Arc::new(Driver {
            client: client.clone(),
            api: target.api.clone(),
            fixtures: fixtures.clone(),
            mix: args.mix,
            seed: args.seed.wrapping_add(i as u64),
        });
        let finish = args.finish_timeout.get();
        let (mine, summary) = run_one(driver, &profile, &probe, finish).await;
        summaries.push(summary);
        records.extend(mine);
    }
    let breaker_samples = sampler.finish();
    if args.faults > 0.0 {
        seed::set_payment_faults(&client, &target.services, 0.0).await?;
    }
    Ok((records, summaries, breaker_samples))
}

/// One profile: offers its load, measures what it cost, then reads how each workflow ended
/// (waiting at most `finish` for the last ones).
async fn run_one(
    driver: Arc<Driver>,
    profile: &Profile,
    probe: &Probe,
    finish: Duration,
) -> (Vec<Record>, ProfileSummary) {
    let (client, api) = (driver.client.clone(), driver.api.clone());
    eprintln!(
        "{}: {} for {:.0} s",
        profile.name,
        profile.mode,
        profile.duration.as_secs_f64()
    );
    let before = probe.snapshot().await;
    let submissions = drive::drive(driver, profile).await;
    let accepted = submissions.iter().filter(|s| s.result.is_ok()).count() as u64;
    let usage = probe.usage(&before, accepted).await;
    let ids: Vec<String> = submissions
        .iter()
        .filter_map(|s| s.result.clone().ok())
        .collect();
    let deadline = Instant::now() + finish;
    let mut ended = collect::collect(&client, &api, ids, deadline)
        .await
        .into_iter();
    let records: Vec<Record> = submissions
        .into_iter()
        .map(|s| Record {
            profile: profile.name.clone(),
            case: s.case,
            sent_ms: s.sent_ms,
            ended: s.result.as_ref().ok().and_then(|_| ended.next().flatten()),
            submit: s.result,
        })
        .collect();
    let mut summary = stats::summarize(profile, &records);
    summary.resources = Some(usage);
    eprintln!("{}", output::line(&summary));
    (records, summary)
}
