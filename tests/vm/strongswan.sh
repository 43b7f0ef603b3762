# shellcheck shell=bash
# Run strongSwan's charon (Debian's /usr/lib/ipsec/charon, native XFRM data plane) as peers for
# ikeuser, several instances at once, each in a network namespace and a state directory of its own.
#
#   swan_start NS DIR                  start charon in netns NS, all its state in DIR; waits for vici
#   swan_conf DIR NAME [KEY=VALUE...]  write one PSK connection NAME (+ one child) to DIR's swanctl.conf
#   swan_child DIR CONN CHILD [K=V...] add another child to connection CONN
#   swan_conf_raw DIR NAME <<EOF       write a swanctl.conf fragment verbatim (anything swan_conf lacks)
#   swan_load NS DIR                   swanctl --load-all for DIR's config (connections and secrets)
#   swan_initiate NS DIR CHILD [IKE]   initiate CHILD (of connection IKE); fails if it does not come up
#   swan_initiate_ike NS DIR IKE       initiate the IKE SA of connection IKE only
#   swan_terminate NS DIR IKE          terminate the IKE SA(s) of connection IKE (and their children)
#   swan_terminate_child NS DIR CHILD  terminate CHILD SA(s) named CHILD only
#   swan_rekey NS DIR CHILD|--ike IKE  rekey a CHILD SA, or an IKE SA
#   swan_list_sas NS DIR [ARGS...]     print `swanctl --list-sas` (ARGS e.g. --ike NAME, --raw)
#   swan_wait_sa NS DIR NAME [SECS]    wait until IKE SA NAME is ESTABLISHED or CHILD SA NAME INSTALLED
#   swan_swanctl NS DIR ARGS...        any other swanctl command against this instance
#   swan_log DIR [LINES]               print the tail of DIR/charon.log (default 40 lines)
#   swan_stop NS DIR                   stop this instance only (TERM, then KILL), wait until it is gone;
#                                      on SIGTERM charon sends DELETE for each IKE SA, removes its SAs
#   swan_kill NS DIR                   SIGKILL it (no DELETE sent, its XFRM SAs/policies stay)
#   swan_stop_all DIR...               swan_stop every instance in DIR or in DIR's direct subdirectories
#
# DIR layout: strongswan.conf, charon.log (file logger), charon.out (charon's stdout/stderr),
# charon.vici (vici socket), run/charon.pid (written by charon itself), netns (NS it runs in),
# swanctl/swanctl.conf (includes swanctl/conf.d/*.conf, one fragment per swan_conf/swan_child).
# DIR must be an absolute path outside /run (see below); the caller creates and removes it.
#
# Isolation: charon reads STRONGSWAN_CONF=DIR/strongswan.conf, which includes nothing from /etc and
# loads only the plugins listed there (no stroke: /etc/ipsec.conf, /etc/ipsec.secrets are never
# read; /etc/swanctl is only read by swanctl, which we point at DIR/swanctl via SWANCTL_DIR and
# --file). Debian's charon has the pid file compiled in as /var/run/charon.pid (no option changes
# it) and refuses to start if that file names a live process, and unlinks it on exit; so each
# charon runs in a mount namespace of its own (`unshare --mount`) where DIR/run is bind-mounted
# over /run (/var/run -> /run). The host sees that instance's pid file as DIR/run/charon.pid.
# The vici socket is unix://DIR/charon.vici (a filesystem socket, so swanctl reaches it from
# any netns); the IKE sockets (UDP 500/4500) are per netns. charon is not a child of the caller and
# outlives it: call swan_stop/swan_stop_all (e.g. from an EXIT trap).
#
# Tunables (environment, read by swan_start): SWAN_CHARON (/usr/lib/ipsec/charon),
# SWAN_START_TIMEOUT (30 s), SWAN_RETRANSMIT_TIMEOUT (1), SWAN_RETRANSMIT_TRIES (3),
# SWAN_RETRANSMIT_BASE (1.4), SWAN_PORT (500), SWAN_PORT_NAT_T (4500), SWAN_LOG_LEVELS (subsystem
# levels of the file logger), SWAN_EXTRA_CONF (lines appended inside the charon { } section).
# swan_initiate/swan_wait_sa: SWAN_TIMEOUT (30 s: they end once the SA is up, and a loaded TCG
# guest can take that long for a DH exchange).

