//! Jira issues embed copies of their project's components and versions (`components`,
//! `fixVersions`), and Jira moves no issue's `updated` when a component or version is
//! renamed, re-described, released, archived or deleted (deleting one strips it from every
//! issue). An incremental capture lists only issues updated since its parent, so without
//! this it would keep the parent's stale copies. This tells the capture engine which
//! definitions an issue carries, and re-derives a stored issue from new definitions: the
//! copies are swapped in the issue's raw JSON (in the form an issue embeds them), and the
//! normalized lists are rebuilt from it by the conversion's own code, so the result is the
//! record a full capture would make.
//!
//! An issue also holds copies of other issues (its parent, its subtasks, the other end of
//! each link: key, summary, status, priority, type). Those are issues, not definitions: the
//! capture does not re-derive them but lists the neighbours of every issue that changed,
//! arrived or left again (see `capture`), and finds the ones the parent snapshot knew from
//! what [`IssueEmbeds::embeds`] records for them.

use serde_json::{Map, Value};

use super::convert;
use crate::record::{JiraIssue, Record, RecordKey, RecordKind};
use crate::tracker::{Embedding, Refresh, TrackerError};

/// Issues carrying components and fix versions.
#[derive(Debug, Clone, Copy, Default)]
pub struct IssueEmbeds;

