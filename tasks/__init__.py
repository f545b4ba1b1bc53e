"""The stages as Prefect work: one `compute(ctx, inputs)` per stage module, run by the one generic task in
run.py (key, skip if complete, load, call, write); stages.py declares them, plan.py keys them."""
