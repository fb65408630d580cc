#!/usr/bin/env python3
# Captures kernel uevents from a NETLINK_KOBJECT_UEVENT socket (group 1) into
# FILE for SECONDS: each message as a 4-byte little-endian length and its bytes.
# Run it inside a network namespace (ip netns exec NS capture.py FILE SECONDS)
# while creating and deleting interfaces there; see README.md.
import socket
import sys
import time

NETLINK_KOBJECT_UEVENT = 15
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_KOBJECT_UEVENT)
s.bind((0, 1))
s.settimeout(0.2)
end = time.time() + float(sys.argv[2])
count = 0
with open(sys.argv[1], "wb") as out:
    while time.time() < end:
        try:
            data = s.recv(65536)
        except socket.timeout:
            continue
        out.write(len(data).to_bytes(4, "little") + data)
        count += 1
print(count, "messages")
