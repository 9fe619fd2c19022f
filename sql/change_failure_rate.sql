-- Change failure rate: the share of completed deployments that failed, per environment type.
--
-- One row per environment type with at least one completed deployment:
--   environment_type  the environment's `environment_type.name` (Test, Staging, Production)
--   deployments       completed deployments (`state.name` COMPLETED) whose `state.status.name`
--                     is SUCCESSFUL or FAILED
--   failed            those whose status is FAILED
--   rate              failed / deployments, a fraction between 0 and 1 (double precision, unrounded)
--
-- Definition choices:
--   - "Completed" means `state.name` COMPLETED (or no `name`: Bitbucket gives a status to
--     completed deployments only). STOPPED deployments (stopped by hand: neither
--     a change delivered nor a failure of one) count in neither figure; waiting (UNDEPLOYED)
--     and running (IN_PROGRESS) ones neither. Bitbucket reports an ERROR step's deployment as
--     FAILED.
--   - Every deployment counts, whatever its time; add a filter on
--     `state.completed_on` for a period (see deployment_frequency.sql for the expression).
--   - The environment's type comes from `environments`, joined on the repository and the
--     environment's uuid, deleted environments included (FULL_TABLE: PostgreSQL marks them
--     with `_sdc_deleted_at`, DuckDB keeps them; their deployments still happened, and both
--     databases give the same figures). A deployment whose environment was never loaded is
--     left out.
--
-- Streams that must be selected: deployments, environments (both selected by default).
-- Runs unchanged on DuckDB and PostgreSQL over the tables target-duckdb and
-- meltanolabs-target-postgres make; set the schema on the connection, e.g.
--   DuckDB: USE bitbucket.tap_bitbucket;   PostgreSQL: SET search_path TO tap_bitbucket;
with completed as (
    select (e.environment_type->>'name') as environment_type,
           (d.state->'status'->>'name') as status
    from deployments as d
    join environments as e
      on e.repository_uuid = d.repository_uuid
     and e.uuid = (d.environment->>'uuid')
    where coalesce(d.state->>'name', 'COMPLETED') = 'COMPLETED'
      and (d.state->'status'->>'name') in ('SUCCESSFUL', 'FAILED')
)
select environment_type,
       count(*) as deployments,
       count(*) filter (where status = 'FAILED') as failed,
       cast(count(*) filter (where status = 'FAILED') as double precision) / count(*) as rate
from completed
group by environment_type
order by environment_type
