#!/usr/bin/env bash
# PreToolUse hook in the shape of GSD's gsd-validate-commit.sh: answers with the
# July-2025 JSON form, {"decision": "block", "reason": ...}, on stdout and exit 0.
input=$(cat)
if printf '%s' "$input" | grep -q 'git commit'; then
  if ! printf '%s' "$input" | grep -Eq 'git commit -m .{0,3}(feat|fix|docs|chore|test|refactor)(\([a-z-]+\))?: '; then
    printf '{"decision": "block", "reason": "Commit message must follow Conventional Commits (feat: ..., fix: ...)"}\n'
    exit 0
  fi
fi
exit 0
