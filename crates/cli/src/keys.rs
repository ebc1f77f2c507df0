//! `hale keys rotate|list`: token signing keys, operated on the installation
//! directly (the same settings as `hale serve`: `--config`, `--data-dir`,
//! `--database-url`, `HALE_MASTER_KEY`), while servers keep running.

use std::process::ExitCode;

use clap::ArgMatches;

use crate::out;
use crate::serve::{ServeArgs, resolve_settings};

#[derive(clap::Subcommand)]
pub enum Keys {
    /// Store the next signing key: published in JWKS at once, signing after
    /// --activate-after; the current key stays published until its tokens expire.
    Rotate {
        /// How long clients get to fetch the new key before it signs, e.g. 1h,
        /// 30m or 0s (running servers switch within 30 seconds of it).
        #[arg(long, default_value = "1h", value_parser = parse_duration)]
        activate_after: time::Duration,
        #[command(flatten)]
        settings: ServeArgs,
    },
    /// List the signing keys and what each does now.
    List {
        #[command(flatten)]
        settings: ServeArgs,
    },
}

/// `90s`, `30m`, `1h`, `2d`, or plain seconds.
fn parse_duration(text: &str) -> Result<time::Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: i64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration such as 30m, 1h or 2d"))?;
    Ok(match unit {
        "s" => time::Duration::seconds(n),
        "m" => time::Duration::minutes(n),
        "h" => time::Duration::hours(n),
        "d" => time::Duration::days(n),
        _ => return Err(format!("'{text}' is not a duration such as 30m, 1h or 2d")),
    })
}

pub fn run(command: Keys, matches: &ArgMatches) -> ExitCode {
    let (settings_args, activate_after) = match &command {
        Keys::Rotate {
            settings,
            activate_after,
        } => (settings, Some(*activate_after)),
        Keys::List { settings } => (settings, None),
    };
    let settings = match resolve_settings(settings_args, matches) {
        Ok(s) => s,
        Err(message) => {
            eprintln!("hale: error: {message}");
            return ExitCode::from(crate::EXIT_BAD_START);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let result = runtime.block_on(async {
        match activate_after {
            Some(after) => hale_server::rotate_signing_key(&settings, after).await,
            None => hale_server::list_signing_keys(&settings).await,
        }
    });
    match result {
        Ok(keys) => {
            let format = time::format_description::well_known::Rfc3339;
            out::line("KID\tSTATE\tNOT BEFORE\tNOT AFTER");
            for k in keys {
                out::line(format_args!(
                    "{}\t{}\t{}\t{}",
                    k.kid,
                    k.state,
                    k.not_before.format(&format).unwrap_or_default(),
                    k.not_after.format(&format).unwrap_or_default()
                ));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hale: error: {e}");
            ExitCode::from(crate::EXIT_BAD_START)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(time::Duration::seconds(90)));
        assert_eq!(parse_duration("30m"), Ok(time::Duration::minutes(30)));
        assert_eq!(parse_duration("1h"), Ok(time::Duration::hours(1)));
        assert_eq!(parse_duration("2d"), Ok(time::Duration::days(2)));
        assert_eq!(parse_duration("0"), Ok(time::Duration::ZERO));
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("h").is_err());
    }
}
