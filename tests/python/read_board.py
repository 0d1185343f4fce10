"""Read everything a run logged to TensorBoard with TensorBoard's own readers; print JSON.

Usage: python read_board.py RUN_DIR/events

Prints {"scalars": {tag: [[step, value], ...]}, "histograms": {tag: [[step, count, min, max]]},
"images": {tag: [[step, width, height, png_bytes]]}, "text": {tag: text}, "graph": [node ops],
"hparams": {"start": {name: value}, "group": str, "end_status": int}}.
"""
import io
import json
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2
from tensorboard.util import tensor_util

acc = EventAccumulator(
    sys.argv[1],
    size_guidance={"scalars": 0, "histograms": 0, "images": 0, "tensors": 0},
)
acc.Reload()
tags = acc.Tags()
out = {
    "scalars": {t: [[e.step, e.value] for e in acc.Scalars(t)] for t in tags["scalars"]},
    "histograms": {
        t: [[e.step, e.histogram_value.num, e.histogram_value.min, e.histogram_value.max] for e in acc.Histograms(t)]
        for t in tags["histograms"]
    },
    "images": {},
    "text": {},
    "graph": [],
    "hparams": {},
}
for t in tags["images"]:
    rows = []
    for e in acc.Images(t):
        png = e.encoded_image_string
        assert png[:8] == b"\x89PNG\r\n\x1a\n", f"{t} is not a PNG"
        rows.append([e.step, e.width, e.height, len(png)])
    out["images"][t] = rows
for t in tags["tensors"]:
    meta = acc.SummaryMetadata(t)
    if meta.plugin_data.plugin_name == "text":
        value = tensor_util.make_ndarray(acc.Tensors(t)[0].tensor_proto)
        out["text"][t] = value.item().decode() if value.ndim == 0 else value.flatten()[0].decode()
if tags.get("graph"):
    out["graph"] = [n.op for n in acc.Graph().node]
    out["graph_inputs"] = {n.name: list(n.input) for n in acc.Graph().node}
for tag, content in acc.PluginTagToContent("hparams").items():
    data = plugin_data_pb2.HParamsPluginData.FromString(content)
    if data.HasField("session_start_info"):
        start = data.session_start_info
        values = {}
        for k, v in start.hparams.items():
            kind = v.WhichOneof("kind")
            values[k] = getattr(v, kind)
        out["hparams"]["start"] = values
        out["hparams"]["group"] = start.group_name
    if data.HasField("session_end_info"):
        out["hparams"]["end_status"] = data.session_end_info.status
print(json.dumps(out))
