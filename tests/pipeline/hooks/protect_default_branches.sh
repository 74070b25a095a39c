#!/usr/bin/env bash
# PreToolUse hook in the shape of protect-default-branches.sh: permissionDecision "deny"
# in hookSpecificOutput, exit 0.
input=$(cat)
if printf '%s' "$input" | grep -Eq 'git push[^"]*\b(main|master)\b'; then
  cat <<'JSON'
{
  "hookSpecificOutput": {
    "hookEventName": "PreToolUse",
    "permissionDecision": "deny",
    "permissionDecisionReason": "Direct pushes to the default branch are not allowed; open a pull request."
  }
}
JSON
fi
exit 0
