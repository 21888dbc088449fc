//! `darklaunch-fleet`: see the crate's README and `darklaunch-fleet --help`.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use darklaunch_fleet::{run, Cli, Exit};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // --help and --version print to stdout and exit 0; mistakes exit 2 (usage).
            let _ = error.print();
            return if error.use_stderr() {
                Exit::Usage.into()
            } else {
                Exit::Safe.into()
            };
        }
    };
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    run(cli, &mut stdout.lock(), &mut stderr.lock()).into()
}
