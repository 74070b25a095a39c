#!/usr/bin/env bash
# PostToolUse lint hook that crashes: exit 1 is a non-blocking error in Claude Code.
cat > /dev/null
echo "lint_check: ruff not configured for this project" >&2
exit 1
