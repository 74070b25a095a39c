#!/usr/bin/env bash
# PreToolUse hook that wants a person to confirm: permissionDecision "ask".
cat > /dev/null
cat <<'JSON'
{"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "ask",
  "permissionDecisionReason": "Publishing a report is visible to everyone; confirm first."}}
JSON
