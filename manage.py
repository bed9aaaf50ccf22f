#!/usr/bin/env python3
"""Django's command-line utility for guanxi (the ``guanxi`` console script does the same)."""

import sys

if __name__ == "__main__":
    from guanxi.cli import main

    sys.exit(main(["manage", *sys.argv[1:]]))
