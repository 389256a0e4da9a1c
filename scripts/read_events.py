"""Print what TensorBoard's own reader sees in an event file or log directory, as JSON.

Usage: read_events.py PATH   (an events.out.tfevents.* file or a directory of them)

Output: {"scalars": {tag: [[step, value], ...]},
         "histograms": {tag: [[step, num, min, max], ...]},
         "tensors": {tag: [[step, plugin_name, text_or_null], ...]}}
"""
import json
import sys

from tensorboard.backend.event_processing import event_accumulator as ea


def main(path):
    # Size guidance 0 keeps every event (the defaults subsample histograms and tensors).
    acc = ea.EventAccumulator(path, size_guidance={ea.SCALARS: 0, ea.HISTOGRAMS: 0, ea.TENSORS: 0})
    acc.Reload()
    tags = acc.Tags()
    out = {"scalars": {}, "histograms": {}, "tensors": {}}
    for tag in tags.get(ea.SCALARS, []):
        out["scalars"][tag] = [[e.step, e.value] for e in acc.Scalars(tag)]
    for tag in tags.get(ea.HISTOGRAMS, []):
        out["histograms"][tag] = [
            [e.step, e.histogram_value.num, e.histogram_value.min, e.histogram_value.max]
            for e in acc.Histograms(tag)
        ]
    for tag in tags.get(ea.TENSORS, []):
        plugin = acc.SummaryMetadata(tag).plugin_data.plugin_name
        rows = []
        for e in acc.Tensors(tag):
            strings = list(e.tensor_proto.string_val)
            rows.append([e.step, plugin, strings[0].decode("utf-8") if strings else None])
        out["tensors"][tag] = rows
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: read_events.py PATH")
    main(sys.argv[1])
