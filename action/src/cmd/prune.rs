//! `backtrack prune`: retention plus blob garbage collection; a preview unless `--execute`.

use std::time::Duration;

use anyhow::{bail, Result};
use backtrack::catalog::LockInfo;
use backtrack::prune::{self, PruneOptions};

use super::{print_json, Outcome};
use crate::cli::PruneArgs;
use crate::ctx::{parse_scope, Context};

/// Parses `30d`, `12h`, `90m`, `2w`, `45s`.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| anyhow::anyhow!("duration {text:?} must look like 30d, 12h, 90m or 2w"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        "w" => n * 7 * 86_400,
        _ => bail!("duration {text:?} has unknown unit {unit:?}; use s, m, h, d or w"),
    };
    Ok(Duration::from_secs(secs))
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
    let archive = ctx.archive()?;
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
}
