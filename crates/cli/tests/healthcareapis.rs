//! `hale healthcareapis …` and `hale role …` against a real `hale serve`: the
//! seeds' workspace, FHIR and DICOM services and role assignment steps from
//! the CLI, with its output formats and its errors.

mod common;

use std::process::{Output, Stdio};

use common::{Served, database_url, hale};
use hale_store::test_support::TestDatabase;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn workspaces_services_and_role_assignments_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create().await.unwrap();
    let db_url = database_url(&db);
    let path = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let served = Served::start(&path, &db_url);
        let config = path.join("config");
        let cli = |args: &[&str]| -> Output {
            let mut cmd = hale(&path);
            cmd.env("XDG_CONFIG_HOME", &config)
                .args(args)
                .stdin(Stdio::null());
            cmd.output().expect("hale runs")
        };
        let ok = |args: &[&str]| -> String {
            let out = cli(args);
            assert!(
                out.status.success(),
                "hale {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        };
        let fails = |args: &[&str]| -> String {
            let out = cli(args);
            assert_eq!(out.status.code(), Some(1), "hale {args:?} should fail");
            String::from_utf8_lossy(&out.stderr).trim().to_owned()
        };
        let json = |args: &[&str]| -> Value { serde_json::from_str(&ok(args)).unwrap() };

        // Not signed in, then signed in (Graph and ARM tokens both kept).
        assert!(fails(&["healthcareapis", "workspace", "list"]).contains("hale login"));
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

        // Workspace and services.
        let ws = json(&["healthcareapis", "workspace", "create", "-n", "cliws"]);
        assert_eq!(ws["name"], "cliws");
        assert_eq!(ws["resourceGroup"], "hale-default");
        assert_eq!(ws["location"], "local", "the resource group's location");
        let sub = ws["id"]
            .as_str()
            .unwrap()
            .split('/')
            .nth(2)
            .unwrap()
            .to_owned();
        let fhir = ok(&[
            "healthcareapis",
            "fhir-service",
            "create",
            "--workspace-name",
            "cliws",
            "-n",
            "fhir1",
            "-o",
            "tsv",
        ]);
        let fhir_url = format!("{}/fhir/cliws/fhir1", served.url);
        assert_eq!(
            fhir,
            format!("fhir1\thale-default\tlocal\tSucceeded\t{fhir_url}")
        );
        let dicom = ok(&[
            "healthcareapis",
            "dicom-service",
            "create",
            "--workspace-name",
            "cliws",
            "-n",
            "dicom1",
            "-o",
            "tsv",
        ]);
        assert!(
            dicom.ends_with(&format!("{}/dicom/cliws/dicom1", served.url)),
            "{dicom}"
        );
        let table = ok(&["healthcareapis", "workspace", "list", "-o", "table"]);
        let mut lines = table.lines();
        assert_eq!(
            lines.next().unwrap().split_whitespace().collect::<Vec<_>>(),
            ["name", "resourceGroup", "location", "provisioningState"]
        );
        assert!(lines.nth(1).unwrap().starts_with("cliws"), "{table}");
        let listed = json(&[
            "healthcareapis",
            "fhir-service",
            "list",
            "--workspace-name",
            "cliws",
        ]);
        assert_eq!(
            listed[0]["properties"]["authenticationConfiguration"]["audience"],
            fhir_url
        );
        let shown = json(&[
            "healthcareapis",
            "dicom-service",
            "show",
            "--workspace-name",
            "cliws",
            "-n",
            "dicom1",
        ]);
        assert_eq!(
            shown["type"],
            "Microsoft.HealthcareApis/workspaces/dicomservices"
        );

        // Definitions, then an assignment to an application by its client ID.
        let def = ok(&[
            "role",
            "definition",
            "list",
            "--name",
            "dicom data owner",
            "-o",
            "tsv",
        ]);
        assert!(
            def.starts_with("DICOM Data Owner\t58a3b984-7adf-4c20-983a-32417c86fbc8\t"),
            "{def}"
        );
        let all = json(&["role", "definition", "list"]);
        assert_eq!(all.as_array().unwrap().len(), 13);
        let app_id = ok(&[
            "ad",
            "app",
            "create",
            "--display-name",
            "cli-fhir-client",
            "-o",
            "tsv",
        ])
        .split('\t')
        .next()
        .unwrap()
        .to_owned();
        let sp = json(&["ad", "sp", "create", "--id", &app_id]);
        let sp_id = sp["id"].as_str().unwrap().to_owned();
        let scope = ws["id"].as_str().unwrap().to_owned() + "/fhirservices/fhir1";
        let assigned = json(&[
            "role",
            "assignment",
            "create",
            "--assignee",
            &app_id,
            "--role",
            "FHIR Data Contributor",
            "--scope",
            &scope,
        ]);
        assert_eq!(assigned["roleDefinitionName"], "FHIR Data Contributor");
        assert_eq!(assigned["principalId"], sp_id);
        assert_eq!(assigned["principalType"], "ServicePrincipal");
        assert_eq!(assigned["scope"], scope);
        let mine = ok(&[
            "role",
            "assignment",
            "list",
            "--assignee",
            &app_id,
            "-o",
            "tsv",
        ]);
        assert_eq!(
            mine,
            format!(
                "{sp_id}\tServicePrincipal\tFHIR Data Contributor\t{scope}\t{}",
                assigned["name"].as_str().unwrap()
            )
        );
        // A user by UPN, at the subscription by default.
        let reader = json(&[
            "role",
            "assignment",
            "create",
            "--assignee",
            "admin@hale.local",
            "--role",
            "FHIR Data Reader",
        ]);
        assert_eq!(reader["scope"], format!("/subscriptions/{sub}"));
        assert_eq!(reader["principalType"], "User");
        ok(&[
            "role",
            "assignment",
            "delete",
            "--ids",
            reader["id"].as_str().unwrap(),
        ]);

        // Errors reach the operator as one line with ARM's code.
        assert!(
            fails(&[
                "role",
                "assignment",
                "create",
                "--assignee",
                &app_id,
                "--role",
                "Nope",
                "--scope",
                &scope
            ])
            .contains("Role 'Nope' doesn't exist.")
        );
        assert!(
            fails(&[
                "role",
                "assignment",
                "create",
                "--assignee",
                "nobody@hale.local",
                "--role",
                "Reader"
            ])
            .contains("cannot find a user, group or service principal")
        );
        assert!(
            fails(&[
                "role",
                "assignment",
                "create",
                "--assignee",
                &app_id,
                "--role",
                "FHIR Data Contributor",
                "--scope",
                &scope
            ])
            .contains("(RoleAssignmentExists)")
        );
        assert!(
            fails(&["healthcareapis", "workspace", "create", "-n", "Bad-Name"])
                .contains("(InvalidResourceName)")
        );
        assert!(
            fails(&["healthcareapis", "workspace", "delete", "-n", "cliws"]).contains("(Conflict)")
        );
        assert!(
            fails(&["role", "assignment", "delete", "--assignee", &app_id])
                .contains("--assignee and --role")
        );

        // Cleanup by assignee, role and scope; then the services and the workspace.
        ok(&[
            "role",
            "assignment",
            "delete",
            "--assignee",
            &app_id,
            "--role",
            "FHIR Data Contributor",
            "--scope",
            &scope,
        ]);
        assert_eq!(
            ok(&[
                "role",
                "assignment",
                "list",
                "--assignee",
                &app_id,
                "-o",
                "tsv"
            ]),
            ""
        );
        ok(&[
            "healthcareapis",
            "fhir-service",
            "delete",
            "--workspace-name",
            "cliws",
            "-n",
            "fhir1",
        ]);
        ok(&[
            "healthcareapis",
            "dicom-service",
            "delete",
            "--workspace-name",
            "cliws",
            "-n",
            "dicom1",
        ]);
        ok(&["healthcareapis", "workspace", "delete", "-n", "cliws"]);
        assert!(
            fails(&["healthcareapis", "workspace", "show", "-n", "cliws"])
                .contains("(ResourceNotFound)")
        );

        // A session from before ARM tokens were kept asks for a new login.
        let session = config.join("hale/session.json");
        let mut kept: Value =
            serde_json::from_str(&std::fs::read_to_string(&session).unwrap()).unwrap();
        kept.as_object_mut().unwrap().remove("armAccessToken");
        std::fs::write(&session, kept.to_string()).unwrap();
        assert!(fails(&["healthcareapis", "workspace", "list"]).contains("run `hale login` again"));
    })
    .await
    .unwrap();
}
