//! ikeuser: the ripsec IKE agent and configuration CLI.

use clap::{Parser, Subcommand};
use ikeuser::{info, netlink};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "ikeuser",
    version,
    about = "Configure ripsec, the Rust IPsec kernel module"
)]
struct Cli {
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Show the module's version, its algorithms, and this network namespace's state.
    Info,
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.cmd {
        Cmd::Info => {
            let mut nl = netlink::Ripsec::connect()?;
            let info = info::query(&mut nl)?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                info::print(&info);
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ikeuser: {e:#}");
            ExitCode::FAILURE
        }
    }
}
