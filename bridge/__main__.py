"""`python -m bridge`: the same commands as the `bridge` console script."""

from bridge.cli.main import main

if __name__ == "__main__":
    main()
