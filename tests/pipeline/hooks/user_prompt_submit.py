#!/usr/bin/env python3
"""UserPromptSubmit hook in the shape of disler's user_prompt_submit.py --context:
reads `prompt` from stdin; plain stdout on exit 0 becomes context."""

import json
import sys

data = json.load(sys.stdin)
prompt = data.get("prompt", "")
print(f"Prompt received ({len(prompt)} chars): {prompt}")
print("Project conventions: reports are Markdown tables.")
sys.exit(0)
