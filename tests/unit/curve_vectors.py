#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# tests/unit/curve_vectors.py -- DNSCurve test vectors from an independent implementation
#
# Writes tests/unit/curve_vectors.h, which test_curve_format.c and test_curve_key.c include.
# Everything DNSCurve here is done again from the notes (crypto-fronts.md §1) with PyNaCl
# (Debian python3-nacl, libsodium underneath but none of our C), so the C code is checked
# against bytes it did not make:
#   - fixed client and server key pairs, nonces and messages;
#   - the streamlined and TXT queries a client would send (the C parser must open them);
#   - the exact responses for a fixed server nonce (the C sealer and framer must produce the
#     same bytes, which is the same as PyNaCl opening them);
#   - what the real tools made, from tests/unit/curve_capture.txt (see "capture" below).
#
#   /usr/bin/python3 tests/unit/curve_vectors.py > tests/unit/curve_vectors.h
#   /usr/bin/python3 tests/unit/curve_vectors.py capture > tests/unit/curve_capture.txt
#
# "capture" needs dq and curvedns-keygen (Debian dq, curvedns). It runs curvedns-keygen once
# and keeps its three lines; then it plays a DNSCurve server on loopback with the server key
# below and the framing functions below, runs dq in all four modes (streamlined/TXT x UDP/TCP),
# answers each query, and checks that dq prints the answer -- so dq itself vouches for the
# layouts the vectors use. It keeps the first streamlined and TXT UDP queries dq sent.
# Run once by hand; the captured bytes are random each time, so the file is committed.

import os
import socket
import struct
import subprocess
import sys
import threading

from nacl.bindings import crypto_box_beforenm, crypto_box_afternm, crypto_box_open_afternm
from nacl.bindings import crypto_scalarmult_base

HERE = os.path.dirname(os.path.abspath(__file__))
ALPHABET = "0123456789bcdfghjklmnpqrstuvwxyz"

SERVER_SK = bytes((7 * i + 3) & 0xFF for i in range(32))
CLIENT_SK = bytes((11 * i + 5) & 0xFF for i in range(32))
CLIENT_NONCE = bytes.fromhex("0102030405060708090a0b0c")
SERVER_NONCE = bytes.fromhex("00010203fedcba9876543210")
TXT_ID = 0x1234
SUFFIX = [b"example"]
ANSWER_TEXT = b"hello over curve"


def b32encode(data):
    out, x, bits = [], 0, 0
    for byte in data:
        x |= byte << bits
        bits += 8
        while bits >= 5:
            out.append(ALPHABET[x & 31])
            x >>= 5
            bits -= 5
    if bits:
        out.append(ALPHABET[x])
    return "".join(out)


def b32decode(text, keep):
    out, x, bits = bytearray(), 0, 0
    for ch in text.lower():
        x |= ALPHABET.index(ch) << bits
        bits += 5
        if bits >= 8:
            out.append(x & 0xFF)
            x >>= 8
            bits -= 8
    if keep and bits:
        out.append(x)
    elif not keep and (bits >= 5 or x):
        raise ValueError("leftover bits")
    return bytes(out)


def public(sk):
    return crypto_scalarmult_base(sk)


def dns_key(pk):
    return "uz5" + b32encode(pk)[:51]


def name_wire(labels):
    return b"".join(bytes([len(l)]) + l for l in labels) + b"\0"


def query_msg(qid, name, qtype, rd=False):
    return struct.pack(">HBBHHHH", qid, 1 if rd else 0, 0, 1, 0, 0, 0) + \
        name_wire(name) + struct.pack(">HH", qtype, 1)


def answer_msg(query, texts, ttl=60):
    """The answer to <query> (no padding): QR AA, the question, one TXT record."""
    qid = struct.unpack(">H", query[:2])[0]
    end = 12
    while query[end]:
        end += 1 + query[end]
    question = query[12:end + 5]
    rdata = b"".join(bytes([len(t)]) + t for t in texts)
    return struct.pack(">HBBHHHH", qid, 0x84, 0, 1, 1, 0, 0) + question + \
        struct.pack(">HHHIH", 0xC00C, 16, 1, ttl, len(rdata)) + rdata


def dq_pad(msg, total):
    return msg + bytes(total - len(msg) - 1) + b"\x80"


def seal(shared, cnonce, snonce, msg):
    # PyNaCl's crypto_box_afternm returns the NaCl form minus its 16 zero bytes: MAC||ct.
    return crypto_box_afternm(msg, cnonce + snonce, shared)


def streamlined_query(cpk, cnonce, box):
    return b"Q6fnvWj8" + cpk + cnonce + box


def txt_query(qid, cpk, cnonce, box, suffix, rd=False):
    chars = b32encode(cnonce + box).encode()
    labels = [chars[i:i + 50] for i in range(0, len(chars), 50)]
    labels.append(b"x1a" + b32encode(cpk)[:51].encode())
    return struct.pack(">HBBHHHH", qid, 1 if rd else 0, 0, 1, 0, 0, 0) + \
        name_wire(labels + suffix) + struct.pack(">HH", 16, 1)


