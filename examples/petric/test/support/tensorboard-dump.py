"""Prints, as JSON, every scalar TensorBoard's own EventAccumulator reads from each event file given."""
import json
import sys

from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

out = {}
for path in sys.argv[1:]:
    ea = EventAccumulator(path, size_guidance={SCALARS: 0})
    ea.Reload()
    out[path] = {
        "file_version": ea.file_version,
        "scalars": {
            tag: [[s.step, s.wall_time, s.value] for s in ea.Scalars(tag)] for tag in ea.Tags()["scalars"]
        },
    }
json.dump(out, sys.stdout)
