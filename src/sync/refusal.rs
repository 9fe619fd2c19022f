//! When an endpoint says no (spec §3): which refusals skip a partition, a whole repository or
//! a whole stream, which stop the run, and the one-line warning each gives, naming the stream,
//! the repository and what would let the tap read it.
//!
//! - 410: the endpoint was removed: one warning per stream naming the removal and what to
//!   use instead; its other partitions are not requested.
//! - 401 or 403 on a permission-limited or user-scoped stream, or on the Pipelines streams
//!   (which have a scope of their own): that partition is skipped, naming the permission,
//!   scope or credential kind needed.
//! - 403 on any other stream of a repository: the repository is closed to this credential;
//!   every stream of it is skipped for the rest of the run.
//! - 404 "no issue tracker" on an issue-tracker stream: skipped quietly.
//! - 404 or 409 elsewhere (a repository deleted mid-run, an empty one): skipped with a warning.
//! - 401 elsewhere, and every other failure: the run stops.

use crate::bitbucket::ApiError;
use crate::streams::Partition;

/// What a refused partition means for the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The run stops with the error.
    Fatal,
    /// The partition is skipped, logged at debug level only (an expected absence).
    SkipQuietly(String),
    /// The partition is skipped with this warning.
    Skip(String),
    /// This and every later stream of the partition's repository are skipped, with this
    /// warning.
    CloseRepository(String),
    /// The endpoint is gone: this warning once for the stream, and none of its other
    /// partitions is requested.
    Removed(String),
}

/// Judges a partition of `stream` (the family whose endpoint failed) that failed with
/// `error`; `shown` names the streams that were being read, and `credential` the kind of
/// credential the run uses (`access token`, `API token`, …), for the messages.
pub fn judge(
    stream: &str,
    shown: &str,
    partition: &Partition,
    error: &ApiError,
    credential: &str,
) -> Verdict {
    let Some(status) = error.status() else {
        return Verdict::Fatal;
    };
    let place = place(partition);
    match (status, limited_need(stream)) {
        (410, _) => Verdict::Removed(format!(
            "`{shown}` returns no records: {} ({error}).",
            removal(stream)
        )),
        (401 | 403, Some(need)) => Verdict::Skip(format!(
            "Skipping `{shown}`{place}: it needs {need}, and Bitbucket refused the {credential} used ({error})."
        )),
        (401, None) => Verdict::Fatal,
        (403, None) => {
            let (oauth, api_token) = scopes(stream);
            let need = format!(
                "read access (OAuth scope `{oauth}`, API-token scope `{api_token}` for `{shown}`)"
            );
            match partition {
                Partition::Repository(repo) => Verdict::CloseRepository(format!(
                    "Skipping every stream of repository `{}/{}` from `{shown}` on: it needs {need}, and Bitbucket refused the {credential} used ({error}).",
                    repo.workspace, repo.slug
                )),
                _ => Verdict::Skip(format!(
                    "Skipping `{shown}`{place}: it needs {need}, and Bitbucket refused the {credential} used ({error})."
                )),
            }
        }
        (404, _) if is_issue_tracker_stream(stream) && mentions_issue_tracker(error) => {
            Verdict::SkipQuietly(format!(
                "Skipping `{shown}`{place}: the repository has no issue tracker ({error})."
            ))
        }
        (404, _) if is_pipelines_stream(stream) && matches!(partition, Partition::Repository(_)) => {
            Verdict::Skip(format!(
            "Skipping `{shown}`{place}: Bitbucket does not find it (Pipelines never enabled for \
             this repository, or a repository deleted or renamed during the run) ({error})."
            ))
        }
        (404, _) => Verdict::Skip(format!(
            "Skipping `{shown}`{place}: Bitbucket {} ({error}).",
            not_found(partition)
        )),
        (409, _) => Verdict::Skip(format!(
            "Skipping `{shown}`{place}: Bitbucket cannot list it in its current state (an empty repository, or one being changed) ({error})."
        )),
        _ => Verdict::Fatal,
    }
}

/// ` for repository `ws/slug``, ` for workspace `ws``, or nothing (user-level streams).
fn place(partition: &Partition) -> String {
    match partition {
        Partition::Repository(repo) => format!(" for repository `{}/{}`", repo.workspace, repo.slug),
        Partition::Workspace(ws) => format!(" for workspace `{}`", ws.slug),
        Partition::Global => String::new(),
    }
}

