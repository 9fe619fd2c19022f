//! Handlers of the repository-level endpoints added in phase 2 (commits, activity, src,
//! branch restrictions, forks, watchers, permissions, users, e-mails, issue trackers and the
//! global repository list), plus the JSON of commits and tree entries.
//!
//! Every `…_list` method returns the full list exactly as the endpoint serves it at the current
//! clock (ground truth uses them); the `…_page` methods paginate those lists.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{json, Value};

use crate::activity::{ActivityIndex, ActivityItem};
use crate::api::{ApiRequest, ApiResponse, State};
use crate::bbql::{parse_datetime, SortKey, Subject};
use crate::clock::{format_micros, Micros};
use crate::data::{Repo, Workspace};
use crate::error::ApiError;
use crate::extras::{self, IssueKind, IssueTrackers};
use crate::history::{escape_path, CommitAuthor, History, TreeEntry, EXTERNAL_AUTHORS};
use crate::paginate::{
    decode_cursor, decode_hash_token, encode_cursor, encode_hash_token, envelope, iterator_envelope,
    pagelen_from_query, PageLinks, PageRequest, DEFAULT_PAGELEN_ACTIVITY, DEFAULT_PAGELEN_COMMITS,
    MAX_PAGELEN, MAX_PAGELEN_ACTIVITY,
};
use crate::prng::SeedBuilder;
use crate::render::{href, rendered_markdown, Renderer, WEB};
use crate::urlenc::Query;

/// The served commit order of a repository at one simulated time.
#[derive(Debug, Clone)]
pub struct CommitOrder {
    /// The simulated time it describes.
    pub at: Micros,
    /// Commit indexes in served order.
    pub order: Vec<u32>,
    /// Position of each commit index in `order`.
    pub pos: HashMap<u32, usize>,
}

/// The most a `max_depth` listing may reach before answering 555, like Bitbucket's timeout.
pub const MAX_SRC_DEPTH: usize = 100;

fn salt(repo: &Repo, label: &str) -> u64 {
    SeedBuilder::new(0).str(label).str(&repo.uuid).finish()
}

/// 403 for the admin-only endpoints in a workspace the demo user does not administer.
fn require_admin(w: &Workspace) -> Result<(), ApiError> {
    if w.administrator {
        Ok(())
    } else {
        Err(
            ApiError::new(403, "You do not have admin access to this repository.")
                .with_detail("Administrator permission on the repository is required."),
        )
    }
}

fn paginate(values: Vec<Value>, query: &Query, links: &PageLinks) -> Result<Value, ApiError> {
    let page = PageRequest::from_query(query, MAX_PAGELEN)?;
    let total = values.len();
    let range = page.range(total);
    let values = values.into_iter().skip(range.start).take(range.len()).collect();
    Ok(envelope(values, total, &page, links))
}

/// The 410 of a removed issue-tracker endpoint.
pub fn issue_tracker_removed() -> ApiError {
    ApiError::new(410, "Bitbucket Issues has been removed: the issue tracker and its API are no longer available.")
        .with_detail("Bitbucket Cloud removed issue trackers and their API endpoints on 2026-08-20 (CHANGE-3071).")
        .with_data(
            json!({ "announcement_url": "https://developer.atlassian.com/cloud/bitbucket/changelog/#CHANGE-3071" }),
            false,
        )
}

/// The 410 of the removed cross-workspace `GET /repositories` (CHANGE-2770).
pub fn change_2770() -> ApiError {
    ApiError::new(410, "CHANGE-2770 - Functionality has been deprecated")
        .with_detail("Please read the changelog entry for more details.")
        .with_data(
            json!({ "announcement_url": "https://developer.atlassian.com/cloud/bitbucket/changelog#CHANGE-2770" }),
            true,
        )
}

