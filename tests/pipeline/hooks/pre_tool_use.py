#!/usr/bin/env python3
"""PreToolUse guard in the shape of disler/claude-code-hooks-mastery's pre_tool_use.py.

Blocks dangerous `rm -rf` commands found in the Bash tool input: exit 2, reason on stderr.
"""

import json
import re
import sys


def is_dangerous_rm_command(command: str) -> bool:
    normalized = " ".join(command.lower().split())
    patterns = [
        r"\brm\s+.*-[a-z]*r[a-z]*f",
        r"\brm\s+.*-[a-z]*f[a-z]*r",
        r"\brm\s+--recursive\s+--force",
        r"\brm\s+--force\s+--recursive",
    ]
    return any(re.search(pattern, normalized) for pattern in patterns)


def main() -> None:
    try:
        input_data = json.load(sys.stdin)
    except json.JSONDecodeError:
        sys.exit(0)  # never fail closed on bad input
    tool_name = input_data.get("tool_name", "")
    tool_input = input_data.get("tool_input", {})
    if tool_name == "Bash" and is_dangerous_rm_command(tool_input.get("command", "")):
        print("BLOCKED: Dangerous rm command detected and prevented", file=sys.stderr)
        sys.exit(2)
    sys.exit(0)


if __name__ == "__main__":
    main()
