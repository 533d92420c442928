"""`summarytool selfcheck`: checks the GPU stack (driver, torch build, GPUs) before anyone trains on it.

One module per job: `nvml` reads the driver and GPUs, `torchbuild` reads the torch build, `rules` turns
both into verdicts, `smoke` runs a few kernels, `reference` summarises a built-in model, `report` renders the
result and `command` wires it into the command line.
"""
