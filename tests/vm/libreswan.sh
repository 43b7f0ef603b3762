# shellcheck shell=bash
# Run Libreswan's pluto (4.10, Debian's package unpacked into LSW_PREFIX by scripts/setup; XFRM
# data plane) as a peer for ikeuser, each instance in a network namespace and a state directory
# of its own.
#
#   lsw_start NS DIR                 start pluto in netns NS, all its state in DIR; waits for whack
#   lsw_conf DIR NAME [KEY=VALUE...] write one PSK connection NAME (ipsec.conf keys, see below)
#   lsw_load NS DIR NAME             add connection NAME to pluto and (re)read the secrets
#   lsw_initiate NS DIR NAME         initiate NAME; fails if its Child SA does not come up
#   lsw_terminate NS DIR NAME        delete NAME's IKE SA and Child SAs (DELETE sent to the peer)
#   lsw_wait_sa NS DIR NAME [SECS]   wait until NAME has an established Child SA (trafficstatus)
#   lsw_sa_count NS                  XFRM states in NS (pluto installs two per Child SA)
#   lsw_whack DIR ARGS...            any other whack command against this instance
#   lsw_log DIR [LINES]              print the tail of DIR/pluto.log (default 40 lines)
#   lsw_stop NS DIR                  stop this instance (whack --shutdown, then KILL), wait until it
#                                    is gone, and flush NS's XFRM states and policies
#
# DIR layout: ipsec.conf (config setup only), conns/NAME.conf (one conn each, loaded with addconn),
# ipsec.secrets (includes secrets/*.secrets), nss/ (NSS database: pluto needs one even for PSK),
# run/pluto.ctl and run/pluto.pid (--rundir), pluto.log (--logfile), pluto.out (stdout/stderr),
# updown (a no-op: routes are the topology's), netns (NS it runs in). DIR must be absolute.
#
# Isolation: every path pluto uses is given on its command line (--config, --rundir,
# --secretsfile, --ipsecdir, --nssdir, --dumpdir, --logfile), so nothing under /etc, /run or
# /var/lib is read or written. Only addconn's path is compiled in (/usr/libexec/ipsec/addconn,
# which pluto checks at start): pluto runs in a mount namespace of its own (`unshare --mount`)
# where LSW_PREFIX/usr/libexec is bind-mounted over /usr/libexec. whack and addconn reach pluto
# over the filesystem socket DIR/run/pluto.ctl, from any netns. pluto is not a child of the
# caller and outlives it: call lsw_stop (e.g. from an EXIT trap).
#
# Tunables (environment): LSW_PREFIX (/opt/ripsec-libreswan), LSW_START_TIMEOUT (30 s),
# LSW_TIMEOUT (lsw_wait_sa, 10 s), LSW_DEBUG (plutodebug=, default none).

LSW_PREFIX=${LSW_PREFIX:-/opt/ripsec-libreswan}
LSW_EXEC=$LSW_PREFIX/usr/libexec/ipsec

_lsw_die() {
	echo "libreswan: $*" >&2
	return 1
}

# _lsw_alive PID: PID exists and is not a zombie. Builtins only: forks are slow in the TCG VM.
_lsw_alive() {
	local stat
	[ -n "$1" ] && read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
	stat=${stat##*) }
	case ${stat%% *} in Z | X | x | "") return 1 ;; esac
}

# _lsw_pid DIR: print the pid of DIR's pluto if it is running (and still a pluto: pid reuse).
_lsw_pid() {
	local pid comm
	read -r pid 2>/dev/null <"$1/started-pid" && _lsw_alive "$pid" || return 1
	read -r comm 2>/dev/null <"/proc/$pid/comm" && [ "$comm" = pluto ] && echo "$pid"
}

# lsw_whack DIR ARGS...: whack against DIR's pluto.
lsw_whack() {
	local dir=$1
	shift
	"$LSW_EXEC/whack" --rundir "$dir/run" "$@"
}

# _lsw_setup DIR: the config, an empty secrets include, the no-op updown and the NSS database.
_lsw_setup() {
	local dir=$1
	mkdir -p "$dir/run" "$dir/conns" "$dir/secrets" || return 1
	printf 'config setup\n\tprotostack=xfrm\n\tplutodebug="%s"\n\tuniqueids=no\n' \
		"${LSW_DEBUG:-none}" >"$dir/ipsec.conf"
	echo "include $dir/secrets/*.secrets" >"$dir/ipsec.secrets"
	printf '#!/bin/sh\nexit 0\n' >"$dir/updown" && chmod 755 "$dir/updown"
	[ -f "$dir/nss/cert9.db" ] && return 0
	mkdir -p "$dir/nss" && certutil -N -d "sql:$dir/nss" --empty-password
}

