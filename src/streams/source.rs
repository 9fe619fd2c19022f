//! `directory_contents` (legacy "Get Directory Contents"): the files and directories of a
//! repository at a ref (`src_ref`, default its main branch), under `src_path`, down to
//! `src_max_depth` levels (1 = that directory, 0 = the whole tree), walking subdirectories
//! page by page. A snapshot: FULL_TABLE.

use std::collections::VecDeque;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::paged::read_all;
use super::{CommitRef, Links, PartitionRun, RepositoryKeys, Scope, StreamDef, StreamError, Text};
use super::{Flags, Int};
use crate::bitbucket::MAX_PAGELEN;
use crate::singer::record_schema;

/// A file or directory (`GET /repositories/{workspace}/{repo}/src/{ref}/{path}/`).
#[skip_serializing_none]
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct TreeEntryRecord<'a> {
    /// The workspace of the repository it was read from.
    #[serde(skip_deserializing)]
    pub workspace_slug: String,
    /// The repository it was read from.
    #[serde(skip_deserializing)]
    pub repository_slug: String,
    /// That repository's UUID (key).
    #[serde(skip_deserializing)]
    pub repository_uuid: String,
    /// The commit listed, copied from `commit.hash` (key).
    #[serde(skip_deserializing)]
    pub commit_hash: String,
    /// `commit_file` or `commit_directory`.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// The path from the repository root (key).
    pub path: Text<'a>,
    /// File size in bytes.
    pub size: Option<Int>,
    /// File attributes (`link`, `executable`, `subrepository`, `binary`, `lfs`).
    pub attributes: Option<Flags<'a>>,
    /// The path, escaped.
    pub escaped_path: Option<Text<'a>>,
    /// The MIME type, when known.
    pub mimetype: Option<Text<'a>>,
    /// The commit listed (not the last commit that changed the entry).
    pub commit: Option<CommitRef<'a>>,
    /// Links (`self`, `meta`, `history`).
    pub links: Option<Links<'a>>,
}

super::repository_keys!(TreeEntryRecord);
super::borrowing!(TreeEntries => TreeEntryRecord);

/// `directory_contents`: FULL_TABLE, one partition per repository.
pub const DIRECTORY_CONTENTS: StreamDef = StreamDef {
    name: "directory_contents",
    key_properties: &["repository_uuid", "commit_hash", "path"],
    replication_key: None,
    selected_by_default: true,
    scope: Scope::Repository,
    schema: record_schema::<TreeEntryRecord>,
    read: |run| Box::pin(read(run)),
    family: None,
};

async fn read(run: PartitionRun) -> Result<(), StreamError> {
    let repo = run.repository()?.clone();
    let Some(mut git_ref) = run.settings.src_ref.clone().or_else(|| repo.mainbranch.clone()) else {
        tracing::warn!(
            stream = "directory_contents",
            repository = %format!("{}/{}", repo.workspace, repo.slug),
            "Skipping `directory_contents` for {}/{}: the repository has no main branch (it is empty); set `src_ref` to list another ref.",
            repo.workspace,
            repo.slug
        );
        return Ok(());
    };
    let max_depth = run.settings.src_max_depth;
    // Breadth first: (directory path, its depth below the start, 1-based).
    let mut queue: VecDeque<(String, u32)> = VecDeque::from([(run.settings.src_path.clone(), 1)]);
    let mut resolved = false;
    while let Some((dir, depth)) = queue.pop_front() {
        let mut segments = vec!["repositories", &repo.workspace, &repo.slug, "src", &git_ref];
        segments.extend(dir.split('/').filter(|s| !s.is_empty()));
        segments.push(""); // the trailing slash lists the directory
        let mut url = run.client.url(&segments);
        url.query_pairs_mut()
            .append_pair("pagelen", &run.pagelen(MAX_PAGELEN));
        read_all::<TreeEntries, _>(&run, run.out(), url, |entry| {
            entry.set_repository_keys(&repo);
            entry.commit_hash = entry
                .commit
                .as_ref()
                .and_then(|c| c.hash)
                .map(|hash| hash.to_string())
                .unwrap_or_default();
            let is_dir = entry.kind.is_some_and(|kind| kind.to_str() == "commit_directory");
            if is_dir && (max_depth == 0 || depth < max_depth) {
                queue.push_back((entry.path.to_string(), depth + 1));
            }
            // List every later directory at the commit the first listing resolved the ref
            // to, so a branch that moves mid-walk cannot mix two trees.
            if !resolved && !entry.commit_hash.is_empty() {
                git_ref.clone_from(&entry.commit_hash);
                resolved = true;
            }
        })
        .await?;
    }
    Ok(())
}
