"""`python -m leadsync.connectors.eloqua.sandbox`: run the Eloqua sandbox in the foreground."""

from leadsync.connectors.eloqua.sandbox.sandbox import main

if __name__ == "__main__":
    main()
