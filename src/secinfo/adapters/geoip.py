"""IP → country from a local CSV file of ``network,country`` rows (e.g. a GeoLite2 or
DB-IP country export reduced to two columns). No network lookups, no per-request I/O."""

from __future__ import annotations

import bisect
import csv
import ipaddress
from pathlib import Path


class CsvCountries:
    def __init__(self, path: Path) -> None:
        ranges: dict[int, list[tuple[int, int, str]]] = {4: [], 6: []}
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.reader(handle):
                if len(row) < 2 or row[0].startswith("#") or row[0] == "network":
                    continue
                network = ipaddress.ip_network(row[0].strip(), strict=False)
                country = row[1].strip().upper()[:2]
                ranges[network.version].append(
                    (int(network.network_address), int(network.broadcast_address), country)
                )
        self._ranges = {version: sorted(rows) for version, rows in ranges.items()}
        self._starts = {version: [row[0] for row in rows] for version, rows in self._ranges.items()}

    def country(self, ip: str | None) -> str | None:
        if not ip:
            return None
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return None
        value = int(address)
        index = bisect.bisect_right(self._starts[address.version], value) - 1
        if index < 0:
            return None
        start, end, country = self._ranges[address.version][index]
        return country if start <= value <= end else None
