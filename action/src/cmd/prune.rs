//! `backtrack prune`: retention plus blob garbage collection; a preview unless `--execute`.

use std::time::Duration;

use anyhow::{bail, Result};
use backtrack::catalog::LockInfo;
use backtrack::prune::{self, PruneOptions};
use backtrack::sanitize::quote;

use super::{print_json, Outcome};
use crate::cli::PruneArgs;
use crate::ctx::{parse_scope, Context};

/// The longest duration accepted: a century. Longer ones mean nothing for retention and
/// would overflow date arithmetic (a date before year −262,144 cannot be represented).
const MAX_DURATION_SECS: u64 = 100 * 366 * 86_400;

/// Parses `30d`, `12h`, `90m`, `2w`, `45s`.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let shape = || {
        anyhow::anyhow!(
            "duration {} must look like 30d, 12h, 90m or 2w",
            quote(text)
        )
    };
    let n: u64 = num.parse().map_err(|_| shape())?;
    let per = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => bail!(
            "duration {} has unknown unit {}; use s, m, h, d or w",
            quote(text),
            quote(unit)
        ),
    };
    match n.checked_mul(per) {
        Some(secs) if secs <= MAX_DURATION_SECS => Ok(Duration::from_secs(secs)),
        _ => bail!(
            "duration {} is longer than 100 years; use a shorter one",
            quote(text)
        ),
    }
}

pub async fn run(ctx: &Context, args: PruneArgs) -> Result<Outcome> {
    let scope = parse_scope(&args.scope)?;
    let opts = PruneOptions {
        keep_last: args.keep_last,
        keep_within: args
            .keep_within
            .as_deref()
            .map(parse_duration)
            .transpose()?,
        grace: parse_duration(&args.grace)?,
        ..PruneOptions::default()
    };
    let archive = ctx.archive().await?;
    // Holding the scope's lock keeps a rollback from reading a snapshot while it is dropped.
    let lock = LockInfo::new(&scope, "prune", Duration::from_secs(600));
    if args.execute {
        archive.catalog.lock(&lock).await?;
    }
    let result = async {
        let plan = prune::plan(&archive, &scope, &opts).await?;
        if args.execute {
            prune::apply(&archive, &plan).await?;
        }
        Ok::<_, anyhow::Error>(plan)
    }
    .await;
    if args.execute {
        archive.catalog.unlock(&scope, &lock.token).await?;
    }
    let plan = result?;
    if ctx.json {
        print_json(&serde_json::json!({"executed": args.execute, "plan": plan}))?;
    } else {
        println!("{plan}");
        if !args.execute && (!plan.drop.is_empty() || !plan.blobs.is_empty()) {
            println!("This was a preview; run again with --execute to delete.");
        }
    }
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("2w").unwrap(),
            Duration::from_secs(1_209_600)
        );
        assert_eq!(parse_duration("90m").unwrap(), Duration::from_secs(5_400));
        assert!(parse_duration("3 fortnights").is_err());
        assert!(parse_duration("d").is_err());
    }

    #[test]
    fn huge_durations_are_errors_not_overflows() {
        // u64::MAX days used to overflow the multiplication (a panic in debug builds).
        for text in ["18446744073709551615d", "99999999999w", "36600000d"] {
            let e = parse_duration(text).unwrap_err().to_string();
            assert!(e.contains("longer than 100 years"), "{e}");
        }
        assert!(parse_duration("36500d").is_ok());
        let e = parse_duration(&format!("{}x", "9".repeat(10_000)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("(10,001 characters)") && e.len() < 300, "{e}");
    }
}
