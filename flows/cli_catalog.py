"""``symdistill catalog ...`` and ``symdistill provenance``: the equation catalog from the command line."""
import json
from pathlib import Path

CATALOG_HELP = "catalog file (default: $SYMDISTILL_CATALOG, else ./symdistill-catalog.sqlite)"


def add_parsers(commands) -> list:
    catalog = commands.add_parser("catalog", help="list, inspect, tag, accept, export and import catalogued equations")
    actions = catalog.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="one line per entry")
    listing.add_argument("--experiment")
    listing.add_argument("--status", choices=("candidate", "accepted", "rejected"))
    listing.add_argument("--json", action="store_true")
    show = actions.add_parser("show", help="everything about one entry")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    diff = actions.add_parser("diff", help="what differs between two entries")
    diff.add_argument("first")
    diff.add_argument("second")
    tag = actions.add_parser("tag", help="add a tag")
    tag.add_argument("id")
    tag.add_argument("tag")
    subs = [listing, show, diff, tag]
    for status in ("accept", "reject"):
        sub = actions.add_parser(status, help=f"mark an entry {status}ed")
        sub.add_argument("id")
        subs.append(sub)
    export = actions.add_parser("export", help="write one entry as a hand-off bundle (zip)")
    export.add_argument("id")
    export.add_argument("-o", "--output", type=Path, required=True)
    imported = actions.add_parser("import", help="add a bundle's entry, after checking it thoroughly")
    imported.add_argument("bundle", type=Path)
    provenance = commands.add_parser("provenance", help="an entry's lineage from the data to the equation")
    provenance.add_argument("id")
    provenance.add_argument("--format", choices=("text", "prov-json"), default="text")
    for sub in (*subs, export, imported, provenance):
        sub.add_argument("--catalog", type=Path, help=CATALOG_HELP)
    return [*subs, export, imported, provenance]


def cmd_catalog(args) -> int:
    from symdistill.catalogs.equations import EquationCatalog, catalog_path

    path = catalog_path(args.catalog)
    if args.action != "import" and not path.is_file():
        from symdistill.catalogs.equations import CatalogError

        raise CatalogError(f"no catalog at {path}; run an experiment first, or pass --catalog PATH")
    catalog = EquationCatalog(path)
    return {"list": _list, "show": _show, "diff": _diff, "tag": _tag, "accept": _status, "reject": _status,
            "export": _export, "import": _import}[args.action](catalog, args)


def _list(catalog, args) -> int:
    entries = catalog.entries(args.experiment, args.status)
    if args.json:
        print(json.dumps([{k: e[k] for k in ("id", "experiment", "function", "kind", "status", "tags", "created",
                                             "expression", "metrics")} for e in entries], indent=2))
        return 0
    print(f"{'id':<17}{'experiment':<18}{'function':<16}{'status':<11}{'OOD rel. MAE':>13}  expression")
    for e in entries:
        errors = e["metrics"].get("errors") or e["metrics"].get("model_errors") or {}
        ood = errors.get("symbolic", {}).get("out_of_distribution", {}).get("relative_mae")
        first = e["expression"].splitlines()[0] if e["expression"] else ""
        print(f"{e['id']:<17}{e['experiment'][:17]:<18}{e['function'][:15]:<16}{e['status']:<11}"
              f"{'-' if ood is None else f'{ood:.3g}':>13}  {first[:70]}" + (f"  [{', '.join(e['tags'])}]" if e["tags"] else ""))
    return 0


def _show(catalog, args) -> int:
    entry = catalog.get(args.id)
    if args.json:
        print(json.dumps(entry, indent=2))
        return 0
    for name in ("id", "experiment", "function", "kind", "status", "created", "run_key"):
        print(f"{name:<11} {entry[name]}")
    print(f"{'tags':<11} {', '.join(entry['tags']) or '-'}")
    print("expression\n  " + entry["expression"].replace("\n", "\n  "))
    print("LaTeX\n  " + entry["latex"].replace("\n", "\n  "))
    print("units      " + json.dumps(entry["units"]))
    print("metrics    " + json.dumps(entry["metrics"], indent=2).replace("\n", "\n           "))
    print("lineage    " + " -> ".join(f"{s['stage']}:{s['key']}" for s in entry["lineage"]))
    return 0


def _diff(catalog, args) -> int:
    from symdistill.catalogs.equations import diff_entries

    a, b = catalog.get(args.first), catalog.get(args.second)
    changes = diff_entries(a, b)
    print(f"--- {a['id']}\n+++ {b['id']}")
    for field, old, new in changes:
        print(f"{field}:\n  - {json.dumps(old)}\n  + {json.dumps(new)}")
    if not changes:
        print("no differences (ids and times aside)")
    return 0


def _tag(catalog, args) -> int:
    print(f"{catalog.tag(args.id, args.tag)}: tagged {args.tag!r}")
    return 0


def _status(catalog, args) -> int:
    status = {"accept": "accepted", "reject": "rejected"}[args.action]
    print(f"{catalog.set_status(args.id, status)}: {status}")
    return 0


def _export(catalog, args) -> int:
    from symdistill.catalogs.bundles import write_bundle

    entry = catalog.get(args.id)
    print(f"{entry['id']}: exported to {write_bundle(entry, args.output)}")
    return 0


def _import(catalog, args) -> int:
    from symdistill.catalogs.bundles import read_bundle

    entry = read_bundle(args.bundle)  # fully validated before the catalog is touched
    tags = entry.pop("tags")
    catalog.insert_new(entry, tags)
    print(f"{entry['id']}: imported into {catalog.path} ({entry['experiment']} / {entry['function']})")
    return 0


def cmd_provenance(args) -> int:
    from symdistill.catalogs.equations import CatalogError, EquationCatalog, catalog_path
    from symdistill.catalogs.provenance import lineage_text, prov_json

    path = catalog_path(args.catalog)
    if not path.is_file():
        raise CatalogError(f"no catalog at {path}; pass --catalog PATH")
    entry = EquationCatalog(path).get(args.id)
    print(json.dumps(prov_json(entry), indent=2) if args.format == "prov-json" else lineage_text(entry))
    return 0
