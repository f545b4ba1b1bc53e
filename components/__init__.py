"""The science: pure functions and small classes on numpy, xarray and torch.

No Prefect, no Zarr, no file paths here; tasks load inputs, call one component and store its output.
"""
