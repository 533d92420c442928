"""The training example ships in the image and runs there, as the Kubernetes Job and PyTorchJob run it."""

from __future__ import annotations

import re


def test_example_training_script_runs_in_the_image_and_resumes(docker, image):
    script = (
        "set -e; d=$(mktemp -d); "
        "python /opt/summarytool/examples/train.py --steps 4 --checkpoint-every 2 --log-every 1 --checkpoint-dir $d; "
        "python /opt/summarytool/examples/train.py --steps 6 --checkpoint-every 2 --log-every 1 --checkpoint-dir $d"
    )
    p = docker("run", "--rm", "-e", "SELFCHECK=off", image.tag, "bash", "-c", script, timeout=300)
    steps = [int(s) for s in re.findall(r"train: step=(\d+)", p.stdout)]
    assert steps[:4] == [1, 2, 3, 4]  # the first run
    assert steps[4:] == [5, 6]  # the second resumes from the step-4 checkpoint
    assert "Total params" in p.stdout + p.stderr  # the model summary printed at start (rank 0)
