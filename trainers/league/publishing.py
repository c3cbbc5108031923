"""Publishing adapter families: what the policy server serves for each league player.

A learning player owns one adapter per share key (`modes.family_keys`): the family `main` with
keys `red`, `blue` is served as `main-red`, `main-blue`, all at one version number. A snapshot
is the same family frozen at an old version, held on the server while the league keeps it.

    family = AdapterFamily("main", keys)
    version = family.publish(server, learner.adapter_weights)   # one loop, one version
    family.hold(server, version); family.release(server, "main", old_version)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from agents.serving.types import AdapterRef
from trainers.league.modes import adapter_name

__all__ = ["LEARNER", "AdapterFamily", "adapter_ref", "export_versions", "import_versions"]

#: The league id and adapter family of the learning player.
LEARNER = "main"

#: (weights, LoraConfig) of one adapter by name, e.g. `Learner.adapter_weights`.
WeightsOf = Callable[[str], tuple[Any, Any]]


def adapter_ref(family: str, key: str, version: int) -> AdapterRef:
    """The one spelling of a served adapter: family `main`, key `red`, version 3 -> main-red@v3."""
    return AdapterRef(adapter_name(family, key), int(version))


class AdapterFamily:
    """The adapters of one learning player, one per share key, published together."""

    def __init__(self, family: str, keys: Sequence[str]) -> None:
        self.family = family
        self.keys = list(keys)
        #: The adapter names (what the learner trains and the server serves), in key order.
        self.names = [adapter_name(family, k) for k in self.keys]

    def refs(self, version: int, family: str | None = None) -> list[AdapterRef]:
        """Every member at `version` (of this family, or of a snapshot's `family`)."""
        return [adapter_ref(family or self.family, k, version) for k in self.keys]

    def publish(self, server: Any, weights_of: WeightsOf, version: int | None = None) -> int:
        """Publish every member (at `version`, default: the server's next); they share one
        version number, which is returned."""
        versions = set()
        for name in self.names:
            weights, lora = weights_of(name)
            versions.add(server.publish(name, weights, lora, version=version).version)
        if len(versions) != 1:
            raise RuntimeError(f"{self.family} adapters out of step: versions {sorted(versions)}")
        return versions.pop()

    def hold(self, server: Any, version: int, family: str | None = None) -> None:
        for ref in self.refs(version, family):
            server.hold(ref)

    def release(self, server: Any, version: int, family: str | None = None) -> None:
        for ref in self.refs(version, family):
            server.release(ref)


def export_versions(server: Any, refs: Iterable[AdapterRef], folder: Path) -> None:
    """Copy the served `refs` into `folder/<name>@v<K>/` (peft folders)."""
    folder.mkdir()
    for ref in refs:
        server.export(ref, folder / ref.lora_name)


def import_versions(server: Any, folder: Path) -> list[AdapterRef]:
    """Serve again, under their old numbers and held, the versions `export_versions` wrote
    (in version order, so the server's counters end where they were)."""
    found = sorted(
        (AdapterRef.parse(p.name), p) for p in Path(folder).iterdir() if p.is_dir()
    )
    for ref, path in found:
        server.publish(ref.name, path, version=ref.version)
        server.hold(ref)
    return [ref for ref, _ in found]
