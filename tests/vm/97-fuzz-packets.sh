# Fuzzed packet input (tests/vm/fuzz_packets.py): ESP, AH and ESP in UDP for 13 SAs (AES-GCM,
# AES-CBC with HMAC, AH; tunnel and transport; IPv4 and IPv6), valid, fragmented, behind IPv4
# options and IPv6 extension headers, cut at every length, and authentic with bad trailers, next
# headers and inner packets. Each invalid packet is dropped and counted once, under its reason;
# each valid one arrives; nothing invalid does. The long campaign is run by hand (README).

# Every class in its own batch, every packet's drop reason checked.
test_systematic_classes_are_dropped_under_their_reason() {
	load
	/usr/bin/python3 tests/vm/fuzz_packets.py --systematic --seed 1
}

# A short random pass: mutated authentic packets, garbage behind valid SPIs, valid ones between.
test_random_mutations_are_each_dropped_once() {
	load
	/usr/bin/python3 tests/vm/fuzz_packets.py --seed 97 --count 1500 --batch 500
}
