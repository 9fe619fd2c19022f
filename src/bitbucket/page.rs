//! The page envelope every Bitbucket collection uses.

use serde::Deserialize;

/// One page of a collection. Only `values` is guaranteed; `next` is absent on the last page.
/// List-based collections also carry `page`, `size` and `previous`; iterator-based ones
/// (commits, activity) carry an opaque cursor in `next` and nothing else.
#[derive(Debug, Deserialize)]
pub struct Page<T> {
    /// The records of this page.
    pub values: Vec<T>,
    /// The absolute URL of the next page, when there is one.
    #[serde(default)]
    pub next: Option<String>,
    /// The page number, on list-based collections.
    #[serde(default)]
    pub page: Option<u64>,
    /// The page size the server used.
    #[serde(default)]
    pub pagelen: Option<u64>,
    /// The collection size, when the server computed it.
    #[serde(default)]
    pub size: Option<u64>,
}