impl Renderer<'_> {
    /// A commit as `/commits` serves it.
    pub fn commit(&self, ws: &Workspace, repo: &Repo, h: &History, idx: u32) -> Value {
        let c = &h.commits[idx as usize];
        let api = self.repo_api(repo);
        let author = match c.author {
            CommitAuthor::Member(m) => {
                let u = self.data.member(ws, m);
                json!({
                    "type": "author",
                    "raw": format!("{} <{}@example.com>", u.display_name, u.nickname),
                    "user": self.account(u),
                })
            }
            CommitAuthor::External(e) => json!({
                "type": "author",
                "raw": EXTERNAL_AUTHORS.get(usize::from(e)).copied().unwrap_or("Unknown <unknown@example.com>"),
            }),
        };
        let parents: Vec<Value> = c
            .parents
            .iter()
            .map(|&p| self.commit_ref(repo, &h.commits[p as usize].hash))
            .collect();
        let hash = &c.hash;
        let summary = rendered_markdown(&c.message);
        json!({
            "type": "commit",
            "hash": hash,
            "date": format_micros(c.date),
            "author": author,
            "message": c.message,
            "rendered": { "message": summary.clone() },
            "summary": summary,
            "parents": parents,
            "repository": self.repository_ref(repo),
            "links": {
                "self": href(format!("{api}/commit/{hash}")),
                "html": href(format!("{WEB}/{}/commits/{hash}", repo.full_name)),
                "diff": href(format!("{api}/diff/{hash}")),
                "approve": href(format!("{api}/commit/{hash}/approve")),
                "comments": href(format!("{api}/commit/{hash}/comments")),
                "statuses": href(format!("{api}/commit/{hash}/statuses")),
                "patch": href(format!("{api}/patch/{hash}")),
            },
        })
    }

    /// A `commit_directory` or `commit_file` entry at commit `hash`.
    pub fn tree_entry(&self, repo: &Repo, h: &History, hash: &str, entry: &TreeEntry, t: Micros) -> Value {
        let src = format!("{}/src/{hash}", self.repo_api(repo));
        match entry {
            TreeEntry::Dir(path) => {
                let esc = escape_path(path);
                json!({
                    "type": "commit_directory",
                    "path": path,
                    "commit": self.commit_ref(repo, hash),
                    "links": {
                        "self": href(format!("{src}/{esc}/")),
                        "meta": href(format!("{src}/{esc}/?format=meta")),
                    },
                })
            }
            TreeEntry::File(i) => {
                let f = &h.files[*i];
                let esc = escape_path(&f.path);
                json!({
                    "type": "commit_file",
                    "path": f.path,
                    "size": h.file_size(f, t),
                    "attributes": f.attributes,
                    "escaped_path": esc,
                    "mimetype": f.mimetype,
                    "commit": self.commit_ref(repo, hash),
                    "links": {
                        "self": href(format!("{src}/{esc}")),
                        "meta": href(format!("{src}/{esc}?format=meta")),
                        "history": href(format!("{}/filehistory/{hash}/{esc}", self.repo_api(repo))),
                    },
                })
            }
        }
    }
}

/// A repository's facts from a cache that holds them for every clock, built by `build` the
/// first time. The build runs outside the lock, since it may read another cache (the refs and
/// the pipelines of a repository are built from its history); if two requests race, the
/// first facts stored are kept.
pub(crate) fn cached<T>(
    cache: &Mutex<HashMap<(usize, usize), Arc<T>>>,
    key: (usize, usize),
    build: impl FnOnce() -> T,
) -> Arc<T> {
    if let Some(found) = cache.lock().unwrap_or_else(PoisonError::into_inner).get(&key) {
        return Arc::clone(found);
    }
    let built = Arc::new(build());
    let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
    Arc::clone(cache.entry(key).or_insert(built))
}

impl State {
    /// The generated history of a repository (cached; the same at every clock).
    pub fn history(&self, wi: usize, ri: usize) -> Arc<History> {
        cached(&self.history_cache, (wi, ri), || {
            let w = &self.data.workspaces[wi];
            let names: Vec<String> = w
                .members
                .iter()
                .filter_map(|&u| self.data.users.get(u as usize))
                .map(|u| u.display_name.clone())
                .collect();
            History::generate(&w.repos[ri], &names, self.data.anchor, self.data.horizon)
        })
    }

