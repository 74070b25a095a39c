"""Counters for /metrics, in Prometheus' text format. A leaf module, like domain."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

Labels = tuple[tuple[str, str], ...]


class Metrics:
    def __init__(self) -> None:
        self._counters: Counter[tuple[str, Labels]] = Counter()

    def inc(self, name: str, **labels: str) -> None:
        self._counters[(name, tuple(sorted(labels.items())))] += 1

    def value(self, name: str, **labels: str) -> int:
        return self._counters[(name, tuple(sorted(labels.items())))]

    def render(self, gauges: Mapping[str, float]) -> str:
        lines = []
        for (name, labels), count in sorted(self._counters.items()):
            rendered = ",".join(f'{key}="{value}"' for key, value in labels)
            lines.append(f"bot_{name}{{{rendered}}} {count}")
        lines.extend(f"bot_{name} {value:g}" for name, value in sorted(gauges.items()))
        return "\n".join(lines) + "\n"
