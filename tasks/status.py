"""Why each stage of an experiment is complete, stale or missing, compared with the store."""
from symdistill.catalogs import ArtifactStore
from symdistill.tasks.plan import StageSpec


def stage_status(plan: dict[str, StageSpec], store: ArtifactStore, experiment: str) -> list[dict]:
    """One record per stage: ``stage``, ``key``, ``state`` and, for a stale stage, ``previous_key`` and ``reasons``.

    A stage is stale when the store holds an earlier artifact of it (preferably from this experiment)
    but not one under the current key; the reasons name each config field, input or code that changed.
    ``waiting_on`` lists inputs not computed yet: the stage's key is provisional until their content is known.
    """
    records = []
    for spec in plan.values():
        record = {"stage": spec.name, "key": spec.key, "state": "complete", "reasons": [],
                  "waiting_on": spec.waiting_on}
        if not store.is_complete(spec.ref):
            previous = _latest(store.artifacts(spec.name), experiment)
            record["state"] = "missing" if previous is None else "stale"
            if previous is not None:
                record["previous_key"] = previous["key"]
                record["reasons"] = explain_change(previous, spec)
            else:
                record["reasons"] = [{"kind": "waiting", "field": name, "old": None, "new": None}
                                     for name in spec.waiting_on]
        records.append(record)
    return records


def explain_change(previous: dict, spec: StageSpec) -> list[dict]:
    """What differs between a stored artifact's provenance and the current spec."""
    reasons = [{"kind": "config", "field": f"{spec.name}.{field}", "old": old, "new": new}
               for field, old, new in _diff(previous.get("config", {}), spec.config)]
    old_inputs = previous.get("inputs", {})
    for name in sorted(set(old_inputs) | set(spec.inputs)):
        if name in spec.waiting_on:
            reasons.append({"kind": "waiting", "field": name, "old": old_inputs.get(name), "new": None})
        elif old_inputs.get(name) != spec.inputs.get(name):
            reasons.append({"kind": "input", "field": name, "old": old_inputs.get(name), "new": spec.inputs.get(name)})
    if previous.get("code_version") != spec.code:
        reasons.extend(_code_changes(previous, spec))
    return reasons


def _code_changes(previous: dict, spec: StageSpec) -> list[dict]:
    """Each module and package whose version differs; artifacts older than code manifests give one line."""
    old_manifest = previous.get("code_manifest")
    if not old_manifest:
        return [{"kind": "code", "field": "code_version", "old": previous.get("code_version"), "new": spec.code}]
    reasons = []
    for kind, section in (("module", "modules"), ("package", "packages")):
        old, new = old_manifest.get(section, {}), spec.code_manifest.get(section, {})
        for name in sorted(set(old) | set(new)):
            if old.get(name) != new.get(name):
                reasons.append({"kind": kind, "field": name, "old": old.get(name), "new": new.get(name)})
    return reasons or [{"kind": "code", "field": "code_version", "old": previous.get("code_version"),
                        "new": spec.code}]


def describe(reason: dict) -> str:
    if reason["kind"] == "waiting":
        return f"waits on the content of {reason['field']} (reused if {reason['field']} comes out unchanged)"
    if reason["kind"] == "module":
        change = ("now imported" if reason["old"] is None else "no longer imported" if reason["new"] is None
                  else "edited")
        return f"code {reason['field']}: {change}"
    return f"{reason['kind']} {reason['field']}: {reason['old']!r} -> {reason['new']!r}"


def _latest(artifacts: list[dict], experiment: str) -> dict | None:
    same = [a for a in artifacts if a.get("experiment") == experiment]
    candidates = same or artifacts
    return candidates[-1] if candidates else None


def _diff(old, new, prefix=""):
    if isinstance(old, dict) and isinstance(new, dict):
        for name in sorted(set(old) | set(new)):
            yield from _diff(old.get(name), new.get(name), f"{prefix}.{name}" if prefix else name)
    elif old != new:
        yield prefix, old, new