def parse_query(pkt):
    """(format, client pk, client nonce, box, question) of a DNSCurve query."""
    if pkt[:8] == b"Q6fnvWj8":
        return "s", pkt[8:40], pkt[40:52], pkt[52:], None
    pos, labels = 12, []
    while pkt[pos]:
        labels.append(pkt[pos + 1:pos + 1 + pkt[pos]])
        pos += 1 + pkt[pos]
    k = next(i for i, l in enumerate(labels) if len(l) == 54 and l[:3].lower() == b"x1a")
    raw = b32decode(b"".join(labels[:k]).decode(), keep=False)
    cpk = b32decode(labels[k][3:].decode(), keep=True)
    return "t", cpk, raw[:12], raw[12:], pkt[12:pos + 5]


def streamlined_response(cnonce, snonce, box):
    return b"R6fnvWJ8" + cnonce + snonce + box


def txt_response(qid, question, snonce, box):
    payload = snonce + box
    rdata = b"".join(bytes([len(payload[i:i + 255])]) + payload[i:i + 255]
                     for i in range(0, len(payload), 255))
    return struct.pack(">HBBHHHH", qid, 0x84, 0, 1, 1, 0, 0) + question + \
        struct.pack(">HHHIH", 0xC00C, 16, 1, 0, len(rdata)) + rdata


def respond(pkt, shared_of, snonce, texts):
    fmt, cpk, cnonce, box, question = parse_query(pkt)
    shared = shared_of(cpk)
    inner = crypto_box_open_afternm(box, cnonce + bytes(12), shared)
    end = 12
    while inner[end]:
        end += 1 + inner[end]
    answer = answer_msg(inner[:end + 5], texts)
    sealed = seal(shared, cnonce, snonce, answer)
    if fmt == "s":
        return streamlined_response(cnonce, snonce, sealed)
    return txt_response(struct.unpack(">H", pkt[:2])[0], question, snonce, sealed)


def c_array(name, data, comment):
    lines = ["/* %s */" % comment, "static const uint8_t %s[] = {" % name]
    for i in range(0, len(data), 12):
        lines.append("\t" + " ".join("0x%02x," % b for b in data[i:i + 12]))
    lines.append("};")
    return "\n".join(lines)


def c_string(name, text, comment):
    return '/* %s */\nstatic const char %s[] = "%s";' % (comment, name, text)


def generate():
    spk, cpk = public(SERVER_SK), public(CLIENT_SK)
    shared = crypto_box_beforenm(spk, CLIENT_SK)
    assert shared == crypto_box_beforenm(cpk, SERVER_SK)
    query = query_msg(0x4567, [b"www", b"example"], 16)
    padded = dq_pad(query, 128)
    sq = streamlined_query(cpk, CLIENT_NONCE, seal(shared, CLIENT_NONCE, bytes(12), padded))
    tq = txt_query(TXT_ID, cpk, CLIENT_NONCE, seal(shared, CLIENT_NONCE, bytes(12), query),
                   SUFFIX)
    answer = answer_msg(query, [ANSWER_TEXT])
    big = answer_msg(query, [bytes([0x61 + i % 26]) * 200 for i in range(3)])
    box = seal(shared, CLIENT_NONCE, SERVER_NONCE, answer)
    bigbox = seal(shared, CLIENT_NONCE, SERVER_NONCE, big)
    out = [
        "/* SPDX-License-Identifier: MIT */",
        "/* tests/unit/curve_vectors.h -- written by curve_vectors.py (PyNaCl); do not edit */",
        "#ifndef DR_TESTS_CURVE_VECTORS_H",
        "#define DR_TESTS_CURVE_VECTORS_H",
        "",
        "#include <stdint.h>",
        "",
        "/* generated: one array line per 12 bytes, as the script writes them */",
        "/* clang-format off */",
        c_array("v_server_sk", SERVER_SK, "server secret key"),
        c_array("v_server_pk", spk, "its public key"),
        c_string("v_server_dns", dns_key(spk), "its DNS name label"),
        c_array("v_client_sk", CLIENT_SK, "client secret key"),
        c_array("v_client_pk", cpk, "its public key"),
        c_array("v_shared", shared, "crypto_box_beforenm of the two"),
        c_array("v_client_nonce", CLIENT_NONCE, "client nonce"),
        c_array("v_server_nonce", SERVER_NONCE, "server nonce"),
        c_array("v_query", query, "www.example. IN TXT, id 0x4567, no RD (29 bytes)"),
        c_array("v_query_padded", padded, "v_query padded as dq does: zeros, 0x80, 128 bytes"),
        c_array("v_streamlined_query", sq, "streamlined query boxing v_query_padded"),
        c_array("v_txt_query", tq, "TXT query boxing v_query, id 0x1234, suffix example."),
        c_array("v_answer", answer, 'answer to v_query: www.example. 60 IN TXT "%s"' %
                ANSWER_TEXT.decode()),
        c_array("v_big_answer", big, "answer to v_query with three 200-byte strings"),
        c_array("v_streamlined_response", streamlined_response(CLIENT_NONCE, SERVER_NONCE, box),
                "streamlined response carrying v_answer under v_server_nonce"),
        c_array("v_txt_response", txt_response(TXT_ID, tq[12:], SERVER_NONCE, box),
                "TXT response to v_txt_query carrying v_answer"),
        c_array("v_txt_big_response", txt_response(TXT_ID, tq[12:], SERVER_NONCE, bigbox),
                "TXT response to v_txt_query carrying v_big_answer (three strings)"),
    ]
    out += captured()
    out += ["/* clang-format on */", "", "#endif", ""]
    sys.stdout.write("\n".join(out))


