#!/usr/bin/env python3
"""Print the code block that follows a file name in a Markdown guide.

    deploy/docblock.py docs/deploy.md /etc/systemd/system/guanxi-web.service

finds the first `` `/etc/systemd/system/guanxi-web.service` `` in the text that is followed (on the
same line, then a blank line or none) by a fenced block, and prints the block's contents. The deploy
drill builds its files this way, so it runs what the guide says.
"""

from __future__ import annotations

import re
import sys


def block(doc: str, path: str) -> str | None:
    match = re.search(r"`" + re.escape(path) + r"`[^\n]*\n+```[a-z]*\n(.*?)```", doc, re.S)
    return match.group(1) if match else None


def main() -> int:
    doc_path, path = sys.argv[1], sys.argv[2]
    with open(doc_path, encoding="utf-8") as fh:
        text = block(fh.read(), path)
    if text is None:
        print(f"no block after `{path}` in {doc_path}", file=sys.stderr)
        return 1
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
