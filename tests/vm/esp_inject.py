"""Raw ESP for attack tests, run inside a netns.

  capture IFACE SRC FILE   save the first IPv4 ESP frame from SRC seen on IFACE (AF_PACKET);
                           prints "capturing" once its socket is open
  replay IFACE FILE N      send that saved frame N times on IFACE
  send DST SPI SEQ LEN     send an ESP packet with random contents (raw IP socket)
"""
import os
import socket
import struct
import sys

ETH_P_ALL = 3


def capture(iface, src, path):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    s.settimeout(20)
    print("capturing", flush=True)  # the caller starts its traffic once it reads this
    want = socket.inet_aton(src)
    while True:
        frame = s.recv(65535)
        ip = frame[14:]
        if frame[12:14] == b"\x08\x00" and ip[9] == 50 and ip[12:16] == want:
            open(path, "wb").write(frame)
            return


def replay(iface, path, n):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    frame = open(path, "rb").read()
    for _ in range(n):
        s.send(frame)


def send(dst, spi, seq, length):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 50)
    s.sendto(struct.pack("!II", spi, seq) + os.urandom(length), (dst, 0))


cmd = sys.argv[1]
if cmd == "capture":
    capture(sys.argv[2], sys.argv[3], sys.argv[4])
elif cmd == "replay":
    replay(sys.argv[2], sys.argv[3], int(sys.argv[4]))
elif cmd == "send":
    send(sys.argv[2], int(sys.argv[3], 0), int(sys.argv[4], 0), int(sys.argv[5]))
