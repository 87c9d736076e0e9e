import os
import sys
from pathlib import Path

# scripts/test-ffi.sh sets PEERDISC_TEST_INSTALLED=1 to test the package
# installed with `pip install ./python`; otherwise the source tree's
# python/peerdisc is imported (with a library from `cargo build`).
if os.environ.get("PEERDISC_TEST_INSTALLED") != "1":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
