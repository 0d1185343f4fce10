"""torchvision's models (random weights, eval mode) against ronin's presets loading them.

For each model: save torchvision's state_dict as safetensors (without num_batches_tracked),
a random batch and torchvision's logits as raw float32, then run the Rust example
`torchvision_parity`, which loads the weights strictly into the preset, exports ONNX and
compares ONNX Runtime's logits. Needs torch, torchvision and safetensors (not in the test
venv: a manual check).

    python tests/python/torchvision_parity.py [MODEL…]
"""

import subprocess
import sys
import tempfile
from pathlib import Path

import safetensors.torch
import torch
import torchvision.models as tvm

BUILD = {
    "AlexNet": tvm.alexnet,
    "VGG11_BN": tvm.vgg11_bn,
    "VGG16": tvm.vgg16,
    "ResNet18": tvm.resnet18,
    "ResNet50": tvm.resnet50,
    "GoogLeNet": lambda: tvm.googlenet(aux_logits=False, init_weights=True),
}

torch.manual_seed(0)
for name in sys.argv[1:] or BUILD:
    model = BUILD[name]().eval()
    # Non-trivial batch-norm statistics, so eval mode is really tested.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        y = model(x)
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        state = {k: v.contiguous() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
        safetensors.torch.save_file(state, d / "w.safetensors")
        (d / "x.f32").write_bytes(x.numpy().tobytes())
        (d / "y.f32").write_bytes(y.numpy().tobytes())
        subprocess.run(
            ["target/release/examples/torchvision_parity", name, d / "w.safetensors", d / "x.f32", d / "y.f32"],
            check=True,
        )
