"""Run the Salesforce sandbox in the foreground (Ctrl-C stops; state is saved to --data-dir):

    python -m leadsync.connectors.salesforce.sandbox --data-dir DIR --port 8443 --seed-leads 20000
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from leadsync.connectors.salesforce.sandbox.sandbox import SalesforceSandbox


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM (e.g. from a process manager) stops as cleanly as Ctrl-C, so the data is saved."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the leadsync Salesforce sandbox (Ctrl-C stops).")
    parser.add_argument("--data-dir", type=Path, help="keep records here across restarts (Parquet files)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--no-tls", action="store_true", help="serve plain http (clients must downgrade)")
    parser.add_argument("--seed-leads", type=int, default=0,
                        help="add N generated leads (only when the org has no leads yet)")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the generated data")
    parser.add_argument("--daily-api-limit", type=int, default=100_000)
    args = parser.parse_args(argv)

    tls_dir = args.data_dir / "tls" if args.data_dir else None
    key_path = args.data_dir / "jwt-private-key.pem" if args.data_dir else None
    sandbox = SalesforceSandbox(data_dir=args.data_dir, port=args.port, host=args.host, tls=not args.no_tls,
                                tls_dir=tls_dir, daily_api_limit=args.daily_api_limit,
                                autosave_s=5 if args.data_dir else None,
                                jwt_private_key_pem=key_path.read_text() if key_path and key_path.exists()
                                else None)
    if args.seed_leads and sandbox.count("Lead") == 0:
        summary = sandbox.seed(leads=args.seed_leads, seed=args.seed)
        print(f"seeded: {summary}")
    signal.signal(signal.SIGTERM, _interrupt)
    creds = sandbox.credentials
    with sandbox:
        print(f"Salesforce sandbox: {sandbox.url}  ({sandbox.count('Lead')} leads)")
        print(f"CA certificate:     {sandbox.ca_pem_path}  (requests: session.verify=it, trust_env=False)")
        print(f"client id:          {creds.client_id}")
        print(f"client secret:      {creds.client_secret}")
        print(f"My Domain:          {sandbox.my_domain}  (simple-salesforce domain= for client credentials)")
        print(f"username/password:  {creds.username} / {creds.password}  (token {creds.security_token})")
        if key_path:
            key_path.write_text(sandbox.jwt_private_key_pem)
            key_path.chmod(0o600)
            print(f"JWT private key:    {key_path}  (the sandbox trusts it; kept across restarts)")
            print(f"data folder:        {args.data_dir}")
        print("Logins to https://*.salesforce.com reach this sandbox only through a session from "
              "leadsync.connectors.salesforce.sandbox.sandbox_session(url, ca).")
        print("Ctrl-C to stop", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopping (saving)" if args.data_dir else "stopping", flush=True)


if __name__ == "__main__":
    main()
