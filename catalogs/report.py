"""One self-contained HTML report per run: numbers, figures (embedded PNGs) and provenance; works offline."""
import base64
import html
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from symdistill.catalogs.store import ArtifactRef, ArtifactStore, report_path
from symdistill.catalogs.fronts import searches_of
from symdistill.catalogs.provenance import input_keys
from symdistill.catalogs.summary import summarize
from symdistill.components import plots

FIGURE_TITLES = {"training_curves": "Training curves", "message_sparsity": "Message sparsity",
                 "message_vs_force": "Messages against the true force", "pareto_fronts": "Pareto fronts",
                 "ood_errors": "Errors in and out of distribution"}
STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;
vertical-align:top;font-size:.9em}th{background:#f4f4f4}pre{background:#f8f8f8;padding:.6em;overflow-x:auto;
white-space:pre-wrap}figure{display:inline-block;margin:.5em 1em .5em 0}figcaption{font-size:.85em;color:#555}
img{max-width:100%}.num{text-align:right;font-variant-numeric:tabular-nums}"""
# Lets a headless browser test confirm every embedded figure decoded: it marks the body when loaded.
CHECK_SCRIPT = ("<script>window.addEventListener('load',function(){var i=document.images,n=0;"
                "for(var k=0;k<i.length;k++){if(i[k].complete&&i[k].naturalWidth>0)n++;}"
                "document.body.setAttribute('data-figures',n+'/'+i.length);});</script>")


def write_report(store: ArtifactStore, experiment: dict, refs: dict[str, ArtifactRef],
                 entry_ids: list[str] | None = None, path: Path | None = None) -> Path:
    """Build the report of a completed run (``refs``: stage -> artifact, data through validate_ood)."""
    name = experiment["experiment"]["name"]
    path = Path(path) if path is not None else report_path(store, name, refs["validate_ood"].key)
    provenance = {stage: store.provenance(ref) for stage, ref in refs.items()}
    parts = [f"<h1>symdistill run: {_e(name)}</h1>",
             f"<p>{_e(experiment['experiment'].get('description') or '')}</p>",
             _table([("run key", refs["validate_ood"].key), ("config file", provenance["validate_ood"].get("config_file")),
                     ("finished", provenance["validate_ood"].get("finished")),
                     ("report written", datetime.now(timezone.utc).isoformat(timespec="seconds")),
                     ("catalog entries", ", ".join(entry_ids or []) or "not catalogued")]),
             _verdict(provenance["validate_ood"]["figures"].get("verdict"))]
    data_stage = next(iter(refs))
    parts += ["<h2>Data</h2>", _data_summary(store, refs[data_stage])]
    parts += ["<h2>Surrogate</h2>", _figures(store, refs["train_surrogate"]),
              _table(_scalars(provenance["train_surrogate"]["figures"]))]
    capture = provenance["capture"]["figures"]
    parts += ["<h2>Captured messages</h2>", _figures(store, refs["capture"]),
              _table([("significant components", capture.get("significant_components")),
                      ("message–force R² (top components)", capture.get("message_force_r2", "no true force known"))])]
    parts += ["<h2>Symbolic search</h2>", _figures(store, refs["search"]),
              "<p>★ the search's own pick (PySR's rule); ✓ the expression compose chose.</p>",
              _fronts(store, refs["search"], provenance["compose"]["figures"].get("selected_complexity", {}),
                      provenance["compose"]["figures"].get("selected_search", {})),
              _choices(provenance["compose"]["figures"])]
    parts += ["<h2>Discovered equation</h2>", _equation(store, refs["refit"]),
              _table([(k, v) for k, v in provenance["refit"]["figures"].items() if k != "expressions"])]
    parts += ["<h2>Out-of-distribution validation</h2>", _figures(store, refs["validate_ood"]),
              _ood_table(provenance["validate_ood"]["figures"])]
    parts += ["<h2>Provenance</h2>", _provenance(provenance)]
    document = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>symdistill: {_e(name)}</title>"
                f"<style>{STYLE}</style></head><body>{''.join(parts)}{CHECK_SCRIPT}</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(document, encoding="utf-8")
    tmp.replace(path)
    return path


def _e(value) -> str:
    return html.escape(str(value))


def _table(rows, header=None) -> str:
    head = "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return f"<pre>{_e(json.dumps(value, indent=1, default=str))}</pre>"
    return _e(value)


def _scalars(figures: dict) -> list:
    return [(k, v) for k, v in figures.items() if not isinstance(v, (dict, list))]


def _image(png: np.ndarray | bytes, caption: str) -> str:
    encoded = base64.b64encode(np.asarray(png, dtype=np.uint8).tobytes()).decode()
    return f"<figure><img alt='{_e(caption)}' src='data:image/png;base64,{encoded}'><figcaption>{_e(caption)}</figcaption></figure>"


def _figures(store: ArtifactStore, ref: ArtifactRef) -> str:
    datasets = store.read(ref)
    if "figures" not in datasets:
        return ""
    return "".join(_image(var.values, FIGURE_TITLES.get(str(name), str(name)))
                   for name, var in datasets["figures"].data_vars.items())


def _data_summary(store: ArtifactStore, ref: ArtifactRef) -> str:
    summary = summarize(store.read(ref))["data"]
    rows = [(name, " × ".join(f"{d}={summary['sizes'][d]}" for d in info["dims"]), info["units"] or "-",
             f"[{info['min']:.4g}, {info['max']:.4g}]" if "min" in info else "")
            for name, info in summary["variables"].items()]
    return _table(rows, ["variable", "shape", "units", "range"])


def _fronts(store: ArtifactStore, ref: ArtifactRef, chosen: dict, chosen_search: dict) -> str:
    out = []
    for name, front in store.read(ref).items():
        if name == "figures":
            continue
        best = int(front.attrs.get("best_index", -1))
        picked = (chosen.get(name), chosen_search.get(name, 0))
        rows = [(("★" if i == best else "") + ("✓" if picked == (c, k) else ""), int(c), int(k) + 1, float(l), str(x))
                for i, (c, k, l, x) in enumerate(zip(front["complexity"].values, searches_of(front),
                                                     front["loss"].values, front["expression"].values))]
        out.append(f"<h3>{_e(name)}</h3>" + _table(rows, ["", "complexity", "search", "loss", "expression"]))
    return "".join(out)


def _equation(store: ArtifactStore, ref: ArtifactRef) -> str:
    model = store.read(ref)["model"]
    outputs = [str(o) for o in model["output"].values]
    latex = [f"{o} = {model['latex'].sel(output=o).item()}" for o in outputs]
    plain = [f"{o} = {model['expression'].sel(output=o).item()}" for o in outputs]
    images = [plots.equation(line) for line in latex]
    rendered = "".join(f"<div>{_image(png, 'the re-fitted model') if png is not None else ''}</div>" for png in images)
    return (rendered + "<p>Plain:</p><pre>" + _e("\n".join(plain)) + "</pre><p>LaTeX:</p><pre>"
            + _e("\n".join(latex)) + "</pre>")


def _verdict(verdict: dict | None) -> str:
    if not verdict:
        return ""
    title = "Validated" if verdict["status"] == "validated" else "Not a discovery"
    return f"<p class='verdict {_e(verdict['status'])}'><strong>{title}:</strong> {_e(verdict['reason'])}</p>"


def _choices(compose: dict) -> str:
    """Each function's candidates with their held-out losses: why compose chose what it chose."""
    parts = [f"<p>Selection: {_e(compose.get('selection_rule', 'PySR best rule'))}.</p>"]
    parts += [f"<p class='warning'><strong>No pair law:</strong> {_e(why)}. The candidates tried for each "
              f"function are listed below.</p>" for why in compose.get("non_affine_node", {}).values()]
    for function, rows in compose.get("candidates", {}).items():
        parts.append(f"<h3>{_e(function)}</h3>" + _table(
            [(r["complexity"], r.get("search", 0) + 1, r["search_loss"], r["held_out_loss"]
              if r["held_out_loss"] is not None else r.get("undefined", "undefined"), r["held_out_standard_error"],
              "✓" if r["chosen"] else "") for r in rows],
            ["complexity", "search", "search loss", "held-out loss", "standard error", "chosen"]))
    searches = compose.get("search_choice")
    if searches and not searches.get("same_composition", True):
        chosen = searches["chosen"]
        parts.append(f"<h3>Which search</h3><p>{_e(searches['rule'])}.</p>" + _table(
            [(law["searches"], "; ".join(f"{k} = {v}" for k, v in law["expressions"].items()),
              law["held_out_loss"] if law["held_out_loss"] is not None else law.get("undefined", "undefined"),
              law["held_out_standard_error"], "✓" if i == chosen else "")
             for i, law in enumerate(searches["final_laws"])],
            ["candidates of", "final law", "held-out loss", "standard error", "chosen"]))
    return "".join(parts)


def _ood_table(figures: dict) -> str:
    rows = [(model, split, values["mae"], values["relative_mae"] if values["relative_mae"] is not None
             else values.get("undefined"), figures.get("n_graphs", {}).get(split))
            for model, by_split in figures["errors"].items() for split, values in by_split.items()]
    rule = figures.get("ood_rule")
    return (_table(rows, ["model", "split", "MAE", "relative MAE", "graphs"])
            + f"<p>Withheld: {_e(json.dumps(rule) if rule else 'nothing (no [validate_ood] rule)')}</p>")


def _provenance(provenance: dict) -> str:
    rows = [(stage, p.get("key"), p.get("code_version"), input_keys(p), p.get("config"),
             p.get("started"), p.get("duration_s")) for stage, p in provenance.items()]
    return _table(rows, ["stage", "key", "code", "inputs", "config", "started", "seconds"])
