# SPDX-License-Identifier: MIT
# tests/integration/nsecho.py -- a backend that answers every query with one TXT record naming
# the address and port the query came from ("ADDR#PORT"), over UDP and TCP. It stands in where
# no real server can: Knot and PowerDNS tell the client's address, not the port it sent from.
#
#   nsecho.py PORT ADDR [ADDR ...]

import socket
import sys
import threading

import dns.message
import dns.rrset


def answer(wire, src):
    q = dns.message.from_wire(wire)
    r = dns.message.make_response(q)
    r.answer.append(dns.rrset.from_text(q.question[0].name, 0, "IN", "TXT",
                                        '"%s#%d"' % (src[0], src[1])))
    return r.to_wire()


def serve_udp(s):
    while True:
        wire, src = s.recvfrom(4096)
        try:
            s.sendto(answer(wire, src), src)
        except Exception:  # a malformed query gets nothing
            pass


def recv_exact(c, n):
    buf = b""
    while len(buf) < n:
        part = c.recv(n - len(buf))
        if not part:
            raise ConnectionError("closed")
        buf += part
    return buf


def serve_conn(c, src):
    with c:
        try:
            while True:
                n = int.from_bytes(recv_exact(c, 2), "big")
                out = answer(recv_exact(c, n), src)
                c.sendall(len(out).to_bytes(2, "big") + out)
        except Exception:
            pass


def serve_tcp(s):
    while True:
        c, src = s.accept()
        threading.Thread(target=serve_conn, args=(c, src), daemon=True).start()


def main():
    port = int(sys.argv[1])
    for addr in sys.argv[2:]:
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        u = socket.socket(fam, socket.SOCK_DGRAM)
        u.bind((addr, port))
        t = socket.socket(fam, socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind((addr, port))
        t.listen(128)
        threading.Thread(target=serve_udp, args=(u,), daemon=True).start()
        threading.Thread(target=serve_tcp, args=(t,), daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
