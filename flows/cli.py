"""The ``symdistill`` command line: run, status, show, report, deploy, catalog, provenance.

Bad input exits with status 2 and one line on stderr; ``--debug`` shows the full traceback.
"""
import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from symdistill.config import default_store_path
from symdistill.flows import cli_catalog, environment

EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="symdistill", description="Distil equations from neural surrogates.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run an experiment's stages, skipping those already computed")
    run.add_argument("config", type=Path)
    run.add_argument("--store", type=Path, help="artifact store (default: symdistill.zarr beside the config)")
    run.add_argument("--from", dest="from_stage", metavar="STAGE", help="recompute this stage and all after it")
    run.add_argument("--until", dest="until_stage", metavar="STAGE", help="stop after this stage")
    run.add_argument("--repair", action="store_true", help="verify cached artifacts and recompute corrupt ones")
    run.add_argument("--scheduler", metavar="ADDRESS", help="run the search on this Dask scheduler (tcp://host:port)")
    run.add_argument("--catalog", type=Path, help=cli_catalog.CATALOG_HELP)
    status = commands.add_parser("status", help="show each stage's key and whether it is complete, stale or missing")
    status.add_argument("config", type=Path)
    status.add_argument("--store", type=Path)
    status.add_argument("--json", action="store_true")
    show = commands.add_parser("show", help="print an artifact's provenance, figures and contents")
    show.add_argument("stage")
    show.add_argument("key")
    show.add_argument("--store", type=Path, help="artifact store (default: $SYMDISTILL_STORE, "
                                                  "./symdistill.zarr or ./config/symdistill.zarr)")
    show.add_argument("--json", action="store_true")
    report = commands.add_parser("report", help="(re)build the HTML report of an experiment's completed run")
    report.add_argument("config", type=Path)
    report.add_argument("--store", type=Path)
    report.add_argument("--catalog", type=Path, help=cli_catalog.CATALOG_HELP)
    report.add_argument("-o", "--output", type=Path, help="file to write (default: <store>/reports/...)")
    deploy = commands.add_parser("deploy", help="serve the experiment as a scheduled Prefect deployment")
    deploy.add_argument("config", type=Path)
    deploy.add_argument("--cron", required=True, help='schedule, e.g. "0 3 * * *" (03:00 daily)')
    deploy.add_argument("--name", help="deployment name (default: the experiment's name)")
    deploy.add_argument("--store", type=Path)
    deploy.add_argument("--catalog", type=Path, help=cli_catalog.CATALOG_HELP)
    deploy.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler for the search")
    for sub in (run, status, show, report, deploy, *cli_catalog.add_parsers(commands)):
        sub.add_argument("--debug", action="store_true", help="show full tracebacks and Prefect's logs")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return {"run": cmd_run, "status": cmd_status, "show": cmd_show, "report": cmd_report, "deploy": cmd_deploy,
                "catalog": cli_catalog.cmd_catalog, "provenance": cli_catalog.cmd_provenance}[args.command](args)
    except BrokenPipeError:  # `symdistill ... | head` closed our stdout: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as err:
        if args.debug:
            raise
        if _is_user_error(err):
            print(f"symdistill: error: {err}", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(f"symdistill: unexpected {type(err).__name__}: {err} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return 1


# Errors that mean bad input (module, class). Looked up only among modules already imported: an error can
# only be of a class whose module was loaded, and importing more here (Prefect) would run their start-up.
USER_ERRORS = (("symdistill.config.loader", "ConfigError"), ("symdistill.tasks.plan", "PlanError"),
               ("symdistill.components.ingest", "DatasetError"), ("symdistill.components.ood", "OODError"),
               ("symdistill.components.train_surrogate.graphs", "GraphDataError"),
               ("symdistill.components.split", "SplitError"),
               ("symdistill.components.compose_choice", "ComposeError"), ("symdistill.catalogs.store", "ArtifactError"),
               ("symdistill.catalogs.equations", "CatalogError"), ("symdistill.catalogs.bundles", "BundleError"),
               ("symdistill.components.sr.options", "OptionsError"),
               ("symdistill.components.sr.operators", "UnknownOperatorError"))


def _is_user_error(err: Exception) -> bool:
    return any(module in sys.modules and isinstance(err, getattr(sys.modules[module], name))
               for module, name in USER_ERRORS)


def cmd_run(args) -> int:
    clock = time.perf_counter()
    store = Path(args.store or default_store_path(args.config))
    new_store = not store.exists()
    environment.configure(store, args.debug)  # before anything imports Prefect; makes <store>/.prefect
    from symdistill.tasks.context import cached_result, open_run

    # Check config, stages, engine options and data before Prefect starts, so bad input fails in one line.
    try:
        ctx, stages = open_run(args.config, store, args.from_stage, args.until_stage, args.repair,
                               log=lambda _: None, catalog=args.catalog)
        # Nothing to compute and no Prefect server to record the run on: answer without starting Prefect.
        result = None if os.environ.get("PREFECT_API_URL") else cached_result(ctx, stages)
        if result is None:
            from symdistill.tasks.preflight import preflight

            preflight(ctx.experiment, ctx.config_path.parent, ctx.store, ctx.plan, stages)
    except Exception:
        if new_store:  # leave nothing behind for input that never ran
            shutil.rmtree(store, ignore_errors=True)
        raise
    if result is not None:
        for stage, record in result["stages"].items():
            print(f"{stage}: cached ({record['key']})")
        if "entries" in result:
            print(f"catalog: {len(result['entries'])} entries already present ({result['catalog']})")
        print("nothing to compute: Prefect was not started")
    else:
        from symdistill.flows.discovery import discovery

        result = discovery(str(args.config), str(store), args.from_stage, args.until_stage, args.repair,
                           args.scheduler, None if args.catalog is None else str(args.catalog))
    print_discovery(store, result["stages"])
    if "entries" in result:
        print(f"catalog {result['catalog']}: entries {', '.join(result['entries'])}")
        print(f"report: {result['report']}")
    ran = [s for s, r in result["stages"].items() if r["ran"]]
    print(f"{result['experiment']}: {len(ran)} stage(s) computed, {len(result['stages']) - len(ran)} cached; "
          f"store {result['store']}; {time.perf_counter() - clock:.1f} s")
    print_verdict(store, result["stages"])
    return 0


def print_verdict(store: Path, stages: dict) -> None:
    """The run's last line: whether the equation is a discovery (at least as accurate as the network)."""
    from symdistill.catalogs import ArtifactRef, ArtifactStore

    if "validate_ood" not in stages:
        return
    figures = ArtifactStore(store).provenance(ArtifactRef("validate_ood", stages["validate_ood"]["key"]))["figures"]
    verdict = figures.get("verdict")
    if verdict:
        print(("VALIDATED: " if verdict["status"] == "validated" else "NOT A DISCOVERY: ") + verdict["reason"])


def print_discovery(store: Path, stages: dict) -> None:
    """The discovered equation, its re-fitted constants and the OOD table, when the run got that far."""
    from symdistill.catalogs import ArtifactRef, ArtifactStore

    artifacts = ArtifactStore(store)
    if "refit" in stages:
        refit = artifacts.provenance(ArtifactRef("refit", stages["refit"]["key"]))["figures"]
        latex = artifacts.read(ArtifactRef("refit", stages["refit"]["key"]))["model"]["latex"]
        print("discovered model:")
        for output, expression in refit["expressions"].items():
            print(f"  {output} = {expression}")
            print(f"  LaTeX: {output} = {latex.sel(output=output).item()}")
        print(f"re-fitted constants: {json.dumps(refit['constants'])}")
        for output, found in (refit.get("constant_units") or {}).items():
            if found is None:
                continue
            if not found["consistent"]:
                print(f"  units of {output}'s constants: none make the law dimensionally consistent")
            elif found["constants"]:
                print(f"  units of {output}'s constants: " + ", ".join(
                    f"{value} {units or '(not fixed by the data alone)'}" for value, units in found["constants"]))
        if refit.get("relative_mae_after") is None:
            print(f"relative MAE on training frames: undefined ({refit.get('undefined', 'no finite predictions')})")
        else:
            print(f"relative MAE on training frames: {refit['relative_mae_before']:.4g} before refit, "
                  f"{refit['relative_mae_after']:.4g} after" + _printed_law_error(refit)
                  + (f" ({refit['excluded_frames']} frames with non-finite predictions left out)"
                     if refit.get("excluded_frames") else ""))
    if "validate_ood" in stages:
        errors = artifacts.provenance(ArtifactRef("validate_ood", stages["validate_ood"]["key"]))["figures"]["errors"]
        print(f"{'model':<10} {'split':<20} {'MAE':>10} {'relative MAE':>13}")
        for model, by_split in errors.items():
            for split, values in by_split.items():
                if values["relative_mae"] is None:
                    print(f"{model:<10} {split:<20} undefined: {values.get('undefined')}")
                else:
                    print(f"{model:<10} {split:<20} {values['mae']:>10.4g} {values['relative_mae']:>13.4g}")


def _printed_law_error(refit: dict) -> str:
    """The training error of the law as printed, which can differ from the fit's once offsets are grown."""
    law_errors = refit.get("law_training_errors") or {}
    if law_errors.get("relative_mae") is not None:
        return f", {law_errors['relative_mae']:.4g} for the law as printed (offsets grown, terms pruned, constants snapped)"
    if law_errors.get("undefined"):
        return f"; the law as printed: undefined ({law_errors['undefined']})"
    return ""


def cmd_status(args) -> int:
    environment.configure(args.store or default_store_path(args.config), args.debug)
    from symdistill.tasks.context import open_run
    from symdistill.tasks.status import describe, stage_status

    ctx, _ = open_run(args.config, args.store, log=lambda _: None)
    records = stage_status(ctx.plan, ctx.store, ctx.experiment.experiment.name)
    if args.json:
        print(json.dumps({"experiment": ctx.experiment.experiment.name, "config": str(args.config),
                          "store": str(ctx.store.root), "stages": records}, indent=2))
        return 0
    for record in records:
        print(f"{record['stage']:<16} {record['key']}  {record['state']}")
        for reason in record["reasons"]:
            print(f"{'':<18}{describe(reason)}")
    return 0


def cmd_report(args) -> int:
    from symdistill.catalogs import MissingArtifactError
    from symdistill.catalogs.equations import EquationCatalog, catalog_path
    from symdistill.catalogs.report import write_report
    from symdistill.tasks.context import open_run

    ctx, _ = open_run(args.config, args.store, log=lambda _: None, catalog=args.catalog)
    missing = [stage for stage, spec in ctx.plan.items() if not ctx.store.is_complete(spec.ref)]
    if missing:
        raise MissingArtifactError(f"{args.config}: the run is not complete in {ctx.store.root} (missing: "
                                   f"{', '.join(missing)}); run it first with `symdistill run {args.config}`")
    run_key = ctx.plan["validate_ood"].key
    path = catalog_path(args.catalog)
    entries = ([e["id"] for e in EquationCatalog(path).entries(ctx.experiment.experiment.name) if e["run_key"] == run_key]
               if path.is_file() else [])
    refs = {stage: spec.ref for stage, spec in ctx.plan.items()}
    print(f"report: {write_report(ctx.store, ctx.experiment.model_dump(mode='json'), refs, entries, args.output)}")
    return 0


def cmd_deploy(args) -> int:
    """Serve the discovery flow with a cron schedule (Prefect's ``flow.serve``); runs until interrupted.

    With PREFECT_API_URL set, the deployment and its runs show in that Prefect server's UI.
    """
    store = Path(args.store or default_store_path(args.config)).resolve()
    # A served run has no CLI to report its failure in one line: its traceback goes to the server's run log.
    environment.configure(store, debug=True)
    from symdistill.catalogs.equations import catalog_path
    from symdistill.flows.discovery import discovery
    from symdistill.tasks.context import open_run

    ctx, _ = open_run(args.config, store, log=lambda _: None, catalog=args.catalog)
    name = args.name or ctx.experiment.experiment.name
    parameters = {"config_path": str(Path(args.config).resolve()), "store_path": str(store),
                  "scheduler": args.scheduler, "catalog": str(catalog_path(args.catalog).resolve())}
    print(f"serving deployment {discovery.name}/{name} on cron {args.cron!r}; Ctrl-C stops it", flush=True)
    discovery.serve(name=name, cron=args.cron, parameters=parameters, print_starting_message=False)
    return 0


def cmd_show(args) -> int:
    from symdistill.catalogs import ArtifactRef, ArtifactStore, summarize

    store = ArtifactStore(args.store or _find_store())
    ref = ArtifactRef(args.stage, args.key)
    provenance = store.provenance(ref)
    report = {"artifact": str(ref), "store": str(store.root), "provenance": provenance,
              "figures": provenance.get("figures", {}), "contents": summarize(store.read(ref))}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"artifact {ref} in {store.root}")
    for field in ("experiment", "config_file", "code_version", "host", "started", "finished", "duration_s"):
        print(f"  {field:<13} {provenance.get(field)}")
    print(f"  inputs        {provenance.get('inputs') or 'none'}")
    print("  config        " + json.dumps(provenance.get("config")))
    print("figures")
    for name, value in report["figures"].items():
        print(f"  {name:<32} {value:.6g}" if isinstance(value, float) else f"  {name:<32} {value}")
    for name, content in report["contents"].items():
        print(f"dataset {name}: " + ", ".join(f"{k}={v}" for k, v in content["sizes"].items()))
        for var, info in content["variables"].items():
            span = f"  [{info['min']:.4g}, {info['max']:.4g}]" if "min" in info else ""
            print(f"  {var:<10} {str(tuple(info['dims'])):<32} {info['dtype']:<8} {info['units'] or '-'}{span}")
    return 0


def _find_store() -> Path:
    candidates = [Path(os.environ["SYMDISTILL_STORE"])] if "SYMDISTILL_STORE" in os.environ else []
    candidates += [Path("symdistill.zarr"), Path("config/symdistill.zarr")]
    for path in candidates:
        if path.is_dir():
            return path
    from symdistill.catalogs import MissingArtifactError

    raise MissingArtifactError(f"no artifact store found at {', '.join(map(str, candidates))}; pass --store PATH")


if __name__ == "__main__":
    sys.exit(main())
