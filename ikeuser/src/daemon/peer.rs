//! Who may use the control socket: root and the daemon's own user. The socket's mode (0600)
//! already keeps others out; this holds even if the file's mode or owner is changed later.
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

/// The uid of the process that connected `stream` (SO_PEERCRED), if the kernel tells it.
fn peer_uid(stream: &UnixStream) -> Option<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes of the sizes passed; the fd is open for
    // the duration of the call since `stream` is borrowed.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (rc == 0 && len as usize == std::mem::size_of::<libc::ucred>()).then_some(cred.uid)
}

/// `Err` with the reason when the peer of `stream` may not control this daemon.
pub(super) fn may_control(stream: &UnixStream) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let own = unsafe { libc::geteuid() };
    match peer_uid(stream) {
        Some(uid) if uid == 0 || uid == own => Ok(()),
        Some(uid) => Err(format!(
            "permission denied: uid {uid} may not control this daemon (only root and uid {own} may)"
        )),
        None => Err(String::from(
            "permission denied: cannot tell who connected (SO_PEERCRED failed)",
        )),
    }
}
