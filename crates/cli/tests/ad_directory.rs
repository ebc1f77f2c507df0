//! `hale ad user …`, `hale ad group …` and `--query` against a real `hale serve`.

mod common;

use std::process::{Output, Stdio};

use common::{Served, err, hale, text};

use hale_store::test_support::TestDatabase;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn users_groups_and_queries_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create().await.unwrap();
    let db_url = common::database_url(&db);
    let path = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let served = Served::start(&path, &db_url);
        let config = path.join("config");
        let cli = |args: &[&str]| -> Output {
            hale(&path)
                .env("XDG_CONFIG_HOME", &config)
                .args(args)
                .stdin(Stdio::null())
                .output()
                .expect("hale runs")
        };
        let ok = |args: &[&str]| -> String {
            let out = cli(args);
            assert!(out.status.success(), "{args:?}: {}", err(&out));
            text(&out)
        };
        ok(&[
            "login",
            "-u",
            "admin@hale.local",
            "-p",
            "Cli-Test-Password-1",
            "--authority",
            &served.url,
            "--ca-cert",
            &served.ca,
        ]);

        // Users.
        let created = ok(&[
            "ad",
            "user",
            "create",
            "--display-name",
            "Nina Nurse",
            "--user-principal-name",
            "nina@hale.local",
            "--password",
            "Str0ng-Passw0rd",
            "--job-title",
            "Nurse",
            "-o",
            "tsv",
        ]);
        let fields: Vec<&str> = created.split('\t').collect();
        assert_eq!(fields[..2], ["Nina Nurse", "nina@hale.local"], "{created}");
        let nina = fields[2].to_owned();
        let shown: Value =
            serde_json::from_str(&ok(&["ad", "user", "show", "--id", "nina@hale.local"])).unwrap();
        assert_eq!(shown["id"], nina.as_str());
        assert_eq!(shown["jobTitle"], "Nurse");
        assert!(shown.get("@odata.context").is_none());
        ok(&[
            "ad",
            "user",
            "update",
            "--id",
            &nina,
            "--job-title",
            "Head Nurse",
        ]);
        assert_eq!(
            ok(&[
                "ad", "user", "show", "--id", &nina, "--query", "jobTitle", "-o", "tsv"
            ]),
            "Head Nurse"
        );
        let table = ok(&["ad", "user", "list", "-o", "table"]);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("displayName"), "{table}");
        assert_eq!(lines.len(), 4, "header, rule, admin and Nina: {table}");

        // --query, as az: projections, filters, scalars; applied before the format.
        assert_eq!(
            ok(&[
                "ad",
                "user",
                "list",
                "--query",
                "[?jobTitle=='Head Nurse'].userPrincipalName",
                "-o",
                "tsv"
            ]),
            "nina@hale.local"
        );
        let projected: Value = serde_json::from_str(&ok(&[
            "ad",
            "user",
            "list",
            "--filter",
            "startswith(displayName,'nina')",
            "--query",
            "[].{name: displayName, upn: userPrincipalName}",
        ]))
        .unwrap();
        assert_eq!(
            projected,
            serde_json::json!([{"name": "Nina Nurse", "upn": "nina@hale.local"}])
        );
        let table = ok(&[
            "ad",
            "user",
            "list",
            "--query",
            "[].{upn: userPrincipalName}",
            "-o",
            "table",
        ]);
        assert_eq!(table.lines().next().unwrap(), "upn", "{table}");
        assert_eq!(ok(&["ad", "user", "list", "--query", "length(@)"]), "2");

        // Groups and members.
        let group = ok(&[
            "ad",
            "group",
            "create",
            "--display-name",
            "Ward 7",
            "--mail-nickname",
            "ward7",
            "--query",
            "id",
            "-o",
            "tsv",
        ]);
        assert_eq!(group.len(), 36, "{group}");
        let inner = ok(&[
            "ad",
            "group",
            "create",
            "--display-name",
            "Night shift",
            "--mail-nickname",
            "night",
            "--query",
            "id",
            "-o",
            "tsv",
        ]);
        ok(&[
            "ad",
            "group",
            "member",
            "add",
            "--group",
            "Ward 7",
            "--member-id",
            &inner,
        ]);
        ok(&[
            "ad",
            "group",
            "member",
            "add",
            "--group",
            &inner,
            "--member-id",
            &nina,
        ]);
        assert_eq!(
            ok(&[
                "ad",
                "group",
                "member",
                "list",
                "--group",
                "Ward 7",
                "--query",
                "[].displayName",
                "-o",
                "tsv"
            ]),
            "Night shift"
        );
        let all = ok(&[
            "ad",
            "group",
            "member",
            "list",
            "--group",
            "Ward 7",
            "--transitive",
            "--query",
            "sort([].displayName)",
            "-o",
            "tsv",
        ]);
        assert_eq!(
            all.lines().collect::<Vec<_>>(),
            ["Night shift", "Nina Nurse"]
        );
        let listed = ok(&[
            "ad",
            "group",
            "list",
            "--filter",
            "displayName eq 'ward 7'",
            "-o",
            "tsv",
        ]);
        assert_eq!(listed, format!("Ward 7\tward7\t{group}"));
        ok(&[
            "ad",
            "group",
            "member",
            "remove",
            "--group",
            &inner,
            "--member-id",
            &nina,
        ]);
        assert_eq!(
            ok(&[
                "ad",
                "group",
                "member",
                "list",
                "--group",
                &inner,
                "--query",
                "length(@)"
            ]),
            "0"
        );
        let shown: Value =
            serde_json::from_str(&ok(&["ad", "group", "show", "--group", "Night shift"])).unwrap();
        assert_eq!(shown["id"], inner.as_str());

        // Errors reach the operator as one line, exit status 1, nothing changed.
        for (args, needle) in [
            (
                vec![
                    "ad",
                    "user",
                    "create",
                    "--display-name",
                    "Weak",
                    "--user-principal-name",
                    "weak@hale.local",
                    "--password",
                    "password",
                ],
                "password complexity",
            ),
            (
                vec![
                    "ad",
                    "user",
                    "create",
                    "--display-name",
                    "Dup",
                    "--user-principal-name",
                    "NINA@hale.local",
                    "--password",
                    "Str0ng-Passw0rd",
                ],
                "already exists",
            ),
            (
                vec![
                    "ad",
                    "user",
                    "create",
                    "--display-name",
                    "Out",
                    "--user-principal-name",
                    "out@elsewhere.org",
                    "--password",
                    "Str0ng-Passw0rd",
                ],
                "verified domain",
            ),
            (
                vec!["ad", "user", "list", "--query", "[?"],
                "invalid --query",
            ),
            (
                vec!["ad", "user", "list", "--filter", "displayName eq"],
                "Invalid filter clause",
            ),
            (
                vec![
                    "ad",
                    "group",
                    "member",
                    "add",
                    "--group",
                    "Ward 7",
                    "--member-id",
                    &inner,
                ],
                "already exist",
            ),
            (
                vec!["ad", "group", "show", "--group", "No such group"],
                "no group named",
            ),
            (
                vec!["ad", "user", "show", "--id", "ghost@hale.local"],
                "does not exist",
            ),
        ] {
            let out = cli(&args);
            assert_eq!(out.status.code(), Some(1), "{args:?}");
            let e = err(&out);
            assert!(e.contains(needle), "{args:?}: {e}");
            assert_eq!(e.lines().count(), 1, "{e}");
        }
        assert_eq!(ok(&["ad", "user", "list", "--query", "length(@)"]), "2");

        ok(&["ad", "user", "delete", "--id", &nina]);
        ok(&["ad", "group", "delete", "--group", "Ward 7"]);
        assert_eq!(ok(&["ad", "user", "list", "--query", "length(@)"]), "1");
        assert_eq!(
            ok(&[
                "ad",
                "group",
                "list",
                "--query",
                "[].displayName",
                "-o",
                "tsv"
            ]),
            "Night shift"
        );

        // A reader that has gone (`hale ad user list -o json | head -1`): the
        // command ends quietly and successfully, without a panic.
        #[cfg(unix)]
        {
            use std::os::fd::OwnedFd;
            use std::os::unix::net::UnixStream;
            let (gone, writer) = UnixStream::pair().unwrap();
            drop(gone);
            let out = hale(&path)
                .env("XDG_CONFIG_HOME", &config)
                .args(["ad", "user", "list", "-o", "json"])
                .stdin(Stdio::null())
                .stdout(Stdio::from(OwnedFd::from(writer)))
                .stderr(Stdio::piped())
                .output()
                .expect("hale runs");
            assert!(out.status.success(), "{:?}: {}", out.status, err(&out));
            assert_eq!(err(&out), "");
        }
    })
    .await
    .unwrap();
}
