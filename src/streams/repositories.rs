//! `repositories` (legacy "List Team Repositories" and "List All Repositories for Owner"):
//! every repository of each workspace, incrementally by `updated_on`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::keyset::{self, KeysetRecord};
use super::{PartitionRun, Repository, Scope, StreamDef, StreamError, Timestamp};
use crate::bitbucket::MAX_PAGELEN;
use crate::singer::record_schema;

/// A repository (`GET /repositories/{workspace}`): the API object, read as such (so a bad
/// value is reported at its JSON path) and written flat beside the workspace key.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(from = "Repository<'a>")]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct RepositoryRecord<'a> {
    /// The workspace this record was read from.
    #[serde(skip_deserializing)]
    pub workspace_slug: String,
    /// The repository, as the API sends it (its `uuid` is the key, `updated_on` the
    /// replication key).
    #[serde(flatten)]
    pub repository: Repository<'a>,
}

impl<'a> From<Repository<'a>> for RepositoryRecord<'a> {
    fn from(repository: Repository<'a>) -> Self {
        RepositoryRecord {
            workspace_slug: String::new(),
            repository,
        }
    }
}

impl KeysetRecord for RepositoryRecord<'_> {
    fn replication_value(&self) -> Option<&Timestamp<'_>> {
        self.repository.updated_on.as_ref()
    }

    fn identity(&self) -> String {
        self.repository.uuid.to_string()
    }
}

super::borrowing!(Repositories => RepositoryRecord);

/// `repositories`: incremental on `updated_on`, one partition per workspace.
pub const REPOSITORIES: StreamDef = StreamDef {
    name: "repositories",
    key_properties: &["uuid"],
    replication_key: Some("updated_on"),
    selected_by_default: true,
    scope: Scope::Workspace,
    schema: record_schema::<RepositoryRecord>,
    read: |run| Box::pin(read(run)),
    family: None,
};

async fn read(run: PartitionRun) -> Result<(), StreamError> {
    let slug = run.workspace().to_string();
    let mut url = run.client.url(&["repositories", &slug]);
    url.query_pairs_mut()
        .append_pair("pagelen", &run.pagelen(MAX_PAGELEN));
    // The configured repository patterns apply here too: the stream lists what the run reads.
    let filter = crate::filter::RepositoryFilter::new(&run.settings)
        .map_err(|e| StreamError::Internal(e.to_string()))?;
    keyset::read::<Repositories, _>(&run, run.out(), url, "updated_on", |r| {
        r.workspace_slug = slug.clone();
        let repo_slug = r.repository.slug.map(|s| s.to_str()).or_else(|| {
            r.repository
                .full_name
                .and_then(|f| f.to_str().split('/').nth(1).map(|s| s.to_string().into()))
        });
        repo_slug.is_none_or(|s| filter.matches(&slug, &s))
    })
    .await
}
