-- Pull-request review: when each pull request was first reviewed, how much discussion and
-- approval it got, and its size.
--
-- One row per pull request (every state: OPEN, MERGED, DECLINED, SUPERSEDED):
--   repository_uuid  the repository
--   pullrequest_id   the pull request's `id`
--   state            its `state`
--   created_on       when it was created (UTC)
--   first_review_on  the earliest `created_on` of a comment that is not deleted, or
--                    `event_time` of an approval, by someone other than the pull request's
--                    author (UTC); null if none
--   comments         its comments that are not deleted (`pullrequest_comments`), by anyone
--   approvals        the approval items of its `pullrequest_activity`
--   lines_added      the sum of `lines_added` over its `pullrequest_diffstat` entries (0 if none)
--   lines_removed    the sum of `lines_removed` over them (0 if none)
--
-- Definition choices:
--   - "Someone other than the author": the comment's `user.uuid` or the approval's
--     `approval.user.uuid` differs from the pull request's `author.uuid` (IS DISTINCT FROM:
--     a comment by an account Bitbucket no longer names counts as someone else's when the
--     author is known). Bots and reminder services are accounts like any other: they count.
--   - A comment is deleted when its `deleted` is true; null counts as not deleted.
--   - Comments count the author's own replies too (`comments`); only `first_review_on`
--     excludes the author.
--   - Binary files count no lines (the diffstat has none for them); a pull request without
--     diffstat rows (its diffstat not read yet, or empty) shows 0 and 0.
--   - Only the diffstat of the pull request's latest read counts (its rows with the highest
--     `pullrequest_updated_on`): the table keeps by key every file a pull request ever
--     changed, and a file a later push reverted is no longer in Bitbucket's diffstat, so its
--     older row must not add its lines. Known limit: a push that leaves the pull request with
--     no changed file at all writes no new row, so its last non-empty diffstat still counts.
--
-- Streams that must be selected: pullrequests, pullrequest_comments, pullrequest_activity
-- (selected by default) and pullrequest_diffstat (NOT selected by default: select it, e.g.
-- Meltano's `select` with `pullrequest_diffstat.*`; one request per changed pull request).
-- Runs unchanged on DuckDB and PostgreSQL over the tables target-duckdb and
-- meltanolabs-target-postgres make; set the schema on the connection, e.g.
--   DuckDB: USE bitbucket.tap_bitbucket;   PostgreSQL: SET search_path TO tap_bitbucket;
with comments as (
    select c.repository_uuid,
           c.pullrequest_id,
           c.created_on,
           (c."user"->>'uuid') as user_uuid
    from pullrequest_comments as c
    where coalesce(c.deleted, false) = false
),
approvals as (
    select a.repository_uuid,
           a.pullrequest_id,
           a.event_time,
           (a.approval->'user'->>'uuid') as user_uuid
    from pullrequest_activity as a
    where a.kind = 'approval'
),
reviews as (
    select repository_uuid, pullrequest_id, created_on as reviewed_on, user_uuid from comments
    union all
    select repository_uuid, pullrequest_id, event_time as reviewed_on, user_uuid from approvals
),
first_reviews as (
    select p.repository_uuid,
           p.id as pullrequest_id,
           min(r.reviewed_on) as first_review_on
    from pullrequests as p
    join reviews as r
      on r.repository_uuid = p.repository_uuid
     and r.pullrequest_id = p.id
     and r.user_uuid is distinct from (p.author->>'uuid')
    group by p.repository_uuid, p.id
),
comment_counts as (
    select repository_uuid, pullrequest_id, count(*) as comments
    from comments
    group by repository_uuid, pullrequest_id
),
approval_counts as (
    select repository_uuid, pullrequest_id, count(*) as approvals
    from approvals
    group by repository_uuid, pullrequest_id
),
latest_diffstat as (
    select repository_uuid, pullrequest_id, max(pullrequest_updated_on) as read_at
    from pullrequest_diffstat
    group by repository_uuid, pullrequest_id
),
diff_lines as (
    select d.repository_uuid,
           d.pullrequest_id,
           sum(coalesce(d.lines_added, 0)) as lines_added,
           sum(coalesce(d.lines_removed, 0)) as lines_removed
    from pullrequest_diffstat as d
    join latest_diffstat as l
      on l.repository_uuid = d.repository_uuid
     and l.pullrequest_id = d.pullrequest_id
     and l.read_at is not distinct from d.pullrequest_updated_on
    group by d.repository_uuid, d.pullrequest_id
)
select p.repository_uuid,
       p.id as pullrequest_id,
       p.state,
       p.created_on,
       f.first_review_on,
       coalesce(c.comments, 0) as comments,
       coalesce(a.approvals, 0) as approvals,
       cast(coalesce(l.lines_added, 0) as bigint) as lines_added,
       cast(coalesce(l.lines_removed, 0) as bigint) as lines_removed
from pullrequests as p
left join first_reviews as f
  on f.repository_uuid = p.repository_uuid and f.pullrequest_id = p.id
left join comment_counts as c
  on c.repository_uuid = p.repository_uuid and c.pullrequest_id = p.id
left join approval_counts as a
  on a.repository_uuid = p.repository_uuid and a.pullrequest_id = p.id
left join diff_lines as l
  on l.repository_uuid = p.repository_uuid and l.pullrequest_id = p.id
order by p.repository_uuid, pullrequest_id
