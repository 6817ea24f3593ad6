#!/usr/bin/env python3
"""bench/revoke_latency.py: how long after one node acknowledges a
revocation another node's OCSP answers `revoked` (not a test; bench/nodes.sh
runs it on two nodes sharing a PostgreSQL store).

N devices are enrolled first (EST simpleenroll on node A with a station
certificate); then, one at a time: node B's OCSP is asked once (it answers
good, and keeps that answer in its cache), the certificate is revoked
through node A's admin API, and from the moment A's 200 is read node B is
asked again (nonce-less GET, keep-alive, as RFC 5019 clients and nginx
ask) until it answers revoked. With --crl-count K, for the first K
revocations node B's /crl/issuing.crl is then fetched every 50 ms until
it lists the certificate (the elected node builds CRLs; B serves the
store's). Prints the distributions in milliseconds.

usage: revoke_latency.py --est HOST:PORT --cafile CHAIN --station CERT KEY
           --admin CERT KEY --ocsp HOST:PORT --issuer ISSUING.pem [-n N]
           [--crl-count K]
"""
import argparse
import base64
import http.client
import json
import ssl
import sys
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID


def tls(host, port, cafile, cert, key):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.load_cert_chain(cert, key)
    return http.client.HTTPSConnection(host, port, context=ctx, timeout=30)


def enroll(conn, name):
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                       name)]))
           .sign(key, hashes.SHA256()))
    body = base64.b64encode(csr.public_bytes(serialization.Encoding.DER))
    conn.request("POST", "/.well-known/est/simpleenroll", body,
                 {"Content-Type": "application/pkcs10"})
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        sys.exit(f"enroll {name}: HTTP {r.status}: {data[:200]!r}")
    return pkcs7.load_der_pkcs7_certificates(base64.b64decode(data))[0]


def serial_hex(cert):
    h = format(cert.serial_number, "X")
    return h if len(h) % 2 == 0 else "0" + h


def ocsp_status(conn, path):
    conn.request("GET", path)
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        sys.exit(f"OCSP: HTTP {r.status}")
    resp = ocsp.load_der_ocsp_response(data)
    if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return str(resp.response_status)
    return resp.certificate_status.name.lower()


def crl_lists(conn, serial):
    conn.request("GET", "/crl/issuing.crl")
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        return False
    crl = x509.load_der_x509_crl(data)
    return crl.get_revoked_certificate_by_serial_number(serial) is not None


def summary(name, ms):
    ms.sort()
    return (f"{name}={len(ms)} min={ms[0]:.1f} "
            f"median={pct(ms, 50):.1f} p90={pct(ms, 90):.1f} "
            f"p99={pct(ms, 99):.1f} max={ms[-1]:.1f} (ms)")


def pct(sorted_ms, p):
    # Nearest rank.
    k = max(0, min(len(sorted_ms) - 1,
                   int(-(-p * len(sorted_ms) // 100)) - 1))
    return sorted_ms[k]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--est", required=True)
    ap.add_argument("--cafile", required=True)
    ap.add_argument("--station", nargs=2, required=True)
    ap.add_argument("--admin", nargs=2, required=True)
    ap.add_argument("--ocsp", required=True)
    ap.add_argument("--issuer", required=True)
    ap.add_argument("-n", type=int, default=100)
    ap.add_argument("--crl-count", type=int, default=0)
    a = ap.parse_args()
    host, port = a.est.rsplit(":", 1)
    issuer = x509.load_pem_x509_certificate(open(a.issuer, "rb").read())
    est = tls("localhost", int(port), a.cafile, *a.station)
    certs = [enroll(est, f"revlat-{int(time.time())}-{i}")
             for i in range(a.n)]
    est.close()
    api = tls("localhost", int(port), a.cafile, *a.admin)
    ohost, oport = a.ocsp.rsplit(":", 1)
    b = http.client.HTTPConnection(ohost, int(oport), timeout=30)
    ms, crl_ms = [], []
    for cert in certs:
        req = (ocsp.OCSPRequestBuilder()
               .add_certificate(cert, issuer, hashes.SHA1()).build())
        path = "/ocsp/" + urllib.parse.quote(
            base64.b64encode(req.public_bytes(serialization.Encoding.DER))
            .decode(), safe="")
        first = ocsp_status(b, path)
        if first != "good":
            sys.exit(f"node B answered {first} before the revocation")
        api.request("POST",
                    f"/api/v1/certificates/{serial_hex(cert)}/revoke",
                    json.dumps({"reason": "keyCompromise"}),
                    {"Content-Type": "application/json"})
        r = api.getresponse()
        data = r.read()
        if r.status != 200:
            sys.exit(f"revoke: HTTP {r.status}: {data[:200]!r}")
        t0 = time.monotonic()
        while True:
            st = ocsp_status(b, path)
            t1 = time.monotonic()
            if st == "revoked":
                break
            if t1 - t0 > 10:
                sys.exit("node B did not answer revoked within 10 s")
            time.sleep(0.0005)
        ms.append((t1 - t0) * 1000)
        if len(crl_ms) < a.crl_count:
            while not crl_lists(b, cert.serial_number):
                if time.monotonic() - t0 > 10:
                    sys.exit("node B's CRL did not list it within 10 s")
                time.sleep(0.05)
            crl_ms.append((time.monotonic() - t0) * 1000)
    print(summary("revocations", ms))
    if crl_ms:
        print(summary("on_crl", crl_ms))


if __name__ == "__main__":
    main()
