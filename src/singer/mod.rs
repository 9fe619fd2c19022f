//! The Singer protocol, in our terms: messages and the one stdout writer, the catalog and
//! stream/field selection, the state file and its bookmarks, and JSON Schema generation from
//! record types. Nothing here knows about Bitbucket: streams are described to this module by
//! name, key properties, replication key and schema.

mod catalog;
mod emit;
mod schema;
mod state;

pub use catalog::{discover, CatalogError, Deselected, Selection, StreamDescription, StreamSelection};
pub use emit::{Emitter, Output, RenderedPage, WriteError, Writer};
pub use schema::record_schema;
pub use state::{Context, State, StateError};