/// Whether a stream reads a Pipelines endpoint (answered 404 in a repository that never
/// enabled Pipelines; usually with a message naming Pipelines, which ends the read quietly
/// before it gets here).
fn is_pipelines_stream(stream: &str) -> bool {
    matches!(stream, "pipelines" | "environments" | "deployments")
}

/// What a 404 most likely means for a partition that was listed a moment ago.
fn not_found(partition: &Partition) -> &'static str {
    match partition {
        Partition::Repository(_) => {
            "no longer finds it (a repository deleted or renamed during the run, or one without \
             commits or main branch)"
        }
        Partition::Workspace(_) => "no longer finds it (a workspace deleted or renamed during the run)",
        Partition::Global => "does not find it",
    }
}

/// What Bitbucket removed behind a stream, and what to use instead.
fn removal(stream: &str) -> &'static str {
    if is_issue_tracker_stream(stream) {
        "Bitbucket removed issue trackers and their API on 2026-08-20 (CHANGE-3071); Atlassian's \
         replacement is Jira, so extract issues from Jira instead, and deselect this stream to \
         silence this warning"
    } else if stream == "public_repositories" {
        "Bitbucket removed the global repository list `GET /2.0/repositories` (CHANGE-2770); use \
         the `repositories` stream with `workspaces` set instead (public repositories have \
         `is_private: false`)"
    } else {
        "Bitbucket removed its endpoint"
    }
}

/// What a permission-limited or user-scoped stream needs beyond read access; `None` for the
/// others.
fn limited_need(stream: &str) -> Option<&'static str> {
    match stream {
        "branch_restrictions" => Some(
            "admin permission on the repository (OAuth scope `repository:admin`, API-token scope \
             `admin:repository:bitbucket`)",
        ),
        "repository_permissions" | "group_permissions" => Some(
            "admin permission on the repository, with a user credential (an API token, \
             `email` + `api_token`, or OAuth; access tokens cannot read permissions)",
        ),
        "users" => Some(
            "a user credential (an API token, `email` + `api_token`, with scope \
             `read:user:bitbucket`, or OAuth with scope `account`; access tokens are not users)",
        ),
        "account_emails" => Some(
            "a user credential (an API token, `email` + `api_token`, with scope \
             `read:user:bitbucket`, or OAuth with scope `email`; access tokens are not users)",
        ),
        // Pipelines have a scope of their own: a credential without it still reads the
        // repository, so its refusal skips these streams, not the repository.
        "pipelines" | "environments" | "deployments" => Some(
            "the Pipelines scope (OAuth and access-token scope `pipeline`, API-token scope \
             `read:pipeline:bitbucket`)",
        ),
        _ => None,
    }
}

/// The scopes a stream needs: (OAuth scope, API-token scope).
fn scopes(stream: &str) -> (&'static str, &'static str) {
    match stream {
        "pullrequests" | "pullrequest_activity" => ("pullrequest", "read:pullrequest:bitbucket"),
        "pipelines" | "environments" | "deployments" => ("pipeline", "read:pipeline:bitbucket"),
        "workspaces" | "workspace_members" => ("account", "read:workspace:bitbucket"),
        s if is_issue_tracker_stream(s) => ("issue", "read:issue:bitbucket"),
        _ => ("repository", "read:repository:bitbucket"),
    }
}

fn is_issue_tracker_stream(stream: &str) -> bool {
    matches!(stream, "issue_components" | "issue_versions" | "issue_milestones")
}