    /// The served commit order of a repository at `now` (cached per clock).
    pub fn commit_order(&self, wi: usize, ri: usize, now: Micros) -> Arc<CommitOrder> {
        {
            let cache = self.commit_cache.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(o) = cache.get(&(wi, ri)).filter(|o| o.at == now) {
                return Arc::clone(o);
            }
        }
        let order = self.history(wi, ri).order_at(now);
        let pos = order.iter().enumerate().map(|(p, &i)| (i, p)).collect();
        let o = Arc::new(CommitOrder { at: now, order, pos });
        self.commit_cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((wi, ri), Arc::clone(&o));
        o
    }

    /// The activity of a repository at `now` (cached per clock).
    pub fn activity_index(&self, wi: usize, ri: usize, now: Micros) -> Arc<ActivityIndex> {
        {
            let cache = self.activity_cache.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(a) = cache.get(&(wi, ri)).filter(|a| a.at == now) {
                return Arc::clone(a);
            }
        }
        let a = Arc::new(ActivityIndex::build(&self.data.workspaces[wi].repos[ri], now));
        self.activity_cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((wi, ri), Arc::clone(&a));
        a
    }

    /// The current issue-tracker mode.
    pub fn issue_trackers(&self) -> IssueTrackers {
        *self.issue_trackers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    // ----- commits -------------------------------------------------------------------------

    /// Every visible commit of a repository, in served order.
    pub fn commits_list(&self, ws: &str, slug: &str) -> Result<Vec<Value>, ApiError> {
        let (wi, w, ri, repo) = self.visible_repo(ws, slug)?;
        let now = self.now();
        let h = self.history(wi, ri);
        let order = self.commit_order(wi, ri, now);
        let r = self.renderer();
        Ok(order.order.iter().map(|&i| r.commit(w, repo, &h, i)).collect())
    }

    pub(crate) fn commits_page(
        &self,
        ws: &str,
        slug: &str,
        query: &Query,
        links: &PageLinks,
    ) -> Result<Value, ApiError> {
        let (wi, w, ri, repo) = self.visible_repo(ws, slug)?;
        let pagelen = pagelen_from_query(query, DEFAULT_PAGELEN_COMMITS, MAX_PAGELEN)?;
        let now = self.now();
        let h = self.history(wi, ri);
        let order = self.commit_order(wi, ri, now);
        let salt = salt(repo, "commits-page");
        let start = match query.get("page") {
            None => 0,
            Some(token) => {
                let idx = decode_hash_token(token.trim(), salt)
                    .and_then(|v| u32::try_from(v).ok())
                    .ok_or_else(|| ApiError::bad_request("Invalid page"))?;
                // A commit no longer visible (the clock moved back): nothing follows.
                order.pos.get(&idx).copied().unwrap_or(order.order.len())
            }
        };
        let end = start.saturating_add(pagelen).min(order.order.len());
        let r = self.renderer();
        let values = order.order[start..end]
            .iter()
            .map(|&i| r.commit(w, repo, &h, i))
            .collect();
        let next = order
            .order
            .get(end)
            .map(|&i| links.with_param("page", &encode_hash_token(u64::from(i), salt)));
        Ok(iterator_envelope(values, pagelen, next))
    }

    // ----- pull request activity ----------------------------------------------------------------

    fn activity_items(
        &self,
        wi: usize,
        ri: usize,
        repo: &Repo,
        pr: Option<u32>,
    ) -> Result<Vec<ActivityItem>, ApiError> {
        let now = self.now();
        let index = self.activity_index(wi, ri, now);
        Ok(match pr {
            None => index.items.clone(),
            Some(id) => {
                if repo.pr(id).is_none_or(|p| p.created_on > now) {
                    return Err(ApiError::not_found(format!("Pull request {id} not found")));
                }
                index.items.iter().filter(|i| i.pr_id == id).copied().collect()
            }
        })
    }

    /// Every activity item of a repository (or of one pull request), in served order.
    pub fn activity_list(&self, ws: &str, slug: &str, pr: Option<u32>) -> Result<Vec<Value>, ApiError> {
        let (wi, w, ri, repo) = self.visible_repo(ws, slug)?;
        let items = self.activity_items(wi, ri, repo, pr)?;
        let h = self.history(wi, ri);
        let r = self.renderer();
        Ok(items
            .iter()
            .filter_map(|it| r.activity_item(w, repo, Some(&h), it))
            .collect())
    }

    pub(crate) fn activity_page(
        &self,
        ws: &str,
        slug: &str,
        pr: Option<u32>,
        query: &Query,
        links: &PageLinks,
    ) -> Result<Value, ApiError> {
        let (wi, w, ri, repo) = self.visible_repo(ws, slug)?;
        let pagelen = pagelen_from_query(query, DEFAULT_PAGELEN_ACTIVITY, MAX_PAGELEN_ACTIVITY)?;
        let items = self.activity_items(wi, ri, repo, pr)?;
        let salt = salt(repo, "activity-ctx");
        let start = match query.get("ctx") {
            None => 0,
            Some(ctx) => {
                let (a, b) =
                    decode_cursor(ctx.trim(), salt).ok_or_else(|| ApiError::bad_request("Invalid ctx"))?;
                let key = (a as i64, (b >> 32) as u32, b as u32);
                // Items are sorted by key descending: continue after the last one served.
                items.partition_point(|it| it.key() >= key)
            }
        };
        let end = start.saturating_add(pagelen).min(items.len());
        let h = self.history(wi, ri);
        let r = self.renderer();
        let values = items[start..end]
            .iter()
            .filter_map(|it| r.activity_item(w, repo, Some(&h), it))
            .collect();
        let next = (end < items.len() && end > start).then(|| {
            let last = items[end - 1];
            let cursor = encode_cursor(
                last.time as u64,
                (u64::from(last.pr_id) << 32) | u64::from(last.seq),
                salt,
            );
            links.with_param("ctx", &cursor)
        });
        Ok(iterator_envelope(values, pagelen, next))
    }

    // ----- src --------------------------------------------------------------------------------

    /// The main branch name of a visible, non-empty repository.
    pub fn main_branch_of(&self, ws: &str, slug: &str) -> Option<String> {
        let (_, _, _, repo) = self.visible_repo(ws, slug).ok()?;
        (!repo.empty).then(|| repo.mainbranch.to_string())
    }

    fn resolve_ref(&self, h: &History, repo: &Repo, rf: &str) -> Result<u32, ApiError> {
        let now = self.now();
        let not_found = || {
            ApiError::not_found("Commit not found").with_detail(format!(
                "No commit, branch or tag named '{rf}' in {}.",
                repo.full_name
            ))
        };
        if repo.empty {
            return Err(ApiError::not_found("Repository is empty").with_detail(format!(
                "{} has no commits and no main branch yet.",
                repo.full_name
            )));
        }
        if rf == repo.mainbranch {
            return h.main_tip(now).ok_or_else(not_found);
        }
        h.resolve_hash(rf, now).ok_or_else(not_found)
    }

    /// Every entry of the main branch's tree (breadth-first, as `max_depth` serves it).
    pub fn src_tree_list(&self, ws: &str, slug: &str) -> Result<Vec<Value>, ApiError> {
        let (wi, _, ri, repo) = self.visible_repo(ws, slug)?;
        let h = self.history(wi, ri);
        let c = self.resolve_ref(&h, repo, repo.mainbranch)?;
        let commit = &h.commits[c as usize];
        let r = self.renderer();
        Ok(h.listing("", commit.date, usize::MAX)
            .iter()
            .map(|e| r.tree_entry(repo, &h, &commit.hash, e, commit.date))
            .collect())
    }

    /// `GET …/src`: 302 to the main branch head's root listing.
    pub(crate) fn src_redirect(
        &self,
        ws: &str,
        slug: &str,
        req: &ApiRequest<'_>,
    ) -> Result<ApiResponse, ApiError> {
        let (wi, _, ri, repo) = self.visible_repo(ws, slug)?;
        let h = self.history(wi, ri);
        let c = self.resolve_ref(&h, repo, repo.mainbranch)?;
        let mut location = format!(
            "{}{}/{}/",
            self.redirect_origin(req.host),
            req.path.trim_end_matches('/'),
            h.commits[c as usize].hash
        );
        if !req.query.is_empty() {
            location.push('?');
            location.push_str(req.query);
        }
        Ok(ApiResponse {
            status: 302,
            content_type: "text/html; charset=utf-8",
            headers: vec![("location", location.clone())],
            body: format!("<a href=\"{location}\">Found</a>").into_bytes(),
        })
    }

    /// `GET …/src/{ref}/{path}`: a directory listing, a file's meta data or its raw contents.
    pub(crate) fn src(
        &self,
        ws: &str,
        slug: &str,
        rf: &str,
        path: &str,
        query: &Query,
        links: &PageLinks,
    ) -> Result<ApiResponse, ApiError> {
        let (wi, _, ri, repo) = self.visible_repo(ws, slug)?;
        let h = self.history(wi, ri);
        let c = self.resolve_ref(&h, repo, rf)?;
        let commit = &h.commits[c as usize];
        let t = commit.date;
        let entry = h.lookup(path, t).ok_or_else(|| {
            ApiError::not_found(format!("No such file or directory: {path}"))
                .with_detail(format!("'{path}' does not exist at {}.", commit.hash))
        })?;
        let r = self.renderer();
        let meta = query.get("format") == Some("meta");
        match &entry {
            TreeEntry::File(i) if !meta => {
                let f = &h.files[*i];
                let size = h.file_size(f, t).min(1 << 20) as usize;
                let line = format!("{} @ {}\n", f.path, &commit.hash[..12]);
                let body: Vec<u8> = line.bytes().cycle().take(size).collect();
                return Ok(ApiResponse {
                    status: 200,
                    content_type: "application/octet-stream",
                    headers: vec![("content-disposition", "attachment".to_string())],
                    body,
                });
            }
            _ if meta => {
                return Ok(ApiResponse::json(
                    200,
                    &r.tree_entry(repo, &h, &commit.hash, &entry, t),
                ))
            }
            _ => {}
        }
        let depth = match query.get("max_depth") {
            None => 1,
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if n >= 1 => n,
                _ => return Err(ApiError::bad_request("Invalid max_depth")),
            },
        };
        if depth > MAX_SRC_DEPTH {
            return Err(ApiError::new(555, "Timeout")
                .with_detail("The directory listing took too long to compute. Use a smaller max_depth."));
        }
        let list = h.listing(path, t, depth);
        let page = PageRequest::from_query(query, MAX_PAGELEN)?;
        let range = page.range(list.len());
        let values = list[range]
            .iter()
            .map(|e| r.tree_entry(repo, &h, &commit.hash, e, t))
            .collect();
        Ok(ApiResponse::json(
            200,
            &envelope(values, list.len(), &page, links),
        ))
    }

