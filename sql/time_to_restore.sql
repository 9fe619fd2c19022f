-- Time to restore: for each failed deployment, how long until the same environment of the
-- same repository had a successful one again.
--
-- One row per failed deployment that a later one restored:
--   repository_uuid   the repository
--   environment_uuid  the environment (`environment.uuid`; join `environments` for its name)
--   failed_at         the failed deployment's `state.completed_on` (UTC)
--   restored_at       the `state.completed_on` of the earliest SUCCESSFUL deployment of the
--                     same repository and environment completed after it
--   hours             restored_at − failed_at, in hours (fractional, double precision, unrounded)
--
-- Definition choices:
--   - A failed deployment is a completed one (`state.name` COMPLETED) with `state.status.name`
--     FAILED (Bitbucket reports an ERROR step's deployment as FAILED); a restore is a completed
--     one with status SUCCESSFUL, to the same repository and environment, completed strictly
--     later. STOPPED deployments neither fail nor restore.
--   - Each failed deployment is its own row: two failures in a row before one success give
--     two rows with the same restored_at. A failure not yet restored has no row.
--   - Every environment counts (Test and Staging too); filter with a join to `environments`
--     on `environment_type->>'name'` for production only.
--   - Times are `state.completed_on` (or `state.completion_date`, the spelling of the API's
--     description, when `completed_on` is absent), in UTC.
--
-- Streams that must be selected: deployments (selected by default).
-- Runs unchanged on DuckDB and PostgreSQL over the tables target-duckdb and
-- meltanolabs-target-postgres make; set the schema on the connection, e.g.
--   DuckDB: USE bitbucket.tap_bitbucket;   PostgreSQL: SET search_path TO tap_bitbucket;
with completed as (
    select d.repository_uuid,
           d.uuid,
           (d.environment->>'uuid') as environment_uuid,
           (d.state->'status'->>'name') as status,
           cast(cast(coalesce(d.state->>'completed_on', d.state->>'completion_date') as timestamptz)
                at time zone 'UTC' as timestamp) as completed_on
    from deployments as d
    where coalesce(d.state->>'name', 'COMPLETED') = 'COMPLETED'
)
select f.repository_uuid,
       f.environment_uuid,
       f.completed_on as failed_at,
       min(s.completed_on) as restored_at,
       cast(extract(epoch from (min(s.completed_on) - f.completed_on)) as double precision) / 3600 as hours
from completed as f
join completed as s
  on s.repository_uuid = f.repository_uuid
 and s.environment_uuid = f.environment_uuid
 and s.status = 'SUCCESSFUL'
 and s.completed_on > f.completed_on
where f.status = 'FAILED'
group by f.repository_uuid, f.environment_uuid, f.uuid, f.completed_on
order by f.repository_uuid, f.environment_uuid, failed_at
