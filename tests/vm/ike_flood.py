"""A flood of IKE_SA_INIT requests from spoofed sources, over a raw IPv4 socket.

  ike_flood.py DST PREFIX SECONDS
sends, for SECONDS, requests to DST port 500 from random addresses in PREFIX (a routed IPv4
prefix such as 198.18.0.0/15) and random ports, each with a fresh initiator SPI and nonce.
They offer aes128gcm16-prfsha256-ecp256 (what tests/vm/ike.sh configures by default) with a
valid ECP-256 public value (the group's generator), so a responder takes each for a new
half-open IKE SA until it demands COOKIEs. Prints `sent N` at the end, or when killed.
"""
import ipaddress
import random
import signal
import socket
import struct
import sys
import time

# The generator of P-256 (RFC 5903 encodes the public value as x | y).
P256_G = bytes.fromhex(
    "6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296"
    "4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5"
)
SA, KE, NONCE, NONE = 33, 34, 40, 0


def transform(last, kind, ident, attrs=b""):
    return struct.pack("!BBHBBH", 0 if last else 3, 0, 8 + len(attrs), kind, 0, ident) + attrs


def payload(next_type, body):
    return struct.pack("!BBH", next_type, 0, 4 + len(body)) + body


def ike_sa_init(spi_i, nonce):
    transforms = (
        transform(False, 1, 20, struct.pack("!HH", 0x800E, 128))  # ENCR_AES_GCM_16, 128 bits
        + transform(False, 2, 5)  # PRF_HMAC_SHA2_256
        + transform(True, 4, 19)  # DH group 19, ECP-256
    )
    proposal = struct.pack("!BBHBBBB", 0, 0, 8 + len(transforms), 1, 1, 0, 3) + transforms
    chain = (
        payload(KE, proposal)
        + payload(NONCE, struct.pack("!HH", 19, 0) + P256_G)
        + payload(NONE, nonce)
    )
    header = struct.pack("!8s8sBBBBII", spi_i, bytes(8), SA, 0x20, 34, 0x08, 0, 28 + len(chain))
    return header + chain


def ipv4_udp(src, dst, sport, data):
    udp = struct.pack("!HHHH", sport, 500, 8 + len(data), 0) + data  # checksum 0: none (IPv4)
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, socket.IPPROTO_UDP, 0, src, dst
    )
    return ip + udp  # the kernel fills in the IP checksum (IP_HDRINCL)


def main():
    dst, prefix, seconds = sys.argv[1], ipaddress.ip_network(sys.argv[2]), float(sys.argv[3])
    base, span = int(prefix.network_address), prefix.num_addresses - 2
    # One packet, patched per send (source address, port, SPI and nonce): Python in a TCG VM
    # is too slow to build each from scratch.
    packet = bytearray(ipv4_udp(bytes(4), socket.inet_aton(dst), 0, ike_sa_init(bytes(8), bytes(32))))
    spi_at, nonce_at = 28, len(packet) - 32
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    end = time.monotonic() + seconds
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        flood(sock, packet, (dst, base, span), end, spi_at, nonce_at)
    finally:
        print(f"sent {SENT[0]}", flush=True)


SENT = [0]


def flood(sock, packet, target, end, spi_at, nonce_at):
    dst, base, span = target
    while time.monotonic() < end:
        for _ in range(20):
            packet[12:16] = (base + 1 + random.randrange(span)).to_bytes(4, "big")
            packet[20:22] = random.randrange(1024, 65535).to_bytes(2, "big")
            packet[spi_at : spi_at + 8] = random.randbytes(8)
            packet[nonce_at:] = random.randbytes(32)
            try:
                sock.sendto(packet, (dst, 0))
                SENT[0] += 1
            except OSError:  # a full queue: the flood goes on
                pass
        # At most about 1000 a second: in a 1-vCPU VM a faster flood starves the daemons,
        # and the CLI, of the CPU rather than testing what the daemon does with it.
        time.sleep(0.02)


main()