    // ----- branch restrictions, forks, watchers ----------------------------------------------------

    /// The branch restrictions visible now (`kind` and `pattern` filters applied), by id.
    pub fn branch_restrictions_list(
        &self,
        ws: &str,
        slug: &str,
        query: &Query,
    ) -> Result<Vec<Value>, ApiError> {
        let (_, w, _, repo) = self.visible_repo(ws, slug)?;
        let now = self.now();
        let r = self.renderer();
        let mut list = extras::restrictions(&self.data, w, repo);
        list.sort_by_key(|b| b.id);
        Ok(list
            .iter()
            .filter(|b| b.since <= now)
            .filter(|b| query.get("kind").is_none_or(|k| k == b.kind))
            .filter(|b| query.get("pattern").is_none_or(|p| p == b.pattern))
            .map(|b| r.branch_restriction(w, repo, b))
            .collect())
    }

    pub(crate) fn branch_restrictions_page(
        &self,
        ws: &str,
        slug: &str,
        query: &Query,
        links: &PageLinks,
    ) -> Result<Value, ApiError> {
        let (_, w, _, _) = self.visible_repo(ws, slug)?;
        require_admin(w)?;
        paginate(self.branch_restrictions_list(ws, slug, query)?, query, links)
    }

    /// The forks visible now, filtered by `q` and ordered by `sort` (default `created_on`).
    pub fn forks_list(&self, ws: &str, slug: &str, query: &Query) -> Result<Vec<Value>, ApiError> {
        let (_, w, _, repo) = self.visible_repo(ws, slug)?;
        let now = self.now();
        let (filter, sort) = crate::api::repository_query(query)?;
        let r = self.renderer();
        let mut list: Vec<(Micros, Value)> = extras::forks(&self.data, w, repo)
            .iter()
            .filter(|f| f.created_on <= now)
            .map(|f| (if f.pushed <= now { f.pushed } else { f.created_on }, f))
            .filter(|(updated, f)| {
                filter.matches(&Subject {
                    updated_on: *updated,
                    created_on: f.created_on,
                    is_private: Some(f.is_private),
                })
            })
            .map(|(updated, f)| (updated, r.fork(repo, f)))
            .collect();
        if let Some(s) = sort {
            let text = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
            list.sort_by(|(au, a), (bu, b)| {
                let primary = match s.key {
                    SortKey::UpdatedOn => au.cmp(bu),
                    SortKey::FullName | SortKey::Name | SortKey::Slug | SortKey::Id => {
                        text(a, "full_name").cmp(&text(b, "full_name"))
                    }
                    SortKey::CreatedOn => text(a, "created_on").cmp(&text(b, "created_on")),
                };
                primary.then_with(|| text(a, "uuid").cmp(&text(b, "uuid")))
            });
            if s.descending {
                list.reverse();
            }
        }
        Ok(list.into_iter().map(|(_, v)| v).collect())
    }

