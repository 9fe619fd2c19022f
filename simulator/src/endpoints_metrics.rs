//! Handlers and ground-truth lists of the engineering-metrics endpoints: refs (branches, tags),
//! environments, pipelines and their steps, deployments, and the pull request children
//! (commits, diffstat, statuses, tasks).
//!
//! Every `…_list` method returns the full list exactly as the endpoint serves it at the current
//! clock (ground truth uses them); the `…_page` methods paginate.

use std::sync::{Arc, PoisonError};

use serde_json::Value;

use crate::api::{ApiRequest, ApiResponse, State};
use crate::clock::Micros;
use crate::config::Quirks;
use crate::data::{Pr, Repo, Workspace};
use crate::endpoints::cached;
use crate::error::ApiError;
use crate::paginate::{
    decode_hash_token, encode_hash_token, envelope, iterator_envelope, pagelen_from_query, PageLinks,
    PageRequest, DEFAULT_PAGELEN, DEFAULT_PAGELEN_COMMITS, MAX_PAGELEN,
};
use crate::pipelines::Ci;
use crate::pr_children::{diffstat_of, pr_commits, statuses_of, tasks_of};
use crate::prng::SeedBuilder;
use crate::refs::RefFacts;
use crate::render::{short_hash, PrTexts};
use crate::urlenc::Query;

/// Default and largest `pagelen` of a diffstat.
pub const DIFFSTAT_PAGELEN: usize = 500;

/// A visible repository's indexes and facts.
type RepoRef<'a> = (usize, &'a Workspace, usize, &'a Repo);

fn list_page(values: Vec<Value>, page: &PageRequest, links: &PageLinks) -> Value {
    let total = values.len();
    let range = page.range(total);
    let values = values.into_iter().skip(range.start).take(range.len()).collect();
    envelope(values, total, page, links)
}

