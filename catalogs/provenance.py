"""A catalog entry's lineage, from the data to the equation: as text, and as W3C PROV-JSON.

PROV-JSON (https://www.w3.org/Submission/prov-json/): every stage run is an activity that used its
input artifacts and generated its own; artifacts and the equation are entities; symdistill is the agent.
"""
import json

NAMESPACE = "https://symdistill.example/ns#"


def lineage_text(entry: dict) -> str:
    lines = [f"entry {entry['id']}: {entry['experiment']} / {entry['function']} ({entry['status']})"]
    for step in entry["lineage"]:
        inputs = ", ".join(f"{s}:{k}" for s, k in input_keys(step).items()) or "none"
        lines.append(f"  {step['stage']:<16} key {step['key']}  code {step.get('code_version')}  "
                     f"{_seconds(step.get('duration_s'))}  inputs {inputs}")
        lines.append(f"  {'':<16} started {step.get('started')}  finished {step.get('finished')}  "
                     f"host {step.get('host')}")
        lines.append(f"  {'':<16} config {json.dumps(step.get('config'), sort_keys=True)}")
    lines.append(f"  {'equation':<16} {entry['expression'].splitlines()[0] if entry['expression'] else ''}")
    return "\n".join(lines)


def prov_json(entry: dict) -> dict:
    """The entry's lineage as a PROV-JSON document."""
    doc = {"prefix": {"sd": NAMESPACE, "xsd": "http://www.w3.org/2001/XMLSchema#"},
           "entity": {}, "activity": {}, "agent": {}, "used": {}, "wasGeneratedBy": {},
           "wasDerivedFrom": {}, "wasAssociatedWith": {}}
    software = f"sd:symdistill-{entry['versions'].get('packages', {}).get('symdistill', 'unknown')}"
    doc["agent"][software] = {"prov:type": "prov:SoftwareAgent", "sd:packages": json.dumps(
        entry["versions"].get("packages", {}), sort_keys=True)}
    for step in entry["lineage"]:
        artifact, activity = _artifact(step["stage"], step["key"]), f"sd:run/{step['stage']}/{step['key']}"
        doc["entity"][artifact] = {"prov:type": "sd:Artifact", "sd:stage": step["stage"], "sd:key": step["key"]}
        doc["activity"][activity] = {"prov:startTime": step.get("started"), "prov:endTime": step.get("finished"),
                                     "sd:code_version": step.get("code_version"), "sd:host": step.get("host"),
                                     "sd:config": json.dumps(step.get("config"), sort_keys=True),
                                     "sd:duration_s": step.get("duration_s")}
        doc["wasGeneratedBy"][f"_:gen/{step['stage']}"] = {"prov:entity": artifact, "prov:activity": activity}
        doc["wasAssociatedWith"][f"_:assoc/{step['stage']}"] = {"prov:activity": activity, "prov:agent": software}
        for stage, key in input_keys(step).items():
            doc["used"][f"_:use/{step['stage']}/{stage}"] = {"prov:activity": activity,
                                                             "prov:entity": _artifact(stage, key)}
            doc["wasDerivedFrom"][f"_:der/{step['stage']}/{stage}"] = {"prov:generatedEntity": artifact,
                                                                       "prov:usedEntity": _artifact(stage, key)}
    equation = f"sd:equation/{entry['id']}"
    doc["entity"][equation] = {"prov:type": "sd:Equation", "sd:function": entry["function"],
                               "sd:experiment": entry["experiment"], "sd:expression": entry["expression"],
                               "sd:status": entry["status"], "prov:generatedAtTime": entry["created"]}
    last = entry["lineage"][-1]
    doc["wasDerivedFrom"]["_:der/equation"] = {"prov:generatedEntity": equation,
                                              "prov:usedEntity": _artifact(last["stage"], last["key"])}
    return doc


def input_keys(step: dict) -> dict:
    """The keys of the artifacts a stage read. Its ``inputs`` are the content digests its key stands on;
    artifacts written before ``input_keys`` existed hold only those (keys themselves before content digests)."""
    return step.get("input_keys") or step.get("inputs") or {}


def _artifact(stage: str, key: str) -> str:
    return f"sd:artifact/{stage}/{key}"


def _seconds(value) -> str:
    return f"{value:.1f} s" if isinstance(value, (int, float)) else "-"