    /// The watchers visible now (accounts), oldest first.
    pub fn watchers_list(&self, ws: &str, slug: &str) -> Result<Vec<Value>, ApiError> {
        let (_, w, _, repo) = self.visible_repo(ws, slug)?;
        let now = self.now();
        let r = self.renderer();
        Ok(extras::watchers(&self.data, w, repo)
            .iter()
            .filter(|(_, since)| *since <= now)
            .filter_map(|(u, _)| self.data.users.get(*u as usize))
            .map(|u| r.account(u))
            .collect())
    }

    // ----- permissions -------------------------------------------------------------------------------

    /// The effective user permissions of a repository, in member order.
    pub fn repository_permissions_list(&self, ws: &str, slug: &str) -> Result<Vec<Value>, ApiError> {
        let (_, w, _, repo) = self.visible_repo(ws, slug)?;
        let r = self.renderer();
        Ok(extras::user_permissions(w, repo)
            .iter()
            .map(|(m, p)| r.repository_permission(w, repo, *m, p))
            .collect())
    }

    /// The explicit group permissions of a repository.
    pub fn group_permissions_list(&self, ws: &str, slug: &str) -> Result<Vec<Value>, ApiError> {
        let (_, w, _, repo) = self.visible_repo(ws, slug)?;
        let r = self.renderer();
        Ok(extras::group_grants(w, repo)
            .iter()
            .map(|(g, p)| r.group_permission(w, repo, g, p))
            .collect())
    }

