# A test PKI, made with openssl the first time a test asks for it (once per VM run):
#   pki_init                 creates $PKI (CAs, certificates and keys below) unless it exists
# $PKI/ca-rsa.crt, ca-ec.crt: trusted CAs (RSA 2048, ECDSA P-256); other-ca.crt: one nobody trusts.
# $PKI/{left,right}-{rsa,ec}.{crt,key}: end entities for netns A (left) and B (right), issued by
# ca-rsa / ca-ec, subject CN=<side>.ripsec.test, SANs DNS:<side>.ripsec.test and both IPs.
# $PKI/left-untrusted.{crt,key}: left's names, issued by other-ca. $PKI/both-cas.crt: both CAs.
# shellcheck shell=bash
PKI=${PKI:-/tmp/ripsec-test-pki}

pki_init() {
	[ -f "$PKI/complete" ] && return 0
	rm -rf "$PKI" && mkdir -p "$PKI" || return 1
	(
		set -e
		cd "$PKI"
		ca() { # NAME SUBJECT KEYALG-OPTIONS...
			local name=$1 subj=$2
			shift 2
			openssl genpkey "$@" -out "$name.key" 2>/dev/null
			openssl req -x509 -new -key "$name.key" -sha256 -days 3650 -subj "$subj" \
				-addext "basicConstraints=critical,CA:TRUE" \
				-addext "keyUsage=critical,keyCertSign,cRLSign" -out "$name.crt"
		}
		ee() { # NAME SIDE CA KEYALG-OPTIONS...
			local name=$1 side=$2 ca=$3 ip4=10.0.0.1 ip6=fd00::1
			shift 3
			[ "$side" = left ] || ip4=10.0.0.2 ip6=fd00::2
			openssl genpkey "$@" -out "$name.key" 2>/dev/null
			openssl req -new -key "$name.key" -subj "/CN=$side.ripsec.test/O=ripsec" -out "$name.csr"
			printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nsubjectAltName=DNS:%s,IP:%s,IP:%s\n' \
				"$side.ripsec.test" "$ip4" "$ip6" >"$name.ext"
			openssl x509 -req -in "$name.csr" -CA "$ca.crt" -CAkey "$ca.key" -CAcreateserial \
				-sha256 -days 3650 -extfile "$name.ext" -out "$name.crt" 2>/dev/null
		}
		rsa=(-algorithm RSA -pkeyopt rsa_keygen_bits:2048)
		ec=(-algorithm EC -pkeyopt ec_paramgen_curve:P-256)
		ca ca-rsa "/CN=ripsec test RSA CA/O=ripsec" "${rsa[@]}"
		ca ca-ec "/C=CH/O=ripsec/CN=ripsec test ECDSA CA" "${ec[@]}"
		ca other-ca "/CN=Other CA/O=elsewhere" "${ec[@]}"
		for side in left right; do
			ee "$side-rsa" "$side" ca-rsa "${rsa[@]}"
			ee "$side-ec" "$side" ca-ec "${ec[@]}"
		done
		ee left-untrusted left other-ca "${ec[@]}"
		cat ca-rsa.crt ca-ec.crt >both-cas.crt
		touch complete
	) || fail "could not make the test PKI in $PKI"
}
