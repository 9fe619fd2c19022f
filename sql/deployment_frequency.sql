-- Deployment frequency: successful deployments per environment type and week.
--
-- One row per environment type (the environment's `environment_type.name`: Test, Staging,
-- Production) and week with at least one successful deployment:
--   environment_type  the environment's `environment_type.name`
--   week_start        the Monday (date, UTC) of the week the deployment completed in
--   deployments       deployments whose `state.status.name` is SUCCESSFUL, by the week of
--                     `state.completed_on`
--
-- Definition choices:
--   - A deployment counts once it has completed: `state.name` COMPLETED with status
--     SUCCESSFUL (a `state` without `name` counts by its status alone: Bitbucket gives a
--     status to completed deployments only). Its time is `state.completed_on` (or `state.completion_date`, the spelling
--     of the API's description, when `completed_on` is absent), in UTC; weeks start on
--     Monday (`date_trunc('week', …)`).
--   - The environment's type comes from `environments`, joined on the repository and the
--     environment's uuid. `environments` is FULL_TABLE: an environment deleted since is kept
--     (PostgreSQL marks it with `_sdc_deleted_at`, DuckDB keeps it as it was), deliberately not
--     filtered out here: deployments made to it still happened, and both databases then give
--     the same figures. A deployment whose environment was never loaded is left out.
--   - Every repository loaded counts; filter on `c.repository_uuid` for one.
--
-- Streams that must be selected: deployments, environments (both selected by default).
-- Runs unchanged on DuckDB and PostgreSQL over the tables target-duckdb and
-- meltanolabs-target-postgres make; set the schema on the connection, e.g.
--   DuckDB: USE bitbucket.tap_bitbucket;   PostgreSQL: SET search_path TO tap_bitbucket;
with completed as (
    select d.repository_uuid,
           (d.environment->>'uuid') as environment_uuid,
           (d.state->'status'->>'name') as status,
           cast(cast(coalesce(d.state->>'completed_on', d.state->>'completion_date') as timestamptz)
                at time zone 'UTC' as timestamp) as completed_on
    from deployments as d
    where coalesce(d.state->>'name', 'COMPLETED') = 'COMPLETED'
)
select (e.environment_type->>'name') as environment_type,
       cast(date_trunc('week', c.completed_on) as date) as week_start,
       count(*) as deployments
from completed as c
join environments as e
  on e.repository_uuid = c.repository_uuid
 and e.uuid = c.environment_uuid
where c.status = 'SUCCESSFUL'
  and c.completed_on is not null
group by (e.environment_type->>'name'), cast(date_trunc('week', c.completed_on) as date)
order by environment_type, week_start
