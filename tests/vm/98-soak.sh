# A short run of the concurrency and lifecycle soak (tests/vm/soak.sh, where the workers are
# described): traffic over Child SAs and an IKE SA rekeyed every few seconds with no datagram
# lost, SA/policy/netns/listener churn beside it, then rmmod under traffic. Run the long one
# by hand (README, "Tests").
# shellcheck shell=bash

test_soak_short() {
	bash tests/vm/soak.sh --duration 60 --seed "${SOAK_SEED:-1}"
}
