#!/usr/bin/env bash
# Prints its environment: plain stdout on UserPromptSubmit is context, so the test sees it.
cat > /dev/null
env
