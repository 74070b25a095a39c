#!/usr/bin/env bash
# A hook that takes 0.3 s; several of them show that a stage runs its hooks concurrently.
cat > /dev/null
sleep 0.3
exit 0