fn is_short_hex(s: &str) -> bool {
    (7..=40).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Orders refs listed by name as `sort` asks: `name` (the default), `-name`, `target.date` or
/// `-target.date` (ties keep name order); anything else is a 400.
fn order_refs<T>(list: &mut [T], query: &Query, date: impl Fn(&T) -> Micros) -> Result<(), ApiError> {
    match query.get("sort").map(str::trim) {
        None | Some("name") => {}
        Some("-name") => list.reverse(),
        Some("target.date") => list.sort_by_key(|x| date(x)),
        Some("-target.date") => list.sort_by_key(|x| std::cmp::Reverse(date(x))),
        Some(other) => return Err(ApiError::bad_request(format!("Invalid sort field '{other}'"))),
    }
    Ok(())
}

/// Whether two hash prefixes name the same commit (one is a prefix of the other).
fn same_commit(a: &str, b: &str) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

impl State {
    fn members_len(&self, wi: usize) -> usize {
        self.data.workspaces[wi].members.len()
    }

    /// The refs of a repository (cached; the same at every clock).
    pub fn refs(&self, wi: usize, ri: usize) -> Arc<RefFacts> {
        cached(&self.refs_cache, (wi, ri), || {
            let h = self.history(wi, ri);
            let repo = &self.data.workspaces[wi].repos[ri];
            RefFacts::build(repo, &h, self.data.anchor, self.members_len(wi))
        })
    }

    /// The pipelines, steps, deployments and environments of a repository (cached; the same
    /// at every clock).
    pub fn ci(&self, wi: usize, ri: usize) -> Arc<Ci> {
        cached(&self.ci_cache, (wi, ri), || {
            let h = self.history(wi, ri);
            let repo = &self.data.workspaces[wi].repos[ri];
            Ci::generate(
                repo,
                &h,
                self.data.anchor,
                self.data.horizon,
                self.members_len(wi),
            )
        })
    }

    /// The current quirks.
    pub fn quirks(&self) -> Quirks {
        *self.quirks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    // ----- refs ------------------------------------------------------------------------------------

    /// The branches visible now, by name.
    pub fn branches_list(&self, ws: &str, slug: &str) -> Result<Vec<Value>, ApiError> {
        let (wi, w, ri, repo) = self.visible_repo(ws, slug)?;
        let now = self.now();
        let h = self.history(wi, ri);
        let refs = self.refs(wi, ri);
        let r = self.renderer();
        Ok(refs
            .branches_at(repo, &h, now)
            .iter()
            .map(|(name, head)| r.branch(w, repo, &h, name, *head))
            .collect())
    }

    /// The tags visible now, by name.
    pub fn tags_list(&self, ws: &str, slug: &str) -> Result<Vec<Value>, ApiError> {
        let (wi, w, ri, repo) = self.visible_repo(ws, slug)?;
        let now = self.now();
        let h = self.history(wi, ri);
        let refs = self.refs(wi, ri);
        let r = self.renderer();
        Ok(refs.tags_at(now).map(|t| r.tag(w, repo, &h, t)).collect())
    }

    /// `GET …/refs/branches`: by name, or `sort=name|-name|target.date|-target.date`; `q` is
    /// not simulated (ignored). Only the page is rendered.
    pub(crate) fn branches_page(
        &self,
        ws: &str,
        slug: &str,
        query: &Query,
        links: &PageLinks,
    ) -> Result<Value, ApiError> {
        let (wi, w, ri, repo) = self.visible_repo(ws, slug)?;
        let page = PageRequest::from_query(query, MAX_PAGELEN)?;
        let h = self.history(wi, ri);
        let refs = self.refs(wi, ri);
        let r = self.renderer();
        let mut heads = refs.branches_at(repo, &h, r.now);
        order_refs(&mut heads, query, |(_, c)| h.commits[*c as usize].date)?;
        let range = page.range(heads.len());
        let values = heads[range]
            .iter()
            .map(|(name, head)| r.branch(w, repo, &h, name, *head))
            .collect();
        Ok(envelope(values, heads.len(), &page, links))
    }

    /// `GET …/refs/tags`: as [`State::branches_page`].
    pub(crate) fn tags_page(
        &self,
        ws: &str,
        slug: &str,
        query: &Query,
        links: &PageLinks,
    ) -> Result<Value, ApiError> {
        let (wi, w, ri, repo) = self.visible_repo(ws, slug)?;
        let page = PageRequest::from_query(query, MAX_PAGELEN)?;
        let h = self.history(wi, ri);
        let refs = self.refs(wi, ri);
        let r = self.renderer();
        let mut tags: Vec<_> = refs.tags_at(r.now).collect();
        order_refs(&mut tags, query, |t| h.commits[t.commit as usize].date)?;
        let range = page.range(tags.len());
        let values = tags[range].iter().map(|t| r.tag(w, repo, &h, t)).collect();
        Ok(envelope(values, tags.len(), &page, links))
    }

    // ----- environments, pipelines, steps, deployments --------------------------------------------

    /// The environments visible now, by rank (empty without Pipelines).
    pub fn environments_list(&self, ws: &str, slug: &str) -> Result<Vec<Value>, ApiError> {
        let (wi, _, ri, _) = self.visible_repo(ws, slug)?;
        let now = self.now();
        let ci = self.ci(wi, ri);
        let r = self.renderer();
        Ok((0..ci.environments.len())
            .filter(|&k| ci.environments[k].created <= now)
            .map(|k| r.environment(&ci, k))
            .collect())
    }

    fn ci_page_request(&self, query: &Query) -> Result<PageRequest, ApiError> {
        let max = self
            .quirks()
            .ci_max_pagelen
            .map_or(MAX_PAGELEN, |m| m.clamp(1, MAX_PAGELEN));
        PageRequest::from_query(query, max)
    }

    /// Every pipeline visible now, newest first (by `created_on`).
    pub fn pipelines_list(&self, ws: &str, slug: &str) -> Result<Vec<Value>, ApiError> {
        let (wi, w, ri, repo) = self.visible_repo(ws, slug)?;
        let ci = self.ci(wi, ri);
        let h = self.history(wi, ri);
        let r = self.renderer();
        let n = ci.visible_pipelines(r.now);
        Ok((0..n as u32)
            .rev()
            .map(|i| r.pipeline(w, repo, &h, &ci, i))
            .collect())
    }

    /// `GET …/pipelines/`: oldest first unless `sort=-created_on`; `q` is ignored.
    pub(crate) fn pipelines_page(
        &self,
        ws: &str,
        slug: &str,
        query: &Query,
        links: &PageLinks,
    ) -> Result<Value, ApiError> {
        let (wi, w, ri, repo) = self.visible_repo(ws, slug)?;
        let page = self.ci_page_request(query)?;
        let descending = match query.get("sort").map(str::trim) {
            None | Some("created_on") => false,
            Some("-created_on") => true,
            Some(other) => return Err(ApiError::bad_request(format!("Invalid sort field '{other}'"))),
        };
        let ci = self.ci(wi, ri);
        let h = self.history(wi, ri);
        let r = self.renderer();
        let n = ci.visible_pipelines(r.now);
        let values = page
            .range(n)
            .map(|k| if descending { n - 1 - k } else { k })
            .map(|i| r.pipeline(w, repo, &h, &ci, i as u32))
            .collect();
        let mut env = envelope(values, n, &page, links);
        if self.quirks().pipelines_next_drops_sort && env.get("next").is_some() {
            let without = PageLinks {
                base: links.base.clone(),
                query: Query {
                    pairs: links
                        .query
                        .pairs
                        .iter()
                        .filter(|(k, _)| k != "sort")
                        .cloned()
                        .collect(),
                },
            };
            env["next"] = Value::String(without.page_url(page.page + 1));
        }
        Ok(env)
    }

    fn visible_pipeline(
        &self,
        ws: &str,
        slug: &str,
        uuid: &str,
    ) -> Result<(RepoRef<'_>, Arc<Ci>, u32), ApiError> {
        let (wi, w, ri, repo) = self.visible_repo(ws, slug)?;
        let ci = self.ci(wi, ri);
        let now = self.now();
        let not_found = || {
            ApiError::not_found(format!("Pipeline {uuid} not found"))
                .with_detail(format!("No pipeline with UUID {uuid} in {}.", repo.full_name))
        };
        let i = ci.pipeline_by_uuid(uuid).ok_or_else(not_found)?;
        if ci.pipelines[i as usize].created > now {
            return Err(not_found());
        }
        Ok(((wi, w, ri, repo), ci, i))
    }

    /// `GET …/pipelines/{uuid}`.
    pub fn pipeline_one(&self, ws: &str, slug: &str, uuid: &str) -> Result<Value, ApiError> {
        let ((wi, w, ri, repo), ci, i) = self.visible_pipeline(ws, slug, uuid)?;
        let h = self.history(wi, ri);
        Ok(self.renderer().pipeline(w, repo, &h, &ci, i))
    }

    /// The steps of a visible pipeline, in order.
    pub fn pipeline_steps_list(&self, ws: &str, slug: &str, uuid: &str) -> Result<Vec<Value>, ApiError> {
        let ((wi, _, ri, repo), ci, i) = self.visible_pipeline(ws, slug, uuid)?;
        let h = self.history(wi, ri);
        let r = self.renderer();
        let p = &ci.pipelines[i as usize];
        Ok(ci
            .steps_of(p)
            .iter()
            .map(|s| r.pipeline_step(repo, &h, &ci, p, s))
            .collect())
    }

    pub(crate) fn steps_page(
        &self,
        ws: &str,
        slug: &str,
        uuid: &str,
        query: &Query,
        links: &PageLinks,
    ) -> Result<Value, ApiError> {
        let page = PageRequest::from_query(query, MAX_PAGELEN)?;
        Ok(list_page(self.pipeline_steps_list(ws, slug, uuid)?, &page, links))
    }

    /// The deployments visible now, in served order (environment, then number descending).
    pub fn deployments_list(&self, ws: &str, slug: &str) -> Result<Vec<Value>, ApiError> {
        let (wi, w, ri, repo) = self.visible_repo(ws, slug)?;
        let ci = self.ci(wi, ri);
        let h = self.history(wi, ri);
        let r = self.renderer();
        Ok(ci
            .deployments
            .iter()
            .filter_map(|d| r.deployment(w, repo, &h, &ci, d))
            .collect())
    }

    /// `GET …/deployments/`: no filter, no sort.
    pub(crate) fn deployments_page(
        &self,
        ws: &str,
        slug: &str,
        query: &Query,
        links: &PageLinks,
    ) -> Result<Value, ApiError> {
        let (wi, w, ri, repo) = self.visible_repo(ws, slug)?;
        let page = self.ci_page_request(query)?;
        let ci = self.ci(wi, ri);
        let h = self.history(wi, ri);
        let r = self.renderer();
        let visible: Vec<usize> = (0..ci.deployments.len())
            .filter(|&k| ci.deployment_state(&ci.deployments[k], r.now).is_some())
            .collect();
        let values = visible[page.range(visible.len())]
            .iter()
            .filter_map(|&k| r.deployment(w, repo, &h, &ci, &ci.deployments[k]))
            .collect();
        let mut env = envelope(values, visible.len(), &page, links);
        if self.quirks().deployments_next_wrong_page && env.get("next").is_some() {
            env["next"] = Value::String(links.page_url(page.page + 2));
        }
        Ok(env)
    }

    // ----- pull request children -------------------------------------------------------------------

    fn visible_pr(&self, ws: &str, slug: &str, id: u32) -> Result<(RepoRef<'_>, usize, &Pr), ApiError> {
        let (wi, w, ri, repo) = self.visible_repo(ws, slug)?;
        let now = self.now();
        match repo.pr(id) {
            Some(pr) if pr.created_on <= now => Ok(((wi, w, ri, repo), (id - 1) as usize, pr)),
            _ => Err(ApiError::not_found(format!("Pull request {id} not found"))),
        }
    }

    fn pr_commit_indexes(&self, wi: usize, ri: usize, pi: usize) -> Vec<u32> {
        let h = self.history(wi, ri);
        let deleted = self.refs(wi, ri).deleted_branch_pr == Some(pi);
        pr_commits(&h, pi, self.now(), deleted)
    }

    /// The commits of a pull request now, newest first.
    pub fn pr_commits_list(&self, ws: &str, slug: &str, id: u32) -> Result<Vec<Value>, ApiError> {
        let ((wi, w, ri, repo), pi, _) = self.visible_pr(ws, slug, id)?;
        let h = self.history(wi, ri);
        let r = self.renderer();
        Ok(self
            .pr_commit_indexes(wi, ri, pi)
            .iter()
            .map(|&c| r.commit(w, repo, &h, c))
            .collect())
    }

    /// `GET …/pullrequests/{id}/commits`: iterator pagination, like `/commits`.
    pub(crate) fn pr_commits_page(
        &self,
        ws: &str,
        slug: &str,
        id: u32,
        query: &Query,
        links: &PageLinks,
    ) -> Result<Value, ApiError> {
        let ((wi, w, ri, repo), pi, _) = self.visible_pr(ws, slug, id)?;
        let pagelen = pagelen_from_query(query, DEFAULT_PAGELEN_COMMITS, MAX_PAGELEN)?;
        let salt = SeedBuilder::new(0)
            .str("pr-commits-page")
            .str(&repo.uuid)
            .num(u64::from(id))
            .finish();
        let list = self.pr_commit_indexes(wi, ri, pi);
        let start = match query.get("page") {
            None => 0,
            Some(token) => decode_hash_token(token.trim(), salt)
                .and_then(|v| usize::try_from(v).ok())
                .ok_or_else(|| ApiError::bad_request("Invalid page"))?
                .min(list.len()),
        };
        let end = start.saturating_add(pagelen).min(list.len());
        let h = self.history(wi, ri);
        let r = self.renderer();
        let values = list[start..end]
            .iter()
            .map(|&c| r.commit(w, repo, &h, c))
            .collect();
        let next = (end < list.len()).then(|| links.with_param("page", &encode_hash_token(end as u64, salt)));
        Ok(iterator_envelope(values, pagelen, next))
    }

    /// `GET …/pullrequests/{id}/diffstat`: 302 to `…/diffstat/{source}..{destination}` on the
    /// request's own origin (query kept, after `from_pullrequest_id` and `topic`).
    pub(crate) fn pr_diffstat_redirect(
        &self,
        ws: &str,
        slug: &str,
        id: u32,
        req: &ApiRequest<'_>,
    ) -> Result<ApiResponse, ApiError> {
        let (_, _, pr) = self.visible_pr(ws, slug, id)?;
        let path = req.path.trim_end_matches('/');
        let prefix = path.rsplit_once("/pullrequests/").map_or(path, |(p, _)| p);
        let mut location = format!(
            "{}{prefix}/diffstat/{}..{}?from_pullrequest_id={id}&topic=true",
            self.redirect_origin(req.host),
            short_hash(pr.seed, "source"),
            short_hash(pr.seed, "destination"),
        );
        if !req.query.is_empty() {
            location.push('&');
            location.push_str(req.query);
        }
        Ok(ApiResponse {
            status: 302,
            content_type: "text/html; charset=utf-8",
            headers: vec![("location", location.clone())],
            body: format!("<a href=\"{location}\">Found</a>").into_bytes(),
        })
    }

    /// The diffstat of a pull request.
    pub fn pr_diffstat_list(&self, ws: &str, slug: &str, id: u32) -> Result<Vec<Value>, ApiError> {
        let ((wi, _, ri, repo), _, pr) = self.visible_pr(ws, slug, id)?;
        let h = self.history(wi, ri);
        let r = self.renderer();
        let mut entries = diffstat_of(&h, pr);
        // Taking the pull request out of draft (its `WIP: ` title edit), the author reverted
        // one file: from then on the diffstat no longer lists it, as Bitbucket's does not
        // after such a push (what was loaded before must not keep counting its lines).
        if entries.len() >= 2 && repo.pr_at(pr, self.now()).is_some_and(|at| at.title_edited) {
            entries.pop();
        }
        Ok(entries.iter().map(|e| r.diffstat(repo, pr, e)).collect())
    }

    /// `GET …/diffstat/{spec}`: `{source}..{destination}` or the pull request links' form
    /// `{ws}/{repo}:{source}%0D{destination}`, of a pull request (found by
    /// `from_pullrequest_id`, else by its hashes). Default and largest `pagelen` 500.
    pub(crate) fn diffstat_page(
        &self,
        ws: &str,
        slug: &str,
        spec: &str,
        query: &Query,
        links: &PageLinks,
    ) -> Result<Value, ApiError> {
        let (_, _, _, repo) = self.visible_repo(ws, slug)?;
        let page = PageRequest::from_query_with_default(query, DIFFSTAT_PAGELEN, DIFFSTAT_PAGELEN)?;
        let pair = spec.rsplit_once(':').map_or(spec, |(_, p)| p);
        let (src, dst) = pair
            .split_once("..")
            .or_else(|| pair.split_once('\r'))
            .filter(|(a, b)| is_short_hex(a) && is_short_hex(b))
            .ok_or_else(|| ApiError::not_found(format!("Invalid diff spec: '{spec}'")))?;
        let now = self.now();
        let matches = |pr: &Pr| {
            pr.created_on <= now
                && same_commit(&short_hash(pr.seed, "source"), src)
                && same_commit(&short_hash(pr.seed, "destination"), dst)
        };
        let pr = match query.get("from_pullrequest_id") {
            Some(id) => id
                .trim()
                .parse::<u32>()
                .ok()
                .and_then(|id| repo.pr(id))
                .filter(|p| matches(p)),
            None => repo.prs[..repo.visible_prs(now)].iter().find(|p| matches(p)),
        }
        .ok_or_else(|| {
            ApiError::not_found("Commit not found").with_detail(format!(
                "The simulator serves the diffstat of pull requests only ('{spec}')."
            ))
        })?;
        let list = self.pr_diffstat_list(ws, slug, pr.id)?;
        Ok(list_page(list, &page, links))
    }

    /// The build statuses of a pull request's commits now, newest first.
    pub fn pr_statuses_list(&self, ws: &str, slug: &str, id: u32) -> Result<Vec<Value>, ApiError> {
        let ((wi, _, ri, repo), pi, pr) = self.visible_pr(ws, slug, id)?;
        let h = self.history(wi, ri);
        let ci = self.ci(wi, ri);
        let r = self.renderer();
        let branch = PrTexts::of(pr).source_branch;
        Ok(statuses_of(repo, &h, &ci, pi, r.now)
            .iter()
            .map(|s| r.build_status(repo, &h, s, &branch))
            .collect())
    }

    /// The tasks of a pull request visible now, by id.
    pub fn pr_tasks_list(&self, ws: &str, slug: &str, id: u32) -> Result<Vec<Value>, ApiError> {
        let ((_, w, _, repo), _, pr) = self.visible_pr(ws, slug, id)?;
        let r = self.renderer();
        Ok(tasks_of(repo, pr)
            .iter()
            .filter(|t| t.created <= r.now)
            .map(|t| r.task(w, repo, pr, t))
            .collect())
    }

    /// A list endpoint with the default page parameters (`pagelen` 10, at most 100).
    pub(crate) fn default_page(
        &self,
        list: Result<Vec<Value>, ApiError>,
        query: &Query,
        links: &PageLinks,
    ) -> Result<Value, ApiError> {
        let list = list?;
        let page = PageRequest::from_query_with_default(query, DEFAULT_PAGELEN, MAX_PAGELEN)?;
        Ok(list_page(list, &page, links))
    }

    /// The pull request whose source branch was deleted, when it is merged now.
    pub fn deleted_branch_pr(&self, ws: &str, slug: &str) -> Option<u32> {
        let (wi, _, ri, repo) = self.visible_repo(ws, slug).ok()?;
        let pi = self.refs(wi, ri).deleted_branch_pr?;
        let h = self.history(wi, ri);
        let merge = h.pr_merges.get(pi).copied().flatten()?;
        (h.commits[merge as usize].pushed <= self.now()).then(|| repo.prs[pi].id)
    }
}
