//! User-level streams, read once per run rather than per workspace: `users` (legacy "List
//! Users for Account") and `account_emails` (legacy "List Account Emails"). Both need a user
//! credential (an API token or OAuth); an access token is not a user, and the stream is then
//! skipped with a warning (see `crate::sync`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::paged::read_all;
use super::{Links, PartitionRun, Scope, StreamDef, StreamError, Text, User};
use crate::bitbucket::{decode_text, ApiError, MAX_PAGELEN};
use crate::singer::{record_schema, RenderedPage, WriteError};

/// A `users` record: the account object exactly as `GET /users/{account}` or `GET /user`
/// sends it (keyed on `uuid`; no parent keys, since accounts belong to no workspace).
pub type UserRecord<'a> = User<'a>;

/// An email address of the authenticated user (`GET /user/emails`).
#[skip_serializing_none]
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "'de: 'a"))]
pub struct AccountEmailRecord<'a> {
    /// `email`.
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    /// The address (key).
    pub email: Text<'a>,
    /// Whether it is the account's primary address.
    pub is_primary: Option<bool>,
    /// Whether the user confirmed it.
    pub is_confirmed: Option<bool>,
    /// Links.
    pub links: Option<Links<'a>>,
}

super::borrowing!(AccountEmails => AccountEmailRecord);

/// `users`: FULL_TABLE, one request per configured account (else the authenticated user).
pub const USERS: StreamDef = StreamDef {
    name: "users",
    key_properties: &["uuid"],
    replication_key: None,
    selected_by_default: true,
    scope: Scope::Global,
    schema: record_schema::<UserRecord>,
    read: |run| Box::pin(read_users(run)),
    family: None,
};

/// `account_emails`: FULL_TABLE, the authenticated user's addresses.
pub const ACCOUNT_EMAILS: StreamDef = StreamDef {
    name: "account_emails",
    key_properties: &["email"],
    replication_key: None,
    selected_by_default: true,
    scope: Scope::Global,
    schema: record_schema::<AccountEmailRecord>,
    read: |run| Box::pin(read_emails(run)),
    family: None,
};

/// `GET /users/{account}` for each configured account id or `{uuid}` (an unknown one, or a
/// team, answers 404: warned about and skipped), else `GET /user`.
async fn read_users(run: PartitionRun) -> Result<(), StreamError> {
    if run.settings.accounts.is_empty() {
        let url = run.client.url(&["user"]);
        let user = read_user(&run, &url).await??;
        run.out().emitter.send_page(user.rendered).await?;
        return Ok(());
    }
    let mut uuids = std::collections::HashSet::new();
    for account in &run.settings.accounts {
        let url = run.client.url(&["users", account]);
        match read_user(&run, &url).await {
            Ok(user) => {
                let user = user?;
                // An account listed twice (by id and by UUID) is emitted once.
                if uuids.insert(user.uuid) {
                    run.out().emitter.send_page(user.rendered).await?;
                }
            }
            Err(e) if e.status() == Some(404) => tracing::warn!(
                stream = "users",
                account = %account,
                "Skipping account `{account}` (config key `accounts`): Bitbucket has no user with this account id or UUID (teams and workspaces are not users) ({e})."
            ),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// A user, rendered, with its UUID.
struct ReadUser {
    uuid: String,
    rendered: RenderedPage,
}

/// GETs the user at `url` (the outer error is the request's, the inner one rendering's).
async fn read_user(run: &PartitionRun, url: &url::Url) -> Result<Result<ReadUser, WriteError>, ApiError> {
    run.client
        .get_with(url, |text| {
            let user: UserRecord<'_> = decode_text(url.path(), text)?;
            Ok(run.out().emitter.render(&[&user]).map(|rendered| ReadUser {
                uuid: user.uuid.to_string(),
                rendered,
            }))
        })
        .await
}

async fn read_emails(run: PartitionRun) -> Result<(), StreamError> {
    let mut url = run.client.url(&["user", "emails"]);
    url.query_pairs_mut()
        .append_pair("pagelen", &run.pagelen(MAX_PAGELEN));
    read_all::<AccountEmails, _>(&run, run.out(), url, |_| {}).await?;
    Ok(())
}