    pub(crate) fn group_permission(&self, ws: &str, slug: &str, group: &str) -> Result<Value, ApiError> {
        let (_, w, _, repo) = self.visible_repo(ws, slug)?;
        require_admin(w)?;
        extras::group_grants(w, repo)
            .iter()
            .find(|(g, _)| g.slug.eq_ignore_ascii_case(group))
            .map(|(g, p)| self.renderer().group_permission(w, repo, g, p))
            .ok_or_else(|| {
                ApiError::not_found(format!("Group '{group}' has no permission on {}", repo.full_name))
            })
    }

    pub(crate) fn admin_list_page(
        &self,
        ws: &str,
        slug: &str,
        list: fn(&State, &str, &str) -> Result<Vec<Value>, ApiError>,
        query: &Query,
        links: &PageLinks,
    ) -> Result<Value, ApiError> {
        let (_, w, _, _) = self.visible_repo(ws, slug)?;
        require_admin(w)?;
        paginate(list(self, ws, slug)?, query, links)
    }

    // ----- users and e-mails ------------------------------------------------------------------------

    /// A user by `account_id` or `{uuid}`.
    pub fn user_by_account(&self, account: &str) -> Option<Value> {
        let key = account.trim();
        self.data
            .users
            .iter()
            .find(|u| u.account_id == key || u.uuid.eq_ignore_ascii_case(key))
            .map(|u| self.renderer().account_full(u))
    }