SWAN_CHARON=${SWAN_CHARON:-/usr/lib/ipsec/charon}
SWAN_SWANCTL=${SWAN_SWANCTL:-/usr/sbin/swanctl}
SWAN_PLUGINS=${SWAN_PLUGINS:-"random nonce openssl kdf pem pkcs1 pkcs8 x509 pubkey revocation constraints kernel-netlink socket-default vici"}

_swan_die() {
	echo "strongswan: $*" >&2
	return 1
}

# _swan_check_dir DIR: DIR must be absolute and not under /run (hidden inside charon's namespace).
_swan_check_dir() {
	case $1 in
	/run | /run/* | /var/run | /var/run/*) _swan_die "DIR must not be under /run: $1" ;;
	/*) ;;
	*) _swan_die "DIR must be an absolute path: $1" ;;
	esac
}

# _swan_alive PID: PID exists and is not a zombie (init here may be slow to reap orphans, or not
# reap them at all). Builtins only: forks are slow in the TCG VM.
_swan_alive() {
	local stat
	[ -n "$1" ] && read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
	stat=${stat##*) }
	case ${stat%% *} in Z | X | x | "") return 1 ;; esac
}

# _swan_pid DIR: print the pid of DIR's charon if it is running, else fail. Checks that the
# process is still a charon (pid reuse).
_swan_pid() {
	local pid f comm
	for f in "$1/run/charon.pid" "$1/charon.started-pid"; do
		read -r pid 2>/dev/null <"$f" || continue
		_swan_alive "$pid" || continue
		read -r comm 2>/dev/null <"/proc/$pid/comm" || continue
		if [ "$comm" = charon ]; then
			echo "$pid"
			return 0
		fi
	done
	return 1
}

# _swan_tree DIR: DIR/swanctl with swanctl.conf (includes conf.d/*.conf) and the credential
# directories swanctl scans (it complains about each missing one).
_swan_tree() {
	local d=$1/swanctl
	[ ! -f "$d/swanctl.conf" ] || return 0
	mkdir -p "$d"/{conf.d,x509,x509ca,x509ocsp,x509aa,x509ac,x509crl,pubkey,private,rsa,ecdsa,bliss,pkcs8,pkcs12} &&
		echo 'include conf.d/*.conf' >"$d/swanctl.conf"
}

_swan_write_conf() {
	local dir=$1
	cat >"$dir/strongswan.conf" <<EOF
# Generated by tests/vm/strongswan.sh for the instance in $dir
charon {
	load_modular = no
	load = $SWAN_PLUGINS
	port = ${SWAN_PORT:-500}
	port_nat_t = ${SWAN_PORT_NAT_T:-4500}
	install_routes = no
	install_virtual_ip = no
	routing_table = 0
	retransmit_timeout = ${SWAN_RETRANSMIT_TIMEOUT:-1}
	retransmit_tries = ${SWAN_RETRANSMIT_TRIES:-3}
	retransmit_base = ${SWAN_RETRANSMIT_BASE:-1.4}
	threads = 8
	plugins {
		vici {
			socket = unix://$dir/charon.vici
		}
	}
	syslog {
		daemon {
			default = -1
		}
		auth {
			default = -1
		}
	}
	filelog {
		swan {
			path = $dir/charon.log
			append = no
			flush_line = yes
			time_format = %H:%M:%S
			time_add_ms = yes
			ike_name = yes
			log_level = yes
			${SWAN_LOG_LEVELS:-default = 1
			ike = 2
			cfg = 2
			knl = 2
			chd = 2
			net = 1
			enc = 1}
		}
	}
	${SWAN_EXTRA_CONF:-}
}
swanctl {
	load = pem pkcs1 pkcs8 x509 pubkey revocation constraints openssl random nonce
	socket = unix://$dir/charon.vici
}
EOF
}

# swan_start NS DIR: start charon in netns NS with its state in DIR (created if missing). Waits
# until the vici socket answers `swanctl --stats`; on timeout prints the log tail and fails.
swan_start() {
	local ns=$1 dir=$2 pid deadline=$((SECONDS + ${SWAN_START_TIMEOUT:-30}))
	_swan_check_dir "$dir" || return 1
	mkdir -p "$dir/run" && _swan_tree "$dir" || return 1
	if _swan_pid "$dir" >/dev/null; then
		_swan_die "an instance is already running in $dir"
		return 1
	fi
	ip netns pids "$ns" >/dev/null 2>&1 || {
		_swan_die "no netns $ns"
		return 1
	}
	rm -f "$dir/run/charon.pid" "$dir/charon.vici" "$dir/charon.log" "$dir/charon.out" "$dir/charon.started-pid"
	echo "$ns" >"$dir/netns"
	_swan_write_conf "$dir"
	# ip netns exec, unshare (without --fork), sh and env all exec, so $! is charon's pid. The
	# outer subshell exits at once: charon is then no child of the caller (whose bare `wait` would
	# otherwise block on it). --propagation private: the bind mount stays in charon's namespace.
	# shellcheck disable=SC2016 # $1/$2 are sh's arguments
	(
		cd / && exec ip netns exec "$ns" unshare --mount --propagation private \
			sh -c 'mount --bind "$1/run" /run && exec env STRONGSWAN_CONF="$1/strongswan.conf" "$2"' \
			swan-start "$dir" "$SWAN_CHARON" </dev/null >"$dir/charon.out" 2>&1 &
		echo $! >"$dir/charon.started-pid"
	)
	while [ $SECONDS -lt "$deadline" ]; do
		if [ -S "$dir/charon.vici" ] && swan_swanctl "$ns" "$dir" --stats >/dev/null 2>&1; then
			# charon keeps running without IKE sockets (e.g. port 500 taken by another
			# instance in the same netns) or with a plugin missing: treat those as failures.
			if grep -qE 'unable to bind socket|could not create any sockets|failed to load|unable to load [0-9]+ plugin feature' \
				"$dir/charon.log"; then
				echo "strongswan: charon in $ns ($dir) started with errors:" >&2
				grep -E 'unable to bind|could not|failed to load|plugin feature' "$dir/charon.log" >&2
				swan_stop "$ns" "$dir"
				return 1
			fi
			return 0
		fi
		read -r pid <"$dir/charon.started-pid"
		if ! _swan_alive "$pid"; then
			echo "strongswan: charon in $ns ($dir) exited during startup" >&2
			swan_log "$dir" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "strongswan: charon in $ns ($dir) did not answer on vici within ${SWAN_START_TIMEOUT:-30} s" >&2
	swan_log "$dir" >&2
	return 1
}

# swan_log DIR [LINES]: the tail of the charon log (and anything charon printed itself).
swan_log() {
	local dir=$1 n=${2:-40}
	echo "--- $dir/charon.log (last $n lines)"
	tail -n "$n" "$dir/charon.log" 2>/dev/null
	if [ -s "$dir/charon.out" ]; then
		echo "--- $dir/charon.out"
		tail -n "$n" "$dir/charon.out"
	fi
}

# swan_swanctl NS DIR ARGS...: swanctl against DIR's instance. vici is a filesystem socket, so
# swanctl runs in the caller's netns (NS is not used: `ip netns exec` costs seconds in the TCG VM).
swan_swanctl() {
	local dir=$2
	shift 2
	STRONGSWAN_CONF="$dir/strongswan.conf" SWANCTL_DIR="$dir/swanctl" \
		"$SWAN_SWANCTL" "$@" --uri "unix://$dir/charon.vici"
}

# _swan_kv INDENT KEY VALUE: print `KEY = "VALUE"` with VALUE quoted for swanctl.conf.
_swan_kv() {
	local v=${3//\\/\\\\}
	v=${v//\"/\\\"}
	printf '%s%s = "%s"\n' "$1" "$2" "$v"
}

# swan_conf DIR NAME [KEY=VALUE...]: write DIR/swanctl/conf.d/NAME.conf with connection NAME
# (IKEv2, PSK both ways) and one child. Keys (defaults in brackets):
#   IKE SA: local_addrs [%any] remote_addrs [%any] local_id remote_id [the IP addresses]
#     psk [required] proposals [aes128gcm16-prfsha256-ecp256] dpd_delay [0] reauth_time [0]
#     ike_rekey_time [strongSwan's 4h] ike_rand_time over_time mobike [no] fragmentation encap
#     keyingtries unique
#   child: child [NAME] local_ts remote_ts [dynamic] esp_proposals [aes128gcm16; add e.g.
#     -ecp256 for PFS] mode [tunnel] start_action [none] dpd_action close_action rekey_time
#     life_time rand_time (child lifetimes) replay_window ipcomp policies ah_proposals (an AH
#     child: no esp_proposals)
#   certificates instead of the PSK: cert=FILE key=FILE cacert=FILE (copied into DIR's swanctl
#     tree: x509, private, x509ca; auth = pubkey both ways, local certs = FILE)
#   ike.KEY=V, child.KEY=V, local.KEY=V, remote.KEY=V: any other swanctl.conf key at that level.
# Values are written quoted, so IDs like "C=CH, CN=x" are fine. Unknown keys are an error.
swan_conf() {
	local dir=$1 name=$2 kv k v
	shift 2
	local -A ik=([local_addrs]=%any [remote_addrs]=%any [proposals]=aes128gcm16-prfsha256-ecp256
		[reauth_time]=0 [mobike]=no [version]=2)
	local -A chd=([esp_proposals]=aes128gcm16 [mode]=tunnel [start_action]=none)
	local -A loc=([auth]=psk) rem=([auth]=psk)
	local psk="" child_name=$name local_id="" remote_id="" cert="" key="" cacert=""
	for kv in "$@"; do
		case $kv in *=*) ;; *)
			_swan_die "swan_conf: not KEY=VALUE: $kv"
			return 1
			;;
		esac
		k=${kv%%=*} v=${kv#*=}
		case $k in
		psk) psk=$v ;;
		cert) cert=$v ;;
		key) key=$v ;;
		cacert) cacert=$v ;;
		child) child_name=$v ;;
		local_id) local_id=$v loc[id]=$v ;;
		remote_id) remote_id=$v rem[id]=$v ;;
		local_addrs | remote_addrs | proposals | dpd_delay | reauth_time | over_time | mobike | \
			fragmentation | encap | keyingtries | unique) ik[$k]=$v ;;
		ike_rekey_time) ik[rekey_time]=$v ;;
		ike_rand_time) ik[rand_time]=$v ;;
		local_ts | remote_ts | esp_proposals | mode | start_action | dpd_action | close_action | \
			rekey_time | life_time | rand_time | replay_window | ipcomp | policies) chd[$k]=$v ;;
		# An AH child: its proposals replace the ESP ones.
		ah_proposals) chd[$k]=$v && unset 'chd[esp_proposals]' ;;
		ike.*) ik[${k#ike.}]=$v ;;
		child.*) chd[${k#child.}]=$v ;;
		local.*) loc[${k#local.}]=$v ;;
		remote.*) rem[${k#remote.}]=$v ;;
		*)
			_swan_die "swan_conf: unknown key $k"
			return 1
			;;
		esac
	done
	_swan_tree "$dir" || return 1
	if [ -n "$cert$key$cacert" ]; then
		[ -n "$cert" ] && [ -n "$key" ] && [ -n "$cacert" ] && [ -z "$psk" ] || {
			_swan_die "swan_conf: certificates need cert=, key= and cacert= (and no psk=)"
			return 1
		}
		cp "$cert" "$dir/swanctl/x509/$name.crt" && cp "$key" "$dir/swanctl/private/$name.key" &&
			cp "$cacert" "$dir/swanctl/x509ca/$name-ca.crt" || return 1
		loc[auth]=pubkey rem[auth]=pubkey loc[certs]=$name.crt
	elif [ -z "$psk" ]; then
		_swan_die "swan_conf: psk=... (or cert=, key=, cacert=) is required"
		return 1
	fi
	{
		echo "connections {"
		echo "	$name {"
		for k in "${!ik[@]}"; do _swan_kv "		" "$k" "${ik[$k]}"; done
		echo "		local {"
		for k in "${!loc[@]}"; do _swan_kv "			" "$k" "${loc[$k]}"; done
		echo "		}"
		echo "		remote {"
		for k in "${!rem[@]}"; do _swan_kv "			" "$k" "${rem[$k]}"; done
		echo "		}"
		echo "		children {"
		echo "			$child_name {"
		for k in "${!chd[@]}"; do _swan_kv "				" "$k" "${chd[$k]}"; done
		echo "			}"
		echo "		}"
		echo "	}"
		echo "}"
		[ -n "$psk" ] || return 0
		echo "secrets {"
		echo "	ike-$name {"
		[ -z "$local_id" ] || _swan_kv "		" id-local "$local_id"
		[ -z "$remote_id" ] || _swan_kv "		" id-remote "$remote_id"
		_swan_kv "		" secret "$psk"
		echo "	}"
		echo "}"
	} >"$dir/swanctl/conf.d/$name.conf"
}

# swan_child DIR CONN CHILD [KEY=VALUE...]: add child CHILD to connection CONN (written by
# swan_conf). Keys as the child keys of swan_conf (same defaults), plus child.KEY=V.
swan_child() {
	local dir=$1 conn=$2 name=$3 kv k v
	shift 3
	local -A chd=([esp_proposals]=aes128gcm16 [mode]=tunnel [start_action]=none)
	for kv in "$@"; do
		k=${kv%%=*} v=${kv#*=}
		case $k in
		local_ts | remote_ts | esp_proposals | mode | start_action | dpd_action | close_action | \
			rekey_time | life_time | rand_time | replay_window | ipcomp | policies) chd[$k]=$v ;;
		child.*) chd[${k#child.}]=$v ;;
		*)
			_swan_die "swan_child: unknown key $k"
			return 1
			;;
		esac
	done
	{
		echo "connections { $conn { children { $name {"
		for k in "${!chd[@]}"; do _swan_kv "	" "$k" "${chd[$k]}"; done
		echo "} } } }"
	} >"$dir/swanctl/conf.d/$conn-child-$name.conf"
}

# swan_conf_raw DIR NAME: write stdin as DIR/swanctl/conf.d/NAME.conf (any swanctl.conf content:
# connections { }, secrets { }, ... sections merge across fragments).
swan_conf_raw() {
	local dir=$1 name=$2
	_swan_tree "$dir" || return 1
	cat >"$dir/swanctl/conf.d/$name.conf"
}

# swan_load NS DIR: load DIR's connections and secrets into its charon (replacing what was loaded;
# connections no longer in the config are unloaded, their SAs stay). Fails on any error swanctl
# reports, also those it exits 0 for.
swan_load() {
	local ns=$1 dir=$2 out
	if ! out=$(swan_swanctl "$ns" "$dir" --load-all --noprompt --file "$dir/swanctl/swanctl.conf" 2>&1); then
		echo "$out" >&2
		_swan_die "swanctl --load-all failed for $dir"
		return 1
	fi
	# On a syntax error swanctl prints "invalid config file", exits 0 and unloads everything.
	case $out in
	*"failed"* | *"invalid"* | *"syntax error"*)
		echo "$out" >&2
		_swan_die "swanctl --load-all reported errors for $dir"
		return 1
		;;
	esac
}

# swan_initiate NS DIR CHILD [IKE]: initiate CHILD and wait (SWAN_TIMEOUT s) until it is up.
swan_initiate() {
	local ns=$1 dir=$2 child=$3 ike=${4:-} out
	local args=(--initiate --child "$child" --timeout "${SWAN_TIMEOUT:-30}")
	[ -z "$ike" ] || args+=(--ike "$ike")
	if ! out=$(swan_swanctl "$ns" "$dir" "${args[@]}" 2>&1); then
		echo "$out" >&2
		_swan_die "initiating $child from $ns failed"
		return 1
	fi
}

# swan_initiate_ike NS DIR IKE: bring up only the IKE SA of connection IKE (no child).
swan_initiate_ike() {
	local ns=$1 dir=$2 ike=$3 out
	if ! out=$(swan_swanctl "$ns" "$dir" --initiate --ike "$ike" --timeout "${SWAN_TIMEOUT:-30}" 2>&1); then
		echo "$out" >&2
		_swan_die "initiating IKE SA $ike from $ns failed"
		return 1
	fi
}

# swan_terminate NS DIR IKE: terminate IKE SAs of connection IKE (sends DELETE, waits for reply).
swan_terminate() {
	local ns=$1 dir=$2 ike=$3
	swan_swanctl "$ns" "$dir" --terminate --ike "$ike" --timeout "${SWAN_TIMEOUT:-30}" >/dev/null
}

# swan_terminate_child NS DIR CHILD: terminate the CHILD SAs named CHILD (IKE SA stays).
swan_terminate_child() {
	local ns=$1 dir=$2 child=$3
	swan_swanctl "$ns" "$dir" --terminate --child "$child" --timeout "${SWAN_TIMEOUT:-30}" >/dev/null
}

# swan_rekey NS DIR CHILD | swan_rekey NS DIR --ike IKE: start a rekeying (does not wait for it).
swan_rekey() {
	local ns=$1 dir=$2
	shift 2
	if [ "$1" = --ike ]; then
		swan_swanctl "$ns" "$dir" --rekey --ike "$2" >/dev/null
	else
		swan_swanctl "$ns" "$dir" --rekey --child "$1" >/dev/null
	fi
}

# swan_list_sas NS DIR [ARGS...]: print the SAs charon knows (`swanctl --list-sas ARGS`).
swan_list_sas() {
	local ns=$1 dir=$2
	shift 2
	swan_swanctl "$ns" "$dir" --list-sas "$@"
}

# swan_wait_sa NS DIR NAME [SECS]: wait until an IKE SA NAME is ESTABLISHED or a CHILD SA NAME
# is INSTALLED (e.g. on the responder, or after start_action=start/trap). Fails with the SA list
# and log tail on timeout.
swan_wait_sa() {
	local ns=$1 dir=$2 name=$3 secs=${4:-${SWAN_TIMEOUT:-30}}
	local deadline=$((SECONDS + secs))
	while [ $SECONDS -lt "$deadline" ]; do
		if swan_list_sas "$ns" "$dir" 2>/dev/null |
			grep -Eq "^ *$name: #[0-9]+, .*(ESTABLISHED|INSTALLED)"; then
			return 0
		fi
		sleep 0.1
	done
	echo "strongswan: no SA $name in $ns after $secs s" >&2
	swan_list_sas "$ns" "$dir" >&2
	swan_log "$dir" >&2
	return 1
}

# swan_stop NS DIR: stop DIR's charon (SIGTERM; SIGKILL after 5 s), wait until it is gone.
# Succeeds if it was not running. NS is only checked against the one it was started in.
swan_stop() {
	local ns=$1 dir=$2 pid i was=""
	[ ! -f "$dir/netns" ] || read -r was <"$dir/netns"
	if [ -n "$was" ] && [ "$was" != "$ns" ]; then
		_swan_die "swan_stop: $dir was started in netns $was, not $ns"
		return 1
	fi
	pid=$(_swan_pid "$dir") || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 50; i++)); do
		_swan_pid "$dir" >/dev/null || return 0
		sleep 0.1
	done
	echo "strongswan: charon $pid ($dir) ignored SIGTERM, killing it" >&2
	kill -KILL "$pid" 2>/dev/null
	for ((i = 0; i < 20; i++)); do
		_swan_pid "$dir" >/dev/null || return 0
		sleep 0.1
	done
	_swan_die "charon $pid ($dir) does not exit"
}

# swan_kill NS DIR: SIGKILL DIR's charon (a crash: no DELETE is sent, and its XFRM states and
# policies stay installed in NS), wait until it is gone.
swan_kill() {
	local ns=$1 dir=$2 pid i
	pid=$(_swan_pid "$dir") || return 0
	kill -KILL "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 50; i++)); do
		_swan_pid "$dir" >/dev/null || return 0
		sleep 0.1
	done
	_swan_die "charon $pid ($dir) in $ns does not die"
}

# swan_stop_all DIR...: stop the instance in each DIR, or in each direct subdirectory of DIR.
swan_stop_all() {
	local d s ns rc=0
	for d in "$@"; do
		for s in "$d" "$d"/*/; do
			s=${s%/}
			read -r ns 2>/dev/null <"$s/netns" || continue
			swan_stop "$ns" "$s" || rc=1
		done
	done
	return $rc
}