/// Where an issue keeps copies of a kind of definition, and which keys of the definition's
/// own JSON the copy keeps (Jira embeds a short form).
fn slot(kind: RecordKind) -> Option<(&'static str, &'static [&'static str])> {
    match kind {
        RecordKind::Component => Some(("components", &["self", "id", "name", "description"])),
        RecordKind::Version => Some((
            "fixVersions",
            &[
                "self",
                "id",
                "name",
                "description",
                "archived",
                "released",
                "releaseDate",
            ],
        )),
        _ => None,
    }
}

/// The copy of a definition an issue keeps.
fn copy_of(definition: &Record) -> Option<Value> {
    let (kind, raw) = match definition {
        Record::Component(c) => (RecordKind::Component, &c.raw),
        Record::Version(v) => (RecordKind::Version, &v.raw),
        _ => return None,
    };
    let (_, keys) = slot(kind)?;
    let object = raw.as_object()?;
    let copy: Map<String, Value> = keys
        .iter()
        .filter_map(|k| object.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect();
    Some(Value::Object(copy))
}

fn id_of(copy: &Value) -> Option<u64> {
    match copy.get("id")? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

impl Embedding for IssueEmbeds {
    fn carriers(&self) -> &[RecordKind] {
        &[RecordKind::JiraIssue]
    }

    fn definitions(&self) -> &[RecordKind] {
        &[RecordKind::Component, RecordKind::Version]
    }

    fn embeds(&self, record: &Record) -> Option<Vec<RecordKey>> {
        let Record::JiraIssue(JiraIssue { raw, .. }) = record else {
            return None;
        };
        let fields = raw.get("fields").filter(|f| f.is_object())?;
        let mut keys = Vec::new();
        for kind in [RecordKind::Component, RecordKind::Version] {
            let (field, _) = slot(kind)?;
            keys.extend(
                fields
                    .get(field)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(id_of)
                    .map(|id| RecordKey::new(kind, id)),
            );
        }
        keys.extend(
            convert::related(raw)
                .into_iter()
                .map(|id| RecordKey::new(RecordKind::JiraIssue, id)),
        );
        Some(keys)
    }

    fn copy_changed(&self, old: &Record, new: &Record) -> bool {
        copy_of(old) != copy_of(new)
    }

    fn rederive(&self, record: Record, refresh: &Refresh) -> Result<Record, TrackerError> {
        let Record::JiraIssue(mut issue) = record else {
            return Ok(record);
        };
        let Some(fields) = issue.raw.get_mut("fields").and_then(Value::as_object_mut) else {
            return Err(TrackerError::Decode {
                service: "Jira".into(),
                path: format!("issue {} as stored", issue.key),
                detail: "it has no raw JSON to re-derive it from; take a full snapshot (--full)"
                    .into(),
            });
        };
        for kind in [RecordKind::Component, RecordKind::Version] {
            let Some((field, _)) = slot(kind) else {
                continue;
            };
            if let Some(copies) = fields.get_mut(field).and_then(Value::as_array_mut) {
                copies.retain_mut(|copy| {
                    let Some(id) = id_of(copy) else {
                        return true;
                    };
                    match refresh.get(&RecordKey::new(kind, id)) {
                        // Deleted: Jira strips it from every issue.
                        Some(None) => false,
                        Some(Some(current)) => {
                            if let Some(new) = copy_of(current) {
                                *copy = new;
                            }
                            true
                        }
                        None => true,
                    }
                });
            }
        }
        issue.components = convert::sorted_refs(fields.get("components"));
        issue.fix_versions = convert::sorted_refs(fields.get("fixVersions"));
        Ok(Record::JiraIssue(issue))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::blob::canonical_json;
    use crate::tracker::jira::convert::{Context, CustomFields};
    use serde_json::json;

    fn cx(fields: &CustomFields) -> Context<'_> {
        Context {
            site: "https://acme.atlassian.net",
            fields,
            path: "/test",
        }
    }

    fn component(id: u64, name: &str, description: Option<&str>) -> Value {
        let mut c = json!({
            "self": format!("https://acme.atlassian.net/rest/api/3/component/{id}"),
            "id": id.to_string(), "name": name, "assigneeType": "PROJECT_DEFAULT",
            "project": "PROJ", "projectId": 10000,
        });
        if let Some(d) = description {
            c["description"] = json!(d);
        }
        c
    }

    fn version(id: u64, name: &str, released: bool) -> Value {
        json!({
            "self": format!("https://acme.atlassian.net/rest/api/3/version/{id}"),
            "id": id.to_string(), "name": name, "archived": false, "released": released,
            "projectId": 10000, "releaseDate": "2025-03-01",
        })
    }

    /// An issue as a search returns it, embedding short copies of these definitions.
    fn listed(components: &[Value], versions: &[Value]) -> Value {
        let short = |v: &Value, keys: &[&str]| {
            Value::Object(
                keys.iter()
                    .filter_map(|k| v.get(*k).map(|x| (k.to_string(), x.clone())))
                    .collect(),
            )
        };
        json!({
            "id": "10042", "key": "PROJ-42",
            "fields": {
                "summary": "Crash", "labels": [],
                "components": components.iter().map(|c| short(c, &["self", "id", "name", "description"])).collect::<Vec<_>>(),
                "fixVersions": versions.iter().map(|v| short(v, &["self", "id", "name", "description", "archived", "released", "releaseDate"])).collect::<Vec<_>>(),
                "created": "2025-01-01T00:00:00.000+0000", "updated": "2025-01-02T00:00:00.000+0000"
            }
        })
    }

    fn issue(raw: Value) -> Record {
        let f = CustomFields::default();
        Record::JiraIssue(convert::issue(raw, &cx(&f)).unwrap().0)
    }

    fn definition(kind: RecordKind, raw: Value) -> Record {
        let f = CustomFields::default();
        match kind {
            RecordKind::Component => Record::Component(convert::component(raw, &cx(&f)).unwrap()),
            _ => Record::Version(convert::version(raw, &cx(&f)).unwrap()),
        }
    }

    #[test]
    fn rederived_issues_are_byte_identical_to_fresh_conversions() {
        let (api, ui) = (
            component(1, "API", None),
            component(2, "UI", Some("screens")),
        );
        let v1 = version(7, "1.0", false);
        let stored = issue(listed(
            &[api.clone(), ui.clone()],
            std::slice::from_ref(&v1),
        ));
        assert_eq!(
            IssueEmbeds.embeds(&stored).unwrap(),
            [
                RecordKey::new(RecordKind::Component, 1),
                RecordKey::new(RecordKind::Component, 2),
                RecordKey::new(RecordKind::Version, 7)
            ]
        );
        // Rename API, delete UI, release 1.0.
        let backend = component(1, "Backend", Some("server side"));
        let v1_released = version(7, "1.0", true);
        let old_api = definition(RecordKind::Component, api);
        let new_api = definition(RecordKind::Component, backend.clone());
        assert!(IssueEmbeds.copy_changed(&old_api, &new_api));
        let mut refresh = Refresh::new();
        refresh.insert(RecordKey::new(RecordKind::Component, 1), Some(new_api));
        refresh.insert(RecordKey::new(RecordKind::Component, 2), None);
        refresh.insert(
            RecordKey::new(RecordKind::Version, 7),
            Some(definition(RecordKind::Version, v1_released.clone())),
        );
        let rederived = IssueEmbeds.rederive(stored, &refresh).unwrap();
        let fresh = issue(listed(&[backend], &[v1_released]));
        assert_eq!(
            canonical_json(&rederived).unwrap(),
            canonical_json(&fresh).unwrap()
        );
    }

    #[test]
    fn a_change_to_what_issues_do_not_copy_reaches_no_issue() {
        let mut led = component(1, "API", None);
        led["lead"] = json!({"accountId": "a1", "displayName": "Ann"});
        let old = definition(RecordKind::Component, component(1, "API", None));
        let new = definition(RecordKind::Component, led);
        assert!(!IssueEmbeds.copy_changed(&old, &new));
    }
}
