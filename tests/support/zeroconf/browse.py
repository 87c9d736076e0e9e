"""Browse a DNS-SD service type with python-zeroconf and print one JSON line
per resolved instance: {"name", "port", "addresses", "txt"}. Exits when
--want instances were printed (or every instance named by --name was), or
after --seconds. Prints "READY" when browsing started.
"""
import argparse
import json
import socket
import time

from zeroconf import IPVersion, ServiceBrowser, ServiceStateChange, Zeroconf


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--type", default="_peerdisc._tcp.local.")
    ap.add_argument("--name", action="append", default=[])
    ap.add_argument("--seconds", type=float, default=15.0)
    args = ap.parse_args()
    zc = Zeroconf(ip_version=IPVersion.V4Only)
    found = {}

    def on_change(zeroconf, service_type, name, state_change):
        if state_change is not ServiceStateChange.Added and state_change is not ServiceStateChange.Updated:
            return
        info = zeroconf.get_service_info(service_type, name, timeout=3000)
        if info is None:
            return
        txt = {
            k.decode(): (v.decode() if v is not None else None)
            for k, v in info.properties.items()
        }
        rec = {
            "name": name,
            "port": info.port,
            "addresses": [socket.inet_ntoa(a) for a in info.addresses if len(a) == 4],
            "txt": txt,
        }
        if found.get(name) != rec:
            found[name] = rec
            print(json.dumps(rec), flush=True)

    ServiceBrowser(zc, args.type, handlers=[on_change])
    print("READY", flush=True)
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        names = {n.split(".")[0] for n in found}
        if args.name and all(n in names for n in args.name):
            break
        time.sleep(0.05)
    zc.close()
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
