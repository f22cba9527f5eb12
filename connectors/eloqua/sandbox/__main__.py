"""`python -m connectors.eloqua.sandbox`: run the Eloqua sandbox in the foreground."""

from connectors.eloqua.sandbox.sandbox import main

if __name__ == "__main__":
    main()
