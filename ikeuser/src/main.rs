//! ikeuser: the ripsec IKE agent and configuration CLI.

use clap::{Parser, Subcommand};
use ikeuser::{info, monitor, netlink, policy, sa, stats};
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
    /// Manage SAs: add, update, del, get, list, flush (like `ip xfrm state`).
    #[command(
        after_help = "Examples:\n  ikeuser sa add src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 reqid 1 mode tunnel \\\n      alg aes128gcm16 key 0x<20 bytes: 16 key + 4 salt> [replay-window 64] [esn] [hard-bytes N ...]\n  ikeuser sa get dst 10.0.0.2 proto esp spi 0x1000 [show-keys]\n  ikeuser sa del dst 10.0.0.2 proto esp spi 0x1000\n  ikeuser sa list [show-keys]\n  ikeuser sa flush [proto esp]"
    )]
    Sa {
        /// add, update, del, get, list or flush.
        action: String,
        /// Keywords and values.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Manage policies: add, del, get, list, flush (like `ip xfrm policy`).
    #[command(
        after_help = "Examples:\n  ikeuser policy add dir out src 10.1.0.0/16 dst 10.2.0.0/16 [proto tcp dport 80] [priority 10] \\\n      tmpl proto esp mode tunnel reqid 1 src 10.0.0.1 dst 10.0.0.2\n  ikeuser policy add dir in src 0.0.0.0/0 dst 0.0.0.0/0 proto udp dport 500 action bypass\n  ikeuser policy del id 3\n  ikeuser policy list"
    )]
    Policy {
        /// add, del, get, list or flush.
        action: String,
        /// Keywords and values.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Reserve a unique random SPI: `getspi [proto esp|ah] [dst ADDR] [min N] [max N]`.
    Getspi {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Show this netns's SA and policy counts and global counters.
    Stats,
    /// Run `sa ...` and `policy ...` lines from FILE (`-` for stdin) over one netlink socket,
    /// like `ip -batch`; stops at the first error, naming its line.
    Batch { file: String },
    /// Print SA events (expire, acquire) as they happen.
    Monitor {
        /// Exit after this many events.
        #[arg(long)]
        count: Option<u64>,
    },
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let mut nl = netlink::Ripsec::connect()?;
    match cli.cmd {
        Cmd::Info => {
            let info = info::query(&mut nl)?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                info::print(&info);
            }
        }
        Cmd::Sa { action, args } => sa::run(&mut nl, &action, &args, cli.json)?,
        Cmd::Policy { action, args } => policy::run(&mut nl, &action, &args, cli.json)?,
        Cmd::Getspi { args } => stats::getspi(&mut nl, &args, cli.json)?,
        Cmd::Stats => stats::stats(&mut nl, cli.json)?,
        Cmd::Monitor { count } => monitor::run(&mut nl, count, cli.json)?,
        Cmd::Batch { file } => batch(&mut nl, &file, cli.json)?,
    }
    Ok(())
}

fn batch(nl: &mut netlink::Ripsec, file: &str, json: bool) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::BufRead;
    let reader: Box<dyn BufRead> = if file == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let f =
            std::fs::File::open(file).with_context(|| format!("cannot open batch file {file}"))?;
        Box::new(std::io::BufReader::new(f))
    };
    for (i, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("{file}: cannot read line {}", i + 1))?;
        let words: Vec<String> = line.split_whitespace().map(String::from).collect();
        let r = match words.as_slice() {
            [] => Ok(()),
            [first, ..] if first.starts_with('#') => Ok(()),
            [obj, action, rest @ ..] if obj == "sa" => sa::run(nl, action, rest, json),
            [obj, action, rest @ ..] if obj == "policy" => policy::run(nl, action, rest, json),
            _ => Err(anyhow::anyhow!(
                "expected `sa ACTION ...` or `policy ACTION ...`"
            )),
        };
        r.with_context(|| format!("{file}:{}", i + 1))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    // Behave like other CLI tools when the reader goes away (`ikeuser sa list | head`):
    // exit quietly on SIGPIPE instead of panicking on a failed write.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    // `--json` may follow the keyword arguments (`ikeuser sa list --json`), where clap's
    // trailing arguments would swallow it.
    let mut json = false;
    let args: Vec<String> = std::env::args()
        .filter(|a| {
            let is_json = a == "--json";
            json |= is_json;
            !is_json
        })
        .collect();
    let mut cli = Cli::parse_from(args);
    cli.json |= json;
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ikeuser: {e:#}");
            ExitCode::FAILURE
        }
    }
}