# lsw_start NS DIR: start pluto in netns NS with its state in DIR (created if missing). Waits
# until whack answers; on timeout or exit prints the log and fails.
lsw_start() {
	local ns=$1 dir=$2 pid deadline=$((SECONDS + ${LSW_START_TIMEOUT:-30}))
	case $dir in /*) ;; *) _lsw_die "DIR must be an absolute path: $dir" || return 1 ;; esac
	! _lsw_pid "$dir" >/dev/null || _lsw_die "an instance is already running in $dir" || return 1
	_lsw_setup "$dir" || return 1
	rm -f "$dir/run/pluto.ctl" "$dir/run/pluto.pid" "$dir/pluto.log" "$dir/pluto.out"
	echo "$ns" >"$dir/netns"
	# ip netns exec, unshare and sh exec, so $! is pluto's pid; the subshell keeps it no child
	# of the caller. pluto insists on /usr/libexec/ipsec/addconn: the prefix's libexec is
	# mounted there, in pluto's mount namespace only.
	# shellcheck disable=SC2016 # $1/$2 are sh's arguments
	(
		cd / && exec ip netns exec "$ns" unshare --mount --propagation private \
			sh -c 'mount --bind "$1/usr/libexec" /usr/libexec && shift && exec "$@"' lsw-start \
			"$LSW_PREFIX" "$LSW_EXEC/pluto" --config "$dir/ipsec.conf" --nofork \
			--rundir "$dir/run" --secretsfile "$dir/ipsec.secrets" --ipsecdir "$dir" \
			--nssdir "$dir/nss" --dumpdir "$dir/run" --logfile "$dir/pluto.log" --no-dnssec \
			</dev/null >"$dir/pluto.out" 2>&1 &
		echo $! >"$dir/started-pid"
	)
	while [ $SECONDS -lt "$deadline" ]; do
		[ -S "$dir/run/pluto.ctl" ] && lsw_whack "$dir" --status >/dev/null 2>&1 && return 0
		# Not _lsw_pid: until ip execs pluto, the process is still called ip.
		read -r pid <"$dir/started-pid"
		if ! _lsw_alive "$pid"; then
			lsw_log "$dir" >&2
			_lsw_die "pluto in $ns ($dir) exited during startup"
			return 1
		fi
		sleep 0.1
	done
	lsw_log "$dir" >&2
	_lsw_die "pluto in $ns ($dir) did not answer whack within ${LSW_START_TIMEOUT:-30} s"
}

# lsw_log DIR [LINES]: the tail of pluto's log (and anything it printed itself).
lsw_log() {
	local dir=$1 n=${2:-40}
	echo "--- $dir/pluto.log (last $n lines)"
	tail -n "$n" "$dir/pluto.log" 2>/dev/null
	if [ -s "$dir/pluto.out" ]; then
		echo "--- $dir/pluto.out"
		tail -n "$n" "$dir/pluto.out"
	fi
}

# lsw_conf DIR NAME [KEY=VALUE...]: write DIR/conns/NAME.conf, an IKEv2 PSK connection with
# Libreswan's default proposals (no ike=/esp=), and its secret in DIR/secrets/NAME.secrets.
# Keys: psk (required), left (local address), right, leftsubnet, rightsubnet, type
# (tunnel|transport; default tunnel), and any other ipsec.conf conn key, written as given
# (e.g. ike=..., esp=..., dpddelay=...). Defaults: authby=secret, ikev2=insist, auto=add,
# mobike=no, encapsulation=no, leftupdown=DIR/updown (no routes or firewall rules).
lsw_conf() {
	local dir=$1 name=$2 kv k psk=""
	shift 2
	local -A c=([authby]=secret [ikev2]=insist [auto]=add [type]=tunnel [mobike]=no
		[encapsulation]=no [leftupdown]="$dir/updown")
	for kv in "$@"; do
		case $kv in *=*) ;; *) _lsw_die "lsw_conf: not KEY=VALUE: $kv" || return 1 ;; esac
		k=${kv%%=*}
		if [ "$k" = psk ]; then psk=${kv#*=}; else c[$k]=${kv#*=}; fi
	done
	[ -n "$psk" ] || _lsw_die "lsw_conf: psk=... is required" || return 1
	[ -n "${c[left]:-}" ] && [ -n "${c[right]:-}" ] || _lsw_die "lsw_conf: left= and right= are required" || return 1
	mkdir -p "$dir/conns" "$dir/secrets" || return 1
	{
		echo "conn $name"
		for k in "${!c[@]}"; do printf '\t%s="%s"\n' "$k" "${c[$k]}"; done
	} >"$dir/conns/$name.conf"
	printf '%s %s : PSK "%s"\n' "${c[left]}" "${c[right]}" "$psk" >"$dir/secrets/$name.secrets"
}

# lsw_load NS DIR NAME: (re)read the secrets and add connection NAME (replacing one so named).
lsw_load() {
	local dir=$2 name=$3 out
	lsw_whack "$dir" --rereadsecrets >/dev/null || _lsw_die "whack --rereadsecrets failed" || return 1
	if ! out=$("$LSW_EXEC/addconn" --config "$dir/conns/$name.conf" --ctlsocket "$dir/run/pluto.ctl" "$name" 2>&1); then
		echo "$out" >&2
		_lsw_die "addconn $name failed for $dir"
		return 1
	fi
}

# lsw_initiate NS DIR NAME: initiate NAME and wait until its Child SA is up (whack waits for
# pluto's answer; its exit status is not reliable across versions, so the SA is checked too).
lsw_initiate() {
	local ns=$1 dir=$2 name=$3 out
	out=$(timeout 60 "$LSW_EXEC/whack" --rundir "$dir/run" --initiate --name "$name" 2>&1) || true
	if ! lsw_wait_sa "$ns" "$dir" "$name" 5 2>/dev/null; then
		echo "$out" >&2
		_lsw_die "initiating $name from $ns failed"
		return 1
	fi
}

# lsw_terminate NS DIR NAME: delete the connection's SAs; pluto sends DELETE for them.
lsw_terminate() {
	lsw_whack "$2" --terminate --name "$3" >/dev/null
}

# lsw_wait_sa NS DIR NAME [SECS]: wait until connection NAME has a Child SA carrying traffic
# (`whack --trafficstatus` lists it). Fails with the states and log tail on timeout.
lsw_wait_sa() {
	local ns=$1 dir=$2 name=$3 secs=${4:-${LSW_TIMEOUT:-10}}
	local deadline=$((SECONDS + secs))
	while [ $SECONDS -lt "$deadline" ]; do
		lsw_whack "$dir" --trafficstatus 2>/dev/null | grep -q "\"$name\"" && return 0
		sleep 0.2
	done
	echo "libreswan: no Child SA for $name in $ns after $secs s" >&2
	lsw_whack "$dir" --showstates >&2 || true
	lsw_log "$dir" >&2
	return 1
}

# lsw_sa_count NS: XFRM states in NS.
lsw_sa_count() { ip -n "$1" xfrm state | grep -c '^src ' || true; }

# lsw_stop NS DIR: stop DIR's pluto (whack --shutdown: DELETEs go out; KILL after 5 s), wait
# until it is gone, then flush NS's XFRM states and policies (a killed pluto leaves them).
lsw_stop() {
	local ns=$1 dir=$2 pid i
	if pid=$(_lsw_pid "$dir"); then
		timeout 5 "$LSW_EXEC/whack" --rundir "$dir/run" --shutdown >/dev/null 2>&1 || true
		for ((i = 0; i < 50; i++)); do
			_lsw_pid "$dir" >/dev/null || break
			sleep 0.1
		done
		if _lsw_pid "$dir" >/dev/null; then
			echo "libreswan: pluto $pid ($dir) ignored --shutdown, killing it" >&2
			kill -KILL "$pid" 2>/dev/null
			for ((i = 0; i < 20; i++)); do
				_lsw_pid "$dir" >/dev/null || break
				sleep 0.1
			done
		fi
	fi
	if ip netns pids "$ns" >/dev/null 2>&1; then
		ip -n "$ns" xfrm state flush
		ip -n "$ns" xfrm policy flush
	fi
	! _lsw_pid "$dir" >/dev/null || _lsw_die "pluto $pid ($dir) does not exit"
}