/// Whether a 404 says the repository has no issue tracker (Bitbucket: "Repository has no
/// issue tracker."), rather than that the repository is gone.
fn mentions_issue_tracker(error: &ApiError) -> bool {
    match error {
        ApiError::Status { message, .. } => message.to_ascii_lowercase().contains("issue tracker"),
        ApiError::Exhausted { last, .. } => mentions_issue_tracker(last),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::streams::{RepositoryInfo, WorkspaceInfo};

    fn status(status: u16, message: &str) -> ApiError {
        ApiError::Status {
            status,
            endpoint: "/2.0/repositories/globex/api/x".into(),
            message: message.into(),
            retry_after: None,
        }
    }

    fn repo() -> Partition {
        Partition::Repository(RepositoryInfo {
            workspace: "globex".into(),
            slug: "api".into(),
            uuid: "{1}".into(),
            mainbranch: None,
        })
    }

    fn verdict(stream: &str, partition: &Partition, code: u16, message: &str) -> Verdict {
        judge(stream, stream, partition, &status(code, message), "access token")
    }

    #[test]
    fn permission_limited_streams_skip_the_partition_naming_the_need() {
        for stream in [
            "branch_restrictions",
            "repository_permissions",
            "group_permissions",
        ] {
            for code in [401, 403] {
                let Verdict::Skip(text) = verdict(stream, &repo(), code, "Forbidden") else {
                    panic!("{stream} {code}");
                };
                assert!(text.contains(stream) && text.contains("`globex/api`"), "{text}");
                assert!(
                    text.contains("admin permission") && text.contains("access token"),
                    "{text}"
                );
            }
        }
        let Verdict::Skip(text) = verdict("account_emails", &Partition::Global, 403, "no") else {
            panic!("account_emails");
        };
        assert!(
            text.contains("user credential") && !text.contains(" for "),
            "{text}"
        );
    }

    #[test]
    fn a_credential_without_the_pipelines_scope_skips_only_those_streams() {
        for stream in ["pipelines", "environments", "deployments"] {
            let Verdict::Skip(text) = verdict(stream, &repo(), 403, "Forbidden") else {
                panic!("{stream}");
            };
            assert!(
                text.contains("read:pipeline:bitbucket") && text.contains("`globex/api`"),
                "{text}"
            );
        }
    }

    #[test]
    fn a_plain_not_found_on_a_pipelines_stream_names_pipelines_first() {
        for stream in ["pipelines", "environments", "deployments"] {
            let Verdict::Skip(text) = verdict(stream, &repo(), 404, "Not found") else {
                panic!("{stream}");
            };
            assert!(
                text.contains("Pipelines never enabled") && text.contains("`globex/api`"),
                "{text}"
            );
        }
        let Verdict::Skip(text) = verdict("commits", &repo(), 404, "Not found") else {
            panic!("commits");
        };
        assert!(!text.contains("Pipelines"), "{text}");
    }

    #[test]
    fn forbidden_elsewhere_closes_the_repository_and_unauthorized_is_fatal() {
        assert!(matches!(
            verdict("pullrequests", &repo(), 403, "Forbidden"),
            Verdict::CloseRepository(text) if text.contains("every stream of repository `globex/api`")
                && text.contains("read:pullrequest:bitbucket")
        ));
        assert_eq!(verdict("commits", &repo(), 401, "Unauthorized"), Verdict::Fatal);
        let ws = Partition::Workspace(WorkspaceInfo {
            slug: "globex".into(),
            object: None,
        });
        assert!(matches!(
            verdict("workspace_members", &ws, 403, "no"),
            Verdict::Skip(_)
        ));
        assert_eq!(verdict("commits", &repo(), 500, "boom"), Verdict::Fatal);
    }

    #[test]
    fn removals_name_the_change_and_the_replacement() {
        let Verdict::Removed(text) = verdict("issue_versions", &repo(), 410, "Gone") else {
            panic!("410");
        };
        assert!(text.contains("2026-08-20") && text.contains("Jira"), "{text}");
        let Verdict::Removed(text) = verdict("public_repositories", &Partition::Global, 410, "CHANGE-2770")
        else {
            panic!("410");
        };
        assert!(
            text.contains("CHANGE-2770") && text.contains("`repositories`"),
            "{text}"
        );
    }

    #[test]
    fn missing_issue_tracker_is_quiet_but_a_missing_repository_is_not() {
        assert!(matches!(
            verdict(
                "issue_components",
                &repo(),
                404,
                "Repository has no issue tracker."
            ),
            Verdict::SkipQuietly(_)
        ));
        assert!(matches!(
            verdict(
                "issue_components",
                &repo(),
                404,
                "Repository globex/api not found"
            ),
            Verdict::Skip(_)
        ));
        assert!(matches!(
            verdict("commits", &repo(), 409, "empty"),
            Verdict::Skip(_)
        ));
    }
}
