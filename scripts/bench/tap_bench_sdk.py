"""A minimal Meltano Singer SDK tap for the benchmark (scripts/bench.sh).

It reads the same simulator endpoints as tap-bitbucket's `repositories` and `pullrequests`
streams, with the same page sizes and query parameters, and declares the same JSON Schemas
(the committed `schemas/*.json`), so the two taps do the same work and the benchmark compares
what each costs per record. It follows `next` links (the SDK's usual HATEOAS pagination);
tap-bitbucket's keyset pagination makes about 2 % more requests for the same records.

Not a product: no retries tuning, no OAuth, no error handling beyond the SDK's defaults.

    python tap_bench_sdk.py --config config.json > out.jsonl

Config: `api_url`, `access_token`, `workspaces` (list of slugs).
"""

from __future__ import annotations

import json
import pathlib
from urllib.parse import parse_qsl

from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.pagination import BaseHATEOASPaginator
from singer_sdk.streams import RESTStream

SCHEMAS = pathlib.Path(__file__).resolve().parents[2] / "schemas"
PR_STATES = ["OPEN", "MERGED", "DECLINED", "SUPERSEDED"]


def load_schema(stream: str) -> dict:
    schema = json.loads((SCHEMAS / f"{stream}.json").read_text())
    schema.pop("$schema", None)
    return schema


class NextLinkPaginator(BaseHATEOASPaginator):
    """Follows Bitbucket's absolute `next` link until a page has none."""

    def get_next_url(self, response):
        return response.json().get("next")


class BitbucketStream(RESTStream):
    """Common settings: API root, Bearer token, `values` envelope, `next` links."""

    records_jsonpath = "$.values[*]"
    replication_key = "updated_on"
    is_sorted = True

    @property
    def url_base(self) -> str:
        return self.config["api_url"].rstrip("/")

    @property
    def authenticator(self):
        return BearerTokenAuthenticator(token=self.config["access_token"])

    def get_new_paginator(self):
        return NextLinkPaginator()

    def base_params(self, context) -> dict:
        return {}

    def get_url_params(self, context, next_page_token):
        if next_page_token:
            # The next link carries every parameter (repeated `state` included).
            params: dict[str, list[str]] = {}
            for key, value in parse_qsl(next_page_token.query):
                params.setdefault(key, []).append(value)
            return params
        return self.base_params(context)


class RepositoriesStream(BitbucketStream):
    """`GET /repositories/{workspace}`, sorted by `updated_on`, 100 per page."""

    name = "repositories"
    path = "/repositories/{workspace}"
    primary_keys = ("uuid",)
    schema = load_schema("repositories")

    @property
    def partitions(self):
        return [{"workspace": w} for w in self.config["workspaces"]]

    def base_params(self, context) -> dict:
        return {"pagelen": 100, "sort": "updated_on"}

    def post_process(self, row, context=None):
        row["workspace_slug"] = context["workspace"]
        return row

    def get_child_context(self, record, context):
        return {
            "workspace": context["workspace"],
            "repo_slug": record["slug"],
            "repo_uuid": record["uuid"],
        }


class PullRequestsStream(BitbucketStream):
    """`GET /repositories/{workspace}/{repo}/pullrequests`, every state, with reviewers and
    participants, sorted by `updated_on`, 50 per page."""

    name = "pullrequests"
    path = "/repositories/{workspace}/{repo_slug}/pullrequests"
    primary_keys = ("repository_uuid", "id")
    parent_stream_type = RepositoriesStream
    state_partitioning_keys = ["workspace", "repo_slug"]
    schema = load_schema("pullrequests")

    def base_params(self, context) -> dict:
        return {
            "pagelen": 50,
            "state": PR_STATES,
            "fields": "+values.reviewers,+values.participants",
            "sort": "updated_on",
        }

    def post_process(self, row, context=None):
        row["workspace_slug"] = context["workspace"]
        row["repository_slug"] = context["repo_slug"]
        row["repository_uuid"] = context["repo_uuid"]
        return row


class TapBenchSDK(Tap):
    """The benchmark's Singer SDK tap."""

    name = "tap-bench-sdk"
    config_jsonschema = th.PropertiesList(
        th.Property("api_url", th.StringType, required=True),
        th.Property("access_token", th.StringType, required=True, secret=True),
        th.Property("workspaces", th.ArrayType(th.StringType), required=True),
    ).to_dict()

    def discover_streams(self):
        return [RepositoriesStream(self), PullRequestsStream(self)]


if __name__ == "__main__":
    TapBenchSDK.cli()
