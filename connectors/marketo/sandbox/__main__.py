"""`python -m leadsync.connectors.marketo.sandbox`: run the Marketo sandbox in the foreground."""

from leadsync.connectors.marketo.sandbox.sandbox import main

if __name__ == "__main__":
    main()
