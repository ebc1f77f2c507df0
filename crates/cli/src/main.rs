//! `hale`: one binary for the server and its administration.
//!
//! Invariant: parses arguments and wires; decides nothing. Behaviour lives in the
//! library crates (`hale-server` for `serve`); `login`, `ad`, `healthcareapis`
//! and `role` speak only the REST API.

mod admin;
mod directory;
mod health;
mod keys;
mod out;
mod permissions;
mod serve;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "hale",
    version,
    about = "Hale: a self-hosted identity platform and health-data platform in one binary",
    long_about = "Hale does what Microsoft Entra ID and Azure Health Data Services do together: \
                  app registrations, OAuth 2.0 tokens for MSAL and azure-identity, and FHIR R4 and \
                  DICOMweb services, served from one origin."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the Hale server.
    Serve(serve::ServeArgs),
    /// Sign in to a Hale server: device code by default, or user name and password,
    /// or as a service principal.
    Login(admin::LoginArgs),
    /// Manage the directory: app registrations, secrets, service principals, users, groups.
    #[command(subcommand)]
    Ad(admin::Ad),
    /// Token signing keys: rotate and list (on the installation, like `serve`).
    #[command(subcommand)]
    Keys(keys::Keys),
    /// Manage health workspaces and their FHIR and DICOM services.
    #[command(subcommand)]
    Healthcareapis(health::HealthcareApis),
    /// Manage Azure RBAC: role assignments and role definitions.
    #[command(subcommand)]
    Role(health::Role),
}

/// Exit status for a bad setting or a failed start.
pub const EXIT_BAD_START: u8 = 2;

/// mimalloc: see the note in Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match cli.command {
        Command::Serve(args) => {
            let serve_matches = matches
                .subcommand_matches("serve")
                .expect("serve was chosen");
            serve::run(args, serve_matches)
        }
        Command::Login(args) => admin::login(args),
        Command::Ad(command) => admin::ad(command),
        Command::Keys(command) => {
            let keys_matches = matches.subcommand_matches("keys").expect("keys was chosen");
            let (_, sub) = keys_matches.subcommand().expect("a keys subcommand");
            keys::run(command, sub)
        }
        Command::Healthcareapis(command) => health::healthcareapis(command),
        Command::Role(command) => health::role(command),
    }
}
