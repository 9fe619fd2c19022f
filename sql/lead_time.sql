-- Lead time for changes: from a pull request's creation to its merge commit's first successful
-- production deployment.
--
-- One row per merged pull request whose merge commit reached production:
--   repository_uuid  the repository
--   pullrequest_id   the pull request's `id`
--   created_on       when the pull request was created (UTC)
--   deployed_on      the earliest `state.completed_on` (UTC) of a SUCCESSFUL deployment to an
--                    environment of type Production whose `release.commit.hash` starts with
--                    the pull request's `merge_commit.hash`
--   hours            deployed_on − created_on, in hours (fractional, double precision, unrounded)
--
-- Definition choices:
--   - Merged means `state` MERGED. Bitbucket sends `merge_commit.hash` abbreviated (12 hex
--     digits) and `release.commit.hash` in full (40), so the join is by prefix, within the
--     same repository: `release.commit.hash LIKE merge_commit.hash || '%'` (hashes are hex:
--     no LIKE wildcard can occur in them). A `merge_commit.hash` shorter than 7 digits (git's
--     shortest abbreviation) is not joined: it could name another commit, and an empty one
--     would match every deployment.
--   - Production means the environment's `environment_type.name` is Production (from
--     `environments`, joined on the repository and the environment's uuid, deleted
--     environments included: their deployments still happened). A deployment counts once
--     `state.name` is COMPLETED with `state.status.name` SUCCESSFUL; a failed or stopped
--     production deployment of the commit does not end the lead time, a later successful one
--     does. Its time is `state.completed_on` (or `state.completion_date`, the spelling of the
--     API's description, when `completed_on` is absent).
--   - The clock starts at the pull request's `created_on`. For the time from the first
--     commit, use the earliest `date` in `pullrequest_commits` instead (not selected by
--     default; Bitbucket empties a pull request's commit list once its branch is deleted, so
--     fall back on `created_on`).
--   - A merged pull request whose merge commit was not (yet) deployed to production itself
--     has no row, also when a later release carried its change.
--
-- Streams that must be selected: pullrequests, deployments, environments (all selected by
-- default).
-- Runs unchanged on DuckDB and PostgreSQL over the tables target-duckdb and
-- meltanolabs-target-postgres make; set the schema on the connection, e.g.
--   DuckDB: USE bitbucket.tap_bitbucket;   PostgreSQL: SET search_path TO tap_bitbucket;
with production as (
    select d.repository_uuid,
           (d.release->'commit'->>'hash') as commit_hash,
           cast(cast(coalesce(d.state->>'completed_on', d.state->>'completion_date') as timestamptz)
                at time zone 'UTC' as timestamp) as completed_on
    from deployments as d
    join environments as e
      on e.repository_uuid = d.repository_uuid
     and e.uuid = (d.environment->>'uuid')
    where (e.environment_type->>'name') = 'Production'
      and coalesce(d.state->>'name', 'COMPLETED') = 'COMPLETED'
      and (d.state->'status'->>'name') = 'SUCCESSFUL'
),
merged as (
    select p.repository_uuid,
           p.id,
           p.created_on,
           (p.merge_commit->>'hash') as merge_hash
    from pullrequests as p
    where p.state = 'MERGED'
      and length(p.merge_commit->>'hash') >= 7
)
select m.repository_uuid,
       m.id as pullrequest_id,
       m.created_on,
       min(x.completed_on) as deployed_on,
       cast(extract(epoch from (min(x.completed_on) - m.created_on)) as double precision) / 3600 as hours
from merged as m
join production as x
  on x.repository_uuid = m.repository_uuid
 and x.commit_hash like (m.merge_hash || '%')
where x.completed_on is not null
group by m.repository_uuid, m.id, m.created_on
order by m.repository_uuid, pullrequest_id
