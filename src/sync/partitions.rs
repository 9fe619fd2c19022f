//! What a sync reads: the workspaces (configured, or every one the credential can see) and
//! their repositories, narrowed by the `repositories` / `exclude_repositories` patterns.
//! The first request of a run is the workspace check, so bad credentials fail at once.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::bitbucket::{ApiError, Client, Page, MAX_PAGELEN};
use crate::config::Settings;
use crate::error::Error;
use crate::filter::RepositoryFilter;
use crate::streams::{hash_of, Followed, RepositoryInfo, WorkspaceInfo};

/// The workspaces of the run. Configured ones are each fetched (which checks they exist and
/// serves the `workspaces` stream); otherwise `GET /user/workspaces` lists them.
pub async fn list_workspaces(client: &Client, settings: &Settings) -> Result<Vec<WorkspaceInfo>, Error> {
    let Some(configured) = &settings.workspaces else {
        return discover_workspaces(client, &settings.api_url, settings.pagelen(MAX_PAGELEN)).await;
    };
    let mut out = Vec::new();
    for slug in configured {
        let url = client.url(&["workspaces", slug]);
        match client.get_json::<Value>(&url).await {
            Ok(object) => out.push(WorkspaceInfo {
                slug: slug.clone(),
                object: Some(Arc::new(object)),
            }),
            Err(e) if e.status() == Some(404) => {
                return Err(Error::Fatal(format!(
                    "workspace `{slug}` does not exist or this credential cannot see it ({e}){}",
                    api_root_hint(&settings.api_url)
                )))
            }
            Err(e) if e.status() == Some(403) => {
                tracing::warn!(workspace = %slug, "Cannot read workspace `{slug}` itself ({e}); its repositories are still read.");
                out.push(WorkspaceInfo {
                    slug: slug.clone(),
                    object: None,
                });
            }
            Err(e) => return Err(credential_error(e)),
        }
    }
    Ok(out)
}

/// A hint for a 404 on the first request when `api_url` does not look like Bitbucket's API
/// root (`…/2.0`): the server then answers 404 to every path, and the workspace is not the
/// cause.
fn api_root_hint(api_url: &url::Url) -> String {
    if api_url.path().trim_end_matches('/').ends_with("/2.0") {
        String::new()
    } else {
        format!(
            "; or `api_url` is not the API root: it is {}, and Bitbucket's ends in /2.0 \
             (https://api.bitbucket.org/2.0)",
            crate::bitbucket::shown(api_url)
        )
    }
}

#[derive(Deserialize)]
struct WorkspaceAccess {
    workspace: Option<WorkspaceBase>,
}

#[derive(Deserialize)]
struct WorkspaceBase {
    slug: Option<String>,
}

async fn discover_workspaces(
    client: &Client,
    api_url: &url::Url,
    pagelen: String,
) -> Result<Vec<WorkspaceInfo>, Error> {
    let mut url = client.url(&["user", "workspaces"]);
    url.query_pairs_mut().append_pair("pagelen", &pagelen);
    let mut out = Vec::new();
    let mut followed = Followed::default();
    loop {
        let page: Page<WorkspaceAccess> = client.get_page(&url).await.map_err(|e| {
            if e.status() == Some(404) && !api_root_hint(api_url).is_empty() {
                Error::Fatal(format!("{e}{}", api_root_hint(api_url)))
            } else {
                credential_error(e)
            }
        })?;
        let first = page
            .values
            .first()
            .and_then(|a| a.workspace.as_ref()?.slug.as_ref())
            .map(hash_of);
        out.extend(
            page.values
                .into_iter()
                .filter_map(|a| a.workspace.and_then(|w| w.slug))
                .map(|slug| WorkspaceInfo { slug, object: None }),
        );
        match page.next {
            Some(next) => url = followed.next_url(client, &url, &next, first)?,
            None => break,
        }
    }
    if out.is_empty() {
        tracing::warn!("The credential sees no workspace; set `workspace` or `workspaces` in the config.");
    }
    Ok(out)
}

/// A failed first request: a 401 is the credential's fault and says so.
fn credential_error(e: ApiError) -> Error {
    if e.status() == Some(401) {
        Error::Fatal(format!("Bitbucket refused the credentials: {e}"))
    } else {
        Error::Api(e)
    }
}

/// The fields of a listed repository that make a partition.
#[derive(Deserialize)]
struct RepositoryListing {
    uuid: String,
    slug: Option<String>,
    full_name: Option<String>,
    mainbranch: Option<MainBranch>,
}

/// A repository's main branch, as listed.
#[derive(Deserialize)]
struct MainBranch {
    name: Option<String>,
}

/// Every repository of the workspaces that the patterns keep. A literal name that matches
/// no repository is an error; a pattern that matches none is a warning.
pub async fn list_repositories(
    client: &Client,
    settings: &Settings,
    workspaces: &[WorkspaceInfo],
) -> Result<Vec<RepositoryInfo>, Error> {
    let filter = RepositoryFilter::new(settings)?;
    let mut out = Vec::new();
    for ws in workspaces {
        let mut url = client.url(&["repositories", &ws.slug]);
        url.query_pairs_mut()
            .append_pair("pagelen", &settings.pagelen(MAX_PAGELEN));
        let mut followed = Followed::default();
        loop {
            let page: Page<RepositoryListing> = client.get_page(&url).await?;
            let first = page.values.first().map(|r| hash_of(&r.uuid));
            for r in page.values {
                let slug = r.slug.or_else(|| {
                    r.full_name
                        .and_then(|f| f.split_once('/').map(|(_, s)| s.to_string()))
                });
                let Some(slug) = slug else { continue };
                if filter.matches(&ws.slug, &slug) {
                    out.push(RepositoryInfo {
                        workspace: ws.slug.clone(),
                        slug,
                        uuid: r.uuid,
                        mainbranch: r.mainbranch.and_then(|b| b.name),
                    });
                }
            }
            match page.next {
                Some(next) => url = followed.next_url(client, &url, &next, first)?,
                None => break,
            }
        }
    }
    let listed: Vec<(&str, &str)> = out
        .iter()
        .map(|r| (r.workspace.as_str(), r.slug.as_str()))
        .collect();
    for unmatched in filter.unmatched_includes(&listed) {
        if unmatched.literal {
            return Err(Error::Fatal(format!(
                "repository `{}` (config key `repositories`) does not exist in workspace(s) {}",
                unmatched.pattern,
                workspaces
                    .iter()
                    .map(|w| format!("`{}`", w.slug))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        tracing::warn!(
            "The repository pattern `{}` matches no repository.",
            unmatched.pattern
        );
    }
    // Sharding applies after the checks above: a literal name in another shard exists.
    let shard = super::Shard::of(settings);
    out.retain(|r| shard.owns_repository(&r.workspace, &r.slug));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::api_root_hint;

    #[test]
    fn a_not_found_workspace_points_at_an_api_url_without_the_version() {
        let hint = |u: &str| api_root_hint(&url::Url::parse(u).unwrap());
        assert_eq!(hint("https://api.bitbucket.org/2.0"), "");
        assert_eq!(hint("http://127.0.0.1:7990/2.0/"), "");
        assert!(hint("https://api.bitbucket.org").contains("ends in /2.0"));
        assert!(hint("https://bitbucket.org/api").contains("it is https://bitbucket.org/api"));
        // Never a credential written into the URL.
        let hint = hint("https://x-token-auth:SECRET@bitbucket.org/api?token=SECRET2");
        assert!(!hint.contains("SECRET"), "{hint}");
    }
}
