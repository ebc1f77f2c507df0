//! `hale ad user …` and `hale ad group …`: users, groups and group members
//! through Graph, in the spirit of `az ad user` and `az ad group`.

use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::admin::{Output, Session, graph, print};

const USER_COLUMNS: &[&str] = &["displayName", "userPrincipalName", "id"];
const GROUP_COLUMNS: &[&str] = &["displayName", "mailNickname", "id"];
const MEMBER_COLUMNS: &[&str] = &["displayName", "userPrincipalName", "id"];

#[derive(clap::Args)]
pub struct UserProperties {
    /// Display name.
    #[arg(long)]
    display_name: Option<String>,
    /// The sign-in name, alias@<tenant domain>.
    #[arg(long)]
    user_principal_name: Option<String>,
    /// A new password (8 to 256 characters, three of: lowercase, uppercase,
    /// digits, symbols).
    #[arg(long)]
    password: Option<String>,
    /// Require a new password at next sign-in.
    #[arg(long)]
    force_change_password_next_sign_in: Option<bool>,
    /// Whether the account may sign in.
    #[arg(long)]
    account_enabled: Option<bool>,
    /// Mail alias (by default the user principal name's alias, on create).
    #[arg(long)]
    mail_nickname: Option<String>,
    #[arg(long)]
    given_name: Option<String>,
    #[arg(long)]
    surname: Option<String>,
    #[arg(long)]
    job_title: Option<String>,
    #[arg(long)]
    department: Option<String>,
}

impl UserProperties {
    fn body(&self) -> Map<String, Value> {
        let mut body = Map::new();
        let mut put = |key: &str, value: &Option<String>| {
            if let Some(v) = value {
                body.insert(key.to_owned(), json!(v));
            }
        };
        put("displayName", &self.display_name);
        put("userPrincipalName", &self.user_principal_name);
        put("mailNickname", &self.mail_nickname);
        put("givenName", &self.given_name);
        put("surname", &self.surname);
        put("jobTitle", &self.job_title);
        put("department", &self.department);
        if let Some(enabled) = self.account_enabled {
            body.insert("accountEnabled".into(), json!(enabled));
        }
        if let Some(password) = &self.password {
            body.insert(
                "passwordProfile".into(),
                json!({
                    "password": password,
                    "forceChangePasswordNextSignIn":
                        self.force_change_password_next_sign_in.unwrap_or(false),
                }),
            );
        }
        body
    }
}

