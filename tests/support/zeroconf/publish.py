"""Publish DNS-SD services with python-zeroconf (an independent mDNS
implementation) until stdin closes or --seconds pass.

Each --service is TYPE|INSTANCE|ADDRESS|PORT|k=v,k=v,... (TXT may be empty).
Prints "READY" once every service is registered, "DONE" on exit.
"""
import argparse
import socket
import sys
import threading
import time

from zeroconf import IPVersion, ServiceInfo, Zeroconf


def parse(spec):
    ty, name, addr, port, txt = spec.split("|", 4)
    props = {}
    for item in filter(None, txt.split(",")):
        k, _, v = item.partition("=")
        props[k] = v
    host = name.lower().replace("_", "-") + "-zc.local."
    return ServiceInfo(
        ty,
        f"{name}.{ty}",
        addresses=[socket.inet_aton(addr)],
        port=int(port),
        properties=props,
        server=host,
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--service", action="append", required=True)
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args()
    zc = Zeroconf(ip_version=IPVersion.V4Only)
    infos = [parse(s) for s in args.service]
    for info in infos:
        zc.register_service(info)
    print("READY", flush=True)
    done = threading.Event()

    def wait_stdin():
        sys.stdin.read()
        done.set()

    threading.Thread(target=wait_stdin, daemon=True).start()
    done.wait(args.seconds)
    for info in infos:
        zc.unregister_service(info)
    zc.close()
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