# --- ikeuser in A against charon in B (needs tests/vm/ike.sh): SWAN is charon's directory.
SWAN=${SWAN:-$IKE_DIR/swanB}

swan_cleanup() {
	local rc=$?
	# The test's `set -e` would end this trap at `(exit $rc)` below, before ike_cleanup.
	set +e
	if [ $rc -ne 0 ]; then
		echo "--- charon SAs"
		ip -n B xfrm state || true
	fi
	swan_stop_all "$SWAN" || true
	if [ $rc -ne 0 ]; then
		echo "--- charon log (end)"
		swan_log "$SWAN" 60 || true
	fi
	(exit $rc)
	ike_cleanup
}

# swan_pair MODE IKE ESP [IKEUSER-KEY=VALUE...] -- [SWAN-KEY=VALUE...]: topology, ikeuser in A,
# charon in B with connection `c` / child `net` and the same proposals (strongSwan syntax).
swan_pair() {
	local mode=$1 ike=$2 esp=$3 a=() b=()
	shift 3
	while [ $# -gt 0 ] && [ "$1" != -- ]; do a+=("$1"); shift; done
	[ $# -eq 0 ] || shift
	b=("$@")
	load
	topology "$mode"
	trap swan_cleanup EXIT
	ike_conf A "$IKE_DIR/A.toml" ike="[\"$ike\"]" esp="[\"$esp\"]" "${a[@]}"
	ikeuser_start A "$IKE_DIR/A.toml"
	mkdir -p "$SWAN"
	swan_start B "$SWAN"
	# Certificates replace the PSK when charon gets cert=...
	local auth=(psk="$IKE_PSK")
	case " ${b[*]} " in *" cert="*) auth=() ;; esac
	swan_conf "$SWAN" c child=net local_addrs="$B_OUT" remote_addrs="$A_OUT" "${auth[@]}" \
		proposals="$ike" esp_proposals="$esp" mode="$AMODE" local_ts="$SEL_B" remote_ts="$SEL_A" "${b[@]}"
	swan_load B "$SWAN"
}
