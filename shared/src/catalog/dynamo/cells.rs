//! Cells: small JSON documents changed only by compare-and-swap on their version (the
//! store-wide leases, the table's layout version). One item each, at `cell#<name>` / `cell`,
//! holding `version` and `value` (the document as JSON text: it is opaque to DynamoDB).

use aws_sdk_dynamodb::types::AttributeValue;

use super::items::{s, Item, ATTR_KIND};
use super::requests::Conditional;
use super::{DynamoCatalog, ATTR_PK, ATTR_SK};
use crate::catalog::{CatalogError, Cell};

const CELL_SK: &str = "cell";

fn cell_pk(name: &str) -> String {
    format!("cell#{name}")
}

impl DynamoCatalog {
    pub(super) async fn cell(&self, name: &str) -> Result<Option<Cell>, CatalogError> {
        let Some(item) = self.get_item(&cell_pk(name), CELL_SK).await? else {
            return Ok(None);
        };
        let what = format!("cell {name}");
        let version = match item.get("version") {
            Some(AttributeValue::N(n)) => n.parse::<u64>().ok(),
            _ => None,
        }
        .ok_or_else(|| self.corrupt(&what, "no version"))?;
        let value = match item.get("value") {
            Some(AttributeValue::S(text)) => serde_json::from_str(text).ok(),
            _ => None,
        }
        .ok_or_else(|| self.corrupt(&what, "no readable value"))?;
        Ok(Some(Cell { version, value }))
    }

    pub(super) async fn put_cell(
        &self,
        name: &str,
        value: &serde_json::Value,
        expected: Option<u64>,
    ) -> Result<u64, CatalogError> {
        let next = expected.unwrap_or(0).saturating_add(1);
        let item: Item = [
            (ATTR_PK.to_string(), s(cell_pk(name))),
            (ATTR_SK.to_string(), s(CELL_SK)),
            (ATTR_KIND.to_string(), s("cell")),
            ("version".to_string(), AttributeValue::N(next.to_string())),
            ("value".to_string(), s(value.to_string())),
        ]
        .into_iter()
        .collect();
        let outcome = match expected {
            None => {
                self.put_if(
                    "create cell",
                    item,
                    "attribute_not_exists(#pk)",
                    &[("#pk", ATTR_PK)],
                    vec![],
                )
                .await?
            }
            Some(version) => {
                self.put_if(
                    "write cell",
                    item,
                    "#version = :version",
                    &[("#version", "version")],
                    vec![(":version", AttributeValue::N(version.to_string()))],
                )
                .await?
            }
        };
        match outcome {
            Conditional::Applied => Ok(next),
            Conditional::Failed { .. } => Err(CatalogError::Conflict {
                what: format!("cell {name}"),
                detail: format!("it changed since version {expected:?} was read"),
            }),
        }
    }
}
