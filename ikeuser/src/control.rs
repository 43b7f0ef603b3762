//! The daemon's control socket: one JSON request per connection, one JSON reply.
//! The socket file is created mode 0600, so only root (the daemon's owner) can use it.

use anyhow::{anyhow, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// A command for the daemon.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "lowercase")]
pub enum Request {
    /// Initiate a connection and wait until its Child SA is installed or the attempt fails.
    Up { conn: String },
    /// Delete a connection's IKE SAs (and with them its Child SAs).
    Down { conn: String },
    /// Rekey a connection's Child SAs (only those of child `child` if given), or its IKE SA
    /// with `ike`.
    Rekey {
        conn: String,
        ike: bool,
        #[serde(default)]
        child: Option<String>,
    },
    /// IKE SAs, Child SAs and the module's counters.
    Status,
}

/// The daemon's answer.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
}

impl Reply {
    pub fn ok(message: impl Into<String>) -> Self {
        Self {
            ok: true,
            message: message.into(),
            status: None,
        }
    }

    pub fn err(message: impl Into<String>) -> Self {
        Self {
            ok: false,
            message: message.into(),
            status: None,
        }
    }
}

/// Sends one request and waits for the reply.
pub fn call(socket: &Path, req: &Request, timeout: Duration) -> Result<Reply> {
    let mut stream = UnixStream::connect(socket).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => anyhow!(
            "no ikeuser daemon is listening on {}: start one with `ikeuser daemon -c FILE`, \
             or point at its socket with --socket PATH",
            socket.display()
        ),
        std::io::ErrorKind::PermissionDenied => anyhow!(
            "permission denied on {}: the control socket is for root only; run ikeuser as root",
            socket.display()
        ),
        _ => anyhow!("cannot connect to {}: {e}", socket.display()),
    })?;
    stream.set_read_timeout(Some(timeout))?;
    let mut line = serde_json::to_string(req)?;
    line.push('\n');
    stream
        .write_all(line.as_bytes())
        .context("cannot send the request to the daemon")?;
    let mut answer = String::new();
    BufReader::new(stream)
        .read_line(&mut answer)
        .context("no answer from the daemon")?;
    if answer.is_empty() {
        return Err(anyhow!(
            "the daemon closed the connection without answering"
        ));
    }
    serde_json::from_str(&answer).context("the daemon's answer is not valid JSON")
}
