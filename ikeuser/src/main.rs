//! ikeuser: the ripsec IKE agent and configuration CLI.

use clap::{Parser, Subcommand};
use ikeuser::control::{self, Request};
use ikeuser::{config, daemon, encap, info, monitor, netlink, policy, sa, stats};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

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
    /// The daemon's control socket (for up, down, rekey, status).
    #[arg(long, global = true, env = "IKEUSER_SOCKET", default_value = config::DEFAULT_SOCKET)]
    socket: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Show the module's version, its algorithms, and this network namespace's state.
    Info,
    /// Manage SAs: add, update, del, get, list, flush (like `ip xfrm state`).
    #[command(
        after_help = "Examples:\n  ikeuser sa add src 10.0.0.1 dst 10.0.0.2 proto esp spi 0x1000 reqid 1 mode tunnel \\\n      alg aes128gcm16 key 0x<20 bytes: 16 key + 4 salt> [replay-window 64] [esn] [hard-bytes N ...]\n  ikeuser sa add src 10.0.0.1 dst 10.0.0.2 proto ah spi 0x2000 mode transport \\\n      alg sha256 key 0x<32 bytes> [align8: IPv4 AH as XFRM without `flag align4` sends it]\n  ikeuser sa get dst 10.0.0.2 proto esp spi 0x1000 [show-keys]\n  ikeuser sa del dst 10.0.0.2 proto esp spi 0x1000\n  ikeuser sa list [show-keys]\n  ikeuser sa flush [proto esp]"
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
    /// Receive ESP in UDP (RFC 3948) on a UDP port until stopped: the socket owner for manually
    /// keyed `encap espinudp` SAs (the IKE daemon holds its own).
    #[command(
        after_help = "Example:\n  ikeuser encap listen port 4500 &\n  ikeuser sa add ... encap espinudp 4500 4500"
    )]
    Encap {
        /// listen
        action: String,
        /// `port N` (default 4500) and `addr ADDR` (default: every address, IPv4 and IPv6).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Print SA events (expire, acquire, mapping) as they happen.
    Monitor {
        /// Exit after this many events.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Run the IKEv2 daemon with the connections of a TOML file (see README, "Configuration").
    Daemon {
        /// The configuration file.
        #[arg(short = 'c', long = "config")]
        config: PathBuf,
    },
    /// Check a configuration file and report every problem with its line; starts nothing.
    Check { file: PathBuf },
    /// Bring a connection up and wait until its Child SA is installed (or say why not).
    Up { conn: String },
    /// Delete a connection's IKE SA and its Child SAs (the peer is told).
    Down { conn: String },
    /// Rekey a connection's Child SAs (one child's with --child NAME, the IKE SA with --ike).
    Rekey {
        conn: String,
        #[arg(long, conflicts_with = "child")]
        ike: bool,
        #[arg(long, value_name = "NAME")]
        child: Option<String>,
    },
    /// IKE SAs and Child SAs of the running daemon, with the module's counters.
    Status,
    /// Measure IKE SA setups per second against CONN's peer (a benchmark, see scripts/bench-ike).
    BenchSetup {
        #[arg(short = 'c', long = "config")]
        config: PathBuf,
        conn: String,
        #[arg(long, default_value_t = 100)]
        count: u64,
        #[arg(long, default_value_t = 4)]
        parallel: u64,
    },
}

/// How long the CLI waits for the daemon (an unanswered IKE exchange gives up after ~32 s).
const CONTROL_TIMEOUT: Duration = Duration::from_secs(60);

fn control(cli: &Cli, req: Request) -> anyhow::Result<()> {
    let status = matches!(req, Request::Status);
    let reply = control::call(&cli.socket, &req, CONTROL_TIMEOUT)?;
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&reply)?);
    } else if !reply.ok {
        anyhow::bail!("{}", reply.message);
    } else if let (true, Some(v)) = (status, &reply.status) {
        daemon::status::print(v);
    } else {
        println!("{}", reply.message);
    }
    if reply.ok {
        Ok(())
    } else {
        Err(anyhow::anyhow!("the daemon reported a failure"))
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.cmd {
        Cmd::Daemon { config } => return daemon::main(config),
        Cmd::Check { file } => {
            let cfg = config::load(file).map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "{}: OK, {} connection(s): {}",
                file.display(),
                cfg.connections.len(),
                cfg.connections
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            for warning in cfg.warnings() {
                println!("warning: {warning}");
            }
            return Ok(());
        }
        Cmd::Up { conn } => return control(&cli, Request::Up { conn: conn.clone() }),
        Cmd::Down { conn } => return control(&cli, Request::Down { conn: conn.clone() }),
        Cmd::Rekey { conn, ike, child } => {
            return control(
                &cli,
                Request::Rekey {
                    conn: conn.clone(),
                    ike: *ike,
                    child: child.clone(),
                },
            )
        }
        Cmd::Status => return control(&cli, Request::Status),
        Cmd::BenchSetup {
            config,
            conn,
            count,
            parallel,
        } => {
            let cfg = config::load(config).map_err(|e| anyhow::anyhow!("{e}"))?;
            let c = cfg
                .connection(conn)
                .ok_or_else(|| anyhow::anyhow!("no connection `{conn}` in {}", config.display()))?;
            let r = ikeuser::bench::run(&cfg, c, *count, *parallel)?;
            if cli.json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!(
                    "{} IKE SAs set up in {:.2} s ({} failed): {:.1} per second, {:.2} requests each (2 is the minimum), median {:.1} ms",
                    r.established, r.seconds, r.failed, r.per_second, r.requests_per_setup, r.median_ms
                );
            }
            return Ok(());
        }
        _ => {}
    }
    let mut nl = netlink::Ripsec::connect()?;
    match cli.cmd {
        Cmd::Daemon { .. }
        | Cmd::Check { .. }
        | Cmd::Up { .. }
        | Cmd::Down { .. }
        | Cmd::Rekey { .. }
        | Cmd::BenchSetup { .. }
        | Cmd::Status => {}
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
        Cmd::Encap { action, args } => encap_cmd(&mut nl, &action, &args)?,
        Cmd::Batch { file } => batch(&mut nl, &file, cli.json)?,
    }
    Ok(())
}

fn encap_cmd(nl: &mut netlink::Ripsec, action: &str, args: &[String]) -> anyhow::Result<()> {
    use ikeuser::words::{self, Words};
    if action != "listen" {
        anyhow::bail!("unknown `encap {action}`; use `encap listen [port N] [addr ADDR]`");
    }
    let mut w = Words::new("encap listen", args);
    let (mut port, mut addr) = (ripsec_proto::udp_encap::NAT_T_PORT, None);
    while let Some(k) = w.next_key() {
        match k {
            "port" => port = words::number(k, w.value(k)?)?,
            "addr" => addr = Some(words::addr(k, w.value(k)?)?),
            _ => return Err(w.unknown(k, &["port", "addr"])),
        }
    }
    encap::listen(nl, port, addr)
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
