//! Issue 19 item 3: a snapshot whose budget runs out stops cleanly as `partial` (never read
//! as completed), and the next run continues from its checkpoint to one completed snapshot
//! equal, blob by blob, to an uninterrupted one — through REST and through GraphQL.

use serde_json::Value;

use crate::graphql::{assert_same, snapshot};
use crate::util::{SandboxProc, User};

#[test]
fn a_snapshot_out_of_budget_ends_partial_and_the_next_run_completes_it() {
    let sandbox = SandboxProc::start(&["--issues", "300", "--comments", "1500", "--seed", "23"]);
    let whole = User::new(&sandbox);
    let reference = snapshot(&whole, &["--api", "rest"]);
    assert_eq!(reference["status"], "completed", "{reference}");
    for api in ["rest", "graphql"] {
        let user = User::new(&sandbox);
        let first = snapshot(&user, &["--api", api, "--max-requests", "5"]);
        assert_eq!(first["status"], "partial", "{api}: {first}");
        let held = |r: &Value, k: &str| r["counts"][k].as_u64().unwrap();
        assert!(
            held(&first, "issues") < held(&reference, "issues")
                || held(&first, "comments") < held(&reference, "comments"),
            "{api}: a budget of 5 requests cannot read 300 issues and 1,500 comments: {first}"
        );
        assert!(first["requests"].as_u64().unwrap() <= 8, "{api}: {first}");

        // Listed as partial; `latest` (the newest completed snapshot) is not it.
        let list = user.run(&["--json", "snapshot", "list"]).ok().json();
        let statuses: Vec<&str> = list
            .as_array()
            .or_else(|| list["snapshots"].as_array())
            .unwrap()
            .iter()
            .map(|e| e["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses, ["partial"], "{api}: {list}");
        let latest = user.run(&["snapshot", "show", "latest"]);
        assert_ne!(
            latest.code, 0,
            "{api}: `latest` must not resolve to a partial snapshot"
        );

        let second = snapshot(&user, &["--api", api]);
        assert_eq!(second["status"], "completed", "{api}: {second}");
        assert_eq!(second["mode"], "incremental", "{api}: {second}");
        assert_eq!(second["parent"], first["id"], "{api}: {second}");
        assert_same((&whole, &reference), (&user, &second), &sandbox.url);
    }
}
