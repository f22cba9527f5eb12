"""The SFTP sandbox as a process of its own, for benchmarks: `python bench/sftp_server.py ROOT HOST_KEY PORT`.
Serves until killed."""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from leadsync.connectors.sftp.sandbox import SftpSandbox

if __name__ == "__main__":
    root, host_key, port = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    SftpSandbox(root, users={"bench": "bench"}, host_key_path=host_key, port=port).start()
    while True:
        time.sleep(3600)
