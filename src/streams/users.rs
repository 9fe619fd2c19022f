//! User-level streams, read once per run rather than per workspace: `users` (legacy "List
//! Users for Account") and `account_emails` (legacy "List Account Emails"). Both need a user
//! credential (an API token or OAuth); an access token is not a user, and the stream is then
//! skipped with a warning (see `crate::sync`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::paged::read_all;
use super::{Links, PartitionRun, Scope, StreamDef, StreamError, User};
use crate::bitbucket::MAX_PAGELEN;
use crate::singer::record_schema;

/// A `users` record: the account object exactly as `GET /users/{account}` or `GET /user`
/// sends it (keyed on `uuid`; no parent keys, since accounts belong to no workspace).
pub type UserRecord = User;

/// An email address of the authenticated user (`GET /user/emails`).
#[skip_serializing_none]
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct AccountEmailRecord {
    /// `email`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The address (key).
    pub email: String,
    /// Whether it is the account's primary address.
    pub is_primary: Option<bool>,
    /// Whether the user confirmed it.
    pub is_confirmed: Option<bool>,
    /// Links.
    pub links: Option<Links>,
}

/// `users`: FULL_TABLE, one request per configured account (else the authenticated user).
pub const USERS: StreamDef = StreamDef {
    name: "users",
    key_properties: &["uuid"],
    replication_key: None,
    selected_by_default: true,
    scope: Scope::Global,
    schema: record_schema::<UserRecord>,
    read: |run| Box::pin(read_users(run)),
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
};

/// `GET /users/{account}` for each configured account id or `{uuid}` (an unknown one, or a
/// team, answers 404: warned about and skipped), else `GET /user`.
async fn read_users(run: PartitionRun) -> Result<(), StreamError> {
    if run.settings.accounts.is_empty() {
        let url = run.client.url(&["user"]);
        let user: UserRecord = run.client.get_json(&url).await?;
        run.emitter.records(&[user]).await?;
        return Ok(());
    }
    let mut users = Vec::with_capacity(run.settings.accounts.len());
    for account in &run.settings.accounts {
        let url = run.client.url(&["users", account]);
        match run.client.get_json::<UserRecord>(&url).await {
            // An account listed twice (by id and by UUID) is emitted once.
            Ok(user) if users.iter().any(|u: &UserRecord| u.uuid == user.uuid) => {}
            Ok(user) => users.push(user),
            Err(e) if e.status() == Some(404) => tracing::warn!(
                stream = "users",
                account = %account,
                "Skipping account `{account}` (config key `accounts`): Bitbucket has no user with this account id or UUID (teams and workspaces are not users) ({e})."
            ),
            Err(e) => return Err(e.into()),
        }
    }
    run.emitter.records(&users).await?;
    Ok(())
}

async fn read_emails(run: PartitionRun) -> Result<(), StreamError> {
    let mut url = run.client.url(&["user", "emails"]);
    url.query_pairs_mut()
        .append_pair("pagelen", &run.pagelen(MAX_PAGELEN));
    read_all(&run, url, |_: &mut AccountEmailRecord| {}).await?;
    Ok(())
}
