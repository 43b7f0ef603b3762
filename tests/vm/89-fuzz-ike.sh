# A short pass of tests/vm/fuzz_ike.py: mutated IKEv2 and IKEv1 datagrams from captured valid
# exchanges against a running ikeuser daemon, on UDP 500 and 4500, from a third address and
# spoofed from its peer's; the daemon stays up, keeps serving the peer, answers the stranger
# only as IKE_SA_INIT handling may, stays bounded in memory and keeps no state of the fuzz.
# The long campaign (README, Tests) runs the same script with a larger --count.
# shellcheck shell=bash

test_fuzz_ike_short_pass() {
	# A fixed seed, so a failure here is reproducible; FUZZ_SEED picks another.
	python3 tests/vm/fuzz_ike.py --seed "${FUZZ_SEED:-1}" --count 1500
}