def captured():
    path = os.path.join(HERE, "curve_capture.txt")
    if not os.path.exists(path):
        return []
    fields = dict(line.split(" ", 1) for line in open(path).read().splitlines() if line)
    out = ["", "/* From curve_capture.txt: the real tools (dq 20230101, curvedns-keygen 0.87). */"]
    out.append(c_string("cap_keygen_dns", fields["keygen_dns"], "curvedns-keygen: DNS public key"))
    out.append(c_string("cap_keygen_pk_hex", fields["keygen_pk"], "curvedns-keygen: hex public key"))
    out.append(c_string("cap_keygen_sk_hex", fields["keygen_sk"], "curvedns-keygen: hex secret key"))
    out.append(c_array("cap_dq_streamlined", bytes.fromhex(fields["dq_streamlined"]),
                       "dq -a -k <v_server_dns> txt www.example: streamlined, UDP"))
    out.append(c_array("cap_dq_txt", bytes.fromhex(fields["dq_txt"]),
                       "dq -a -k <v_server_dns> -S example txt www.example: TXT, UDP"))
    return out


def serve_udp(sock, shared_of, seen):
    pkt, peer = sock.recvfrom(65535)
    seen.append(pkt)
    sock.sendto(respond(pkt, shared_of, SERVER_NONCE, [ANSWER_TEXT]), peer)


def recv_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def serve_tcp(sock, shared_of, seen):
    conn, _ = sock.accept()
    with conn:
        pkt = recv_exact(conn, struct.unpack(">H", recv_exact(conn, 2))[0])
        seen.append(pkt)
        # 700 bytes of answer over TCP: more than one 255-byte string in the TXT format.
        resp = respond(pkt, shared_of, SERVER_NONCE, [b"x" * 250, b"y" * 250, b"z" * 200])
        conn.sendall(struct.pack(">H", len(resp)) + resp)


def run_dq(tcp, txt):
    spk = public(SERVER_SK)
    fam, kind = socket.AF_INET, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM
    sock = socket.socket(fam, kind)
    sock.bind(("127.0.0.1", 0))
    if tcp:
        sock.listen(1)
    sock.settimeout(5)
    seen = []
    server = threading.Thread(target=serve_tcp if tcp else serve_udp,
                              args=(sock, lambda cpk: crypto_box_beforenm(cpk, SERVER_SK), seen))
    server.start()
    cmd = ["dq", "-a", "-T", "3", "-k", dns_key(spk), "-p", str(sock.getsockname()[1])]
    cmd += ["-t"] if tcp else []
    cmd += ["-S", "example"] if txt else []
    cmd += ["txt", "www.example", "127.0.0.1"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    server.join()
    sock.close()
    mode = "%s %s" % ("TXT" if txt else "streamlined", "TCP" if tcp else "UDP")
    want = "TXT " + ("x" * 250 if tcp else ANSWER_TEXT.decode())
    if res.returncode != 0 or want not in res.stdout:
        sys.exit("dq %s: no answer\n%s%s" % (mode, res.stdout, res.stderr))
    sys.stderr.write("dq %s: answered (%s)\n" % (mode, res.stdout.splitlines()[1]))
    return seen[0]


def capture():
    lines = subprocess.run(["curvedns-keygen"], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    keygen = {l.split(":\t")[0]: l.split(":\t")[1] for l in lines}
    assert dns_key(bytes.fromhex(keygen["Hex public key"])) == keygen["DNS public key"]
    assert public(bytes.fromhex(keygen["Hex secret key"])).hex() == keygen["Hex public key"]
    print("keygen_dns", keygen["DNS public key"])
    print("keygen_pk", keygen["Hex public key"])
    print("keygen_sk", keygen["Hex secret key"])
    print("dq_streamlined", run_dq(False, False).hex())
    print("dq_txt", run_dq(False, True).hex())
    run_dq(True, False)
    run_dq(True, True)


if __name__ == "__main__":
    if sys.argv[1:] == ["capture"]:
        capture()
    else:
        generate()