#[derive(clap::Subcommand)]
pub enum User {
    /// Create a user.
    Create {
        #[command(flatten)]
        properties: UserProperties,
        #[command(flatten)]
        output: Output,
    },
    /// List users.
    List {
        /// An OData $filter, e.g. "startswith(displayName,'a')".
        #[arg(long)]
        filter: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// Show a user (by object ID or user principal name).
    Show {
        #[arg(long)]
        id: String,
        #[command(flatten)]
        output: Output,
    },
    /// Change a user's properties or password.
    Update {
        #[arg(long)]
        id: String,
        #[command(flatten)]
        properties: UserProperties,
    },
    /// Delete a user.
    Delete {
        #[arg(long)]
        id: String,
    },
}

#[derive(clap::Subcommand)]
pub enum Group {
    /// Create a security group.
    Create {
        #[arg(long)]
        display_name: String,
        #[arg(long)]
        mail_nickname: String,
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// List groups.
    List {
        /// An OData $filter, e.g. "startswith(displayName,'ward')".
        #[arg(long)]
        filter: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// Show a group (by object ID or display name).
    Show {
        #[arg(long)]
        group: String,
        #[command(flatten)]
        output: Output,
    },
    /// Delete a group.
    Delete {
        #[arg(long)]
        group: String,
    },
    /// A group's members.
    #[command(subcommand)]
    Member(Member),
}

#[derive(clap::Subcommand)]
pub enum Member {
    /// Add a user, group or service principal (by object ID) to a group.
    Add {
        #[arg(long)]
        group: String,
        #[arg(long)]
        member_id: String,
    },
    /// Remove a member from a group.
    Remove {
        #[arg(long)]
        group: String,
        #[arg(long)]
        member_id: String,
    },
    /// List a group's members (direct, or all with --transitive).
    List {
        #[arg(long)]
        group: String,
        /// Include members of nested groups.
        #[arg(long)]
        transitive: bool,
        #[command(flatten)]
        output: Output,
    },
}

fn encoded(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn listing(collection: &str, filter: Option<String>) -> String {
    match filter {
        Some(f) => format!("{collection}?$top=999&$filter={}", encoded(&f)),
        None => format!("{collection}?$top=999"),
    }
}

/// Every item of a collection, following `@odata.nextLink`.
async fn all_pages(session: &Session, path: &str) -> Result<Value, String> {
    let mut items = Vec::new();
    let mut page = graph(session, Method::GET, path, None).await?;
    loop {
        items.extend(page["value"].as_array().cloned().unwrap_or_default());
        let Some(next) = page["@odata.nextLink"].as_str() else {
            break;
        };
        let rest = next
            .split_once("/v1.0/")
            .map(|(_, r)| r.to_owned())
            .ok_or("a next link outside Graph")?;
        page = graph(session, Method::GET, &rest, None).await?;
    }
    Ok(Value::Array(items))
}

pub async fn user(session: &Session, command: User) -> Result<(), String> {
    match command {
        User::Create { properties, output } => {
            let mut body = properties.body();
            let upn = properties
                .user_principal_name
                .clone()
                .ok_or("--user-principal-name is required")?;
            if properties.display_name.is_none() {
                return Err("--display-name is required".into());
            }
            if properties.password.is_none() {
                return Err("--password is required".into());
            }
            body.entry("accountEnabled").or_insert(json!(true));
            let alias = upn.split('@').next().unwrap_or_default().to_owned();
            body.entry("mailNickname").or_insert(json!(alias));
            let user = graph(session, Method::POST, "users", Some(Value::Object(body))).await?;
            print(&user, &output, USER_COLUMNS)?;
        }
        User::List { filter, output } => {
            let list = all_pages(session, &listing("users", filter)).await?;
            print(&list, &output, USER_COLUMNS)?;
        }
        User::Show { id, output } => {
            let user = graph(session, Method::GET, &format!("users/{id}"), None).await?;
            print(&user, &output, USER_COLUMNS)?;
        }
        User::Update { id, properties } => {
            let body = properties.body();
            if body.is_empty() {
                return Err("nothing to change: give at least one property".into());
            }
            graph(
                session,
                Method::PATCH,
                &format!("users/{id}"),
                Some(Value::Object(body)),
            )
            .await?;
        }
        User::Delete { id } => {
            graph(session, Method::DELETE, &format!("users/{id}"), None).await?;
        }
    }
    Ok(())
}

/// The object ID of the group named by ID or display name.
async fn group_id(session: &Session, group: &str) -> Result<String, String> {
    if uuid_like(group) {
        return Ok(group.to_owned());
    }
    let filter = format!("displayName eq '{}'", group.replace('\'', "''"));
    let found = graph(session, Method::GET, &listing("groups", Some(filter)), None).await?;
    let ids: Vec<&str> = found["value"]
        .as_array()
        .map(|v| v.iter().filter_map(|g| g["id"].as_str()).collect())
        .unwrap_or_default();
    match ids.as_slice() {
        [one] => Ok((*one).to_owned()),
        [] => Err(format!("no group named {group:?}")),
        _ => Err(format!(
            "more than one group is named {group:?}; give its object ID"
        )),
    }
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36
        && s.chars().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

pub async fn group(session: &Session, command: Group) -> Result<(), String> {
    match command {
        Group::Create {
            display_name,
            mail_nickname,
            description,
            output,
        } => {
            let body = json!({
                "displayName": display_name,
                "mailNickname": mail_nickname,
                "description": description,
                "mailEnabled": false,
                "securityEnabled": true,
            });
            let group = graph(session, Method::POST, "groups", Some(body)).await?;
            print(&group, &output, GROUP_COLUMNS)?;
        }
        Group::List { filter, output } => {
            let list = all_pages(session, &listing("groups", filter)).await?;
            print(&list, &output, GROUP_COLUMNS)?;
        }
        Group::Show { group, output } => {
            let id = group_id(session, &group).await?;
            let found = graph(session, Method::GET, &format!("groups/{id}"), None).await?;
            print(&found, &output, GROUP_COLUMNS)?;
        }
        Group::Delete { group } => {
            let id = group_id(session, &group).await?;
            graph(session, Method::DELETE, &format!("groups/{id}"), None).await?;
        }
        Group::Member(Member::Add { group, member_id }) => {
            let id = group_id(session, &group).await?;
            let reference = json!({
                "@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{member_id}")
            });
            graph(
                session,
                Method::POST,
                &format!("groups/{id}/members/$ref"),
                Some(reference),
            )
            .await?;
        }
        Group::Member(Member::Remove { group, member_id }) => {
            let id = group_id(session, &group).await?;
            graph(
                session,
                Method::DELETE,
                &format!("groups/{id}/members/{member_id}/$ref"),
                None,
            )
            .await?;
        }
        Group::Member(Member::List {
            group,
            transitive,
            output,
        }) => {
            let id = group_id(session, &group).await?;
            let nav = if transitive {
                "transitiveMembers"
            } else {
                "members"
            };
            let list = all_pages(session, &format!("groups/{id}/{nav}?$top=999")).await?;
            print(&list, &output, MEMBER_COLUMNS)?;
        }
    }
    Ok(())
}
