"""Prometheus text → samples by name, the one parse every exporter and engine reader starts from."""

from __future__ import annotations

from collections import defaultdict

from prometheus_client.parser import text_string_to_metric_families

Series = dict[str, list[tuple[dict[str, str], float]]]  # sample name -> [(labels, value), ...]


def parse_series(text: str) -> Series:
    """Gauge, counter and info samples by name: [(labels, value), ...] (histograms are left out)."""
    series: Series = defaultdict(list)
    for family in text_string_to_metric_families(text):
        if family.type in ("gauge", "counter", "info", "unknown"):
            for sample in family.samples:
                if not sample.name.endswith("_created"):
                    series[sample.name].append((sample.labels, sample.value))
    return series
