//! Standard output for the commands' answers. A reader that goes away early
//! (`hale ad app list -o json | head -1`) ends the command quietly and
//! successfully, as ripgrep does, where `println!` would panic.

use std::fmt::{Arguments, Display};
use std::io::{self, Write};

/// Prints `text` and a newline.
pub(crate) fn line(text: impl Display) {
    write(format_args!("{text}\n"));
}

/// Prints `text` as it is.
pub(crate) fn text(text: impl Display) {
    write(format_args!("{text}"));
}

fn write(args: Arguments) {
    let mut stdout = io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("hale: error: cannot write the output: {e}");
        std::process::exit(1);
    }
}