    pub(crate) fn user_page(&self, account: &str) -> Result<Value, ApiError> {
        self.user_by_account(account)
            .ok_or_else(|| ApiError::not_found(format!("User {account} not found")))
    }

    /// The e-mail addresses of the authenticated user.
    pub fn emails_list(&self) -> Vec<Value> {
        let r = self.renderer();
        let primary = if self.creds.username.contains('@') {
            self.creds.username.clone()
        } else {
            "demo@example.com".to_string()
        };
        vec![
            r.email(&primary, true, true),
            r.email("demo.user@acme.example.com", false, true),
            r.email("demo+legacy@example.org", false, false),
        ]
    }

    // ----- issue trackers ------------------------------------------------------------------------------

    /// The issue-tracker objects of a repository as served when issue trackers are enabled.
    pub fn issue_objects_list(&self, ws: &str, slug: &str, kind: IssueKind) -> Result<Vec<Value>, ApiError> {
        let (_, _, _, repo) = self.visible_repo(ws, slug)?;
        if !repo.has_issues {
            return Err(ApiError::not_found("Repository has no issue tracker."));
        }
        let r = self.renderer();
        Ok(extras::issue_objects(repo, kind)
            .iter()
            .map(|(id, name)| r.issue_object(repo, kind, *id, name))
            .collect())
    }

    pub(crate) fn issue_objects_page(
        &self,
        ws: &str,
        slug: &str,
        kind: IssueKind,
        query: &Query,
        links: &PageLinks,
    ) -> Result<Value, ApiError> {
        match self.issue_trackers() {
            IssueTrackers::Removed => Err(issue_tracker_removed()),
            IssueTrackers::Enabled => paginate(self.issue_objects_list(ws, slug, kind)?, query, links),
        }
    }

    // ----- GET /repositories ------------------------------------------------------------------------------

    /// The public repositories of every workspace visible now, created after `after` (exclusive),
    /// by `created_on` ascending.
    pub fn public_repositories_list(&self, after: Option<&str>) -> Result<Vec<Value>, ApiError> {
        let after = match after {
            None => None,
            Some(raw) => {
                let raw = raw.trim();
                // A '+' of the offset that was not encoded arrives as a space.
                let fixed = raw.replace(' ', "+");
                Some(
                    parse_datetime(raw)
                        .or_else(|| parse_datetime(&fixed))
                        .ok_or_else(|| ApiError::bad_request(format!("Invalid after: '{raw}'")))?,
                )
            }
        };
        let now = self.now();
        let mut list: Vec<(&Workspace, &Repo)> = self
            .data
            .workspaces
            .iter()
            .flat_map(|w| w.repos.iter().map(move |r| (w, r)))
            .filter(|(_, r)| !r.is_private && r.visible_at(now))
            .filter(|(_, r)| after.is_none_or(|a| i128::from(r.created_on) * 1_000 > a))
            .collect();
        list.sort_by(|a, b| (a.1.created_on, &a.1.uuid).cmp(&(b.1.created_on, &b.1.uuid)));
        let r = self.renderer();
        Ok(list.into_iter().map(|(w, repo)| r.repository(w, repo)).collect())
    }

    pub(crate) fn all_repositories_page(&self, query: &Query, links: &PageLinks) -> Result<Value, ApiError> {
        if !self.public_repositories.load(Ordering::SeqCst) {
            return Err(change_2770());
        }
        paginate(self.public_repositories_list(query.get("after"))?, query, links)
    }

    pub(crate) fn user_emails_page(&self, query: &Query, links: &PageLinks) -> Result<Value, ApiError> {
        paginate(self.emails_list(), query, links)
    }

    pub(crate) fn list_page(
        &self,
        list: Result<Vec<Value>, ApiError>,
        query: &Query,
        links: &PageLinks,
    ) -> Result<Value, ApiError> {
        paginate(list?, query, links)
    }
}
